-- Issue 19: a contact is its channel and its id, and a redacted value leaves no byte behind.
--
-- 1. Identity. Channel systems issue contact ids independently, so one id may name a phone call
--    and an SMS of two different people. Until now both tables were keyed by contact_id alone:
--    such events merged into one contact (and, with equal event ids, replaced each other), and a
--    subject request on one person reached the other's rows. Both tables are rebuilt keyed by
--    (contact_id, channel); contact_id stays first so per-contact reads and redactions still
--    touch few granules. `contacts` is recomputed from the events (the old rows cannot be split
--    by channel), keeping each id's redaction mark.
-- 2. Clean redaction. `UPDATE col = NULL` on a Nullable(String) column only sets the null map:
--    the old string stays in the part's column file and `assumeNotNull(col)` returns it
--    (ClickHouse issue #66167). Redaction now writes a materialized NULL column (its nested
--    value is the type's default, ''); the rows redacted the old way are rewritten so here.
-- The old tables are dropped with SYNC: their files go now, not after the Atomic database's
-- 8-minute delay. Idempotent: a run that stopped half-way is repeated from the start (a copy
-- table is emptied before it is filled, and it holds either the old or the new data).

DROP VIEW IF EXISTS contacts_mv;
DROP VIEW IF EXISTS contact_changes_mv;

CREATE TABLE IF NOT EXISTS contact_events_rekeyed
(
    event_id            String,
    contact_id          String,
    channel             LowCardinality(String),
    event_type          LowCardinality(String),
    occurred_at         DateTime64(3, 'UTC'),
    schema_version      UInt16,
    source              LowCardinality(String),
    advisor_id          Nullable(String),
    queue               Nullable(String),
    reason              Nullable(String),
    arrived_at          Nullable(DateTime64(3, 'UTC')),
    handling_started_at Nullable(DateTime64(3, 'UTC')),
    handled_at          Nullable(DateTime64(3, 'UTC')),
    phone               Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    email               Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    subject             Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    content             Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    form_fields         Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    recording_ref       Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    subject_key         Nullable(String) TTL toDateTime(occurred_at) + INTERVAL {ttl_backstop_months} MONTH,
    kafka_topic         LowCardinality(String),
    kafka_partition     UInt32,
    kafka_offset        UInt64,
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_phone phone TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_email lower(email) TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_subject_key subject_key TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (contact_id, channel, event_id)
SETTINGS non_replicated_deduplication_window = 10000, old_parts_lifetime = 60;

TRUNCATE TABLE contact_events_rekeyed;

-- Rows redacted the old way hold their values under the null map: every NULL personal value
-- is written anew as it is copied (an expression, not the column: the column would be copied
-- with what it hides).
INSERT INTO contact_events_rekeyed
SELECT
    event_id, contact_id, channel, event_type, occurred_at, schema_version, source, advisor_id,
    queue, reason, arrived_at, handling_started_at, handled_at,
    if(phone IS NULL, materialize(CAST(NULL, 'Nullable(String)')), phone),
    if(email IS NULL, materialize(CAST(NULL, 'Nullable(String)')), email),
    if(subject IS NULL, materialize(CAST(NULL, 'Nullable(String)')), subject),
    if(content IS NULL, materialize(CAST(NULL, 'Nullable(String)')), content),
    if(form_fields IS NULL, materialize(CAST(NULL, 'Nullable(String)')), form_fields),
    if(recording_ref IS NULL, materialize(CAST(NULL, 'Nullable(String)')), recording_ref),
    if(subject_key IS NULL, materialize(CAST(NULL, 'Nullable(String)')), subject_key),
    kafka_topic, kafka_partition, kafka_offset, ingested_at
FROM contact_events;

EXCHANGE TABLES contact_events AND contact_events_rekeyed;

DROP TABLE contact_events_rekeyed SYNC;

CREATE TABLE IF NOT EXISTS contacts_rekeyed
(
    contact_id          String,
    channel             LowCardinality(String),
    first_event_at      SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_event_at       SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    arrived_at          SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    handling_started_at SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    handled_at          SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    advisor_id          AggregateFunction(argMax, Nullable(String), Tuple(DateTime64(3, 'UTC'), String)),
    queue               AggregateFunction(argMax, Nullable(String), Tuple(DateTime64(3, 'UTC'), String)),
    reason              AggregateFunction(argMax, Nullable(String), Tuple(DateTime64(3, 'UTC'), String)),
    phone               SimpleAggregateFunction(max, Nullable(String)),
    email               SimpleAggregateFunction(max, Nullable(String)),
    subject             SimpleAggregateFunction(max, Nullable(String)),
    content             SimpleAggregateFunction(max, Nullable(String)),
    form_fields         SimpleAggregateFunction(max, Nullable(String)),
    recording_ref       SimpleAggregateFunction(max, Nullable(String)),
    subject_key         SimpleAggregateFunction(max, Nullable(String)),
    redacted_at         SimpleAggregateFunction(max, Nullable(DateTime64(3, 'UTC'))),
    redaction_reason    SimpleAggregateFunction(max, Nullable(String)),
    INDEX idx_phone phone TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_email email TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = AggregatingMergeTree
ORDER BY (contact_id, channel)
SETTINGS old_parts_lifetime = 60;

TRUNCATE TABLE contacts_rekeyed;

-- Old rows were redacted by contact_id alone: the mark of an id applies to its every channel.
INSERT INTO contacts_rekeyed
SELECT
    merged.contact_id, merged.channel, first_event_at, last_event_at, arrived_at,
    handling_started_at, handled_at, advisor_id, queue, reason, phone, email, subject, content,
    form_fields, recording_ref, subject_key, marks.redacted_at, marks.redaction_reason
FROM
(
    SELECT
        contact_id,
        channel,
        min(occurred_at)                                  AS first_event_at,
        max(occurred_at)                                  AS last_event_at,
        min(arrived_at)                                   AS arrived_at,
        min(handling_started_at)                          AS handling_started_at,
        max(handled_at)                                   AS handled_at,
        argMaxState(advisor_id, (occurred_at, event_id))  AS advisor_id,
        argMaxState(queue, (occurred_at, event_id))       AS queue,
        argMaxState(reason, (occurred_at, event_id))      AS reason,
        max(phone)                                        AS phone,
        max(email)                                        AS email,
        max(subject)                                      AS subject,
        max(content)                                      AS content,
        max(form_fields)                                  AS form_fields,
        max(recording_ref)                                AS recording_ref,
        max(subject_key)                                  AS subject_key
    FROM contact_events
    GROUP BY contact_id, channel
) AS merged
LEFT JOIN
(
    SELECT contact_id, max(redacted_at) AS redacted_at, max(redaction_reason) AS redaction_reason
    FROM contacts
    GROUP BY contact_id
) AS marks ON marks.contact_id = merged.contact_id;

EXCHANGE TABLES contacts AND contacts_rekeyed;

DROP TABLE contacts_rekeyed SYNC;

CREATE MATERIALIZED VIEW IF NOT EXISTS contacts_mv TO contacts AS
SELECT
    contact_id,
    channel,
    min(occurred_at)              AS first_event_at,
    max(occurred_at)              AS last_event_at,
    min(arrived_at)               AS arrived_at,
    min(handling_started_at)      AS handling_started_at,
    max(handled_at)               AS handled_at,
    argMaxState(advisor_id, (occurred_at, event_id)) AS advisor_id,
    argMaxState(queue, (occurred_at, event_id))      AS queue,
    argMaxState(reason, (occurred_at, event_id))     AS reason,
    max(phone)                    AS phone,
    max(email)                    AS email,
    max(subject)                  AS subject,
    max(content)                  AS content,
    max(form_fields)              AS form_fields,
    max(recording_ref)            AS recording_ref,
    max(subject_key)              AS subject_key,
    CAST(NULL, 'Nullable(DateTime64(3, \'UTC\'))') AS redacted_at,
    CAST(NULL, 'Nullable(String)')                AS redaction_reason
FROM contact_events
GROUP BY contact_id, channel;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_changes_mv TO contact_changes AS
SELECT ingested_at, contact_id FROM contact_events;

-- The merged contact, one row per (contact_id, channel); holds personal columns.
CREATE OR REPLACE VIEW contacts_merged AS
SELECT *, coalesce(handled_at, last_event_at) AS retention_clock_at
FROM
(
SELECT
    contact_id,
    channel,
    min(first_event_at)                  AS first_event_at,
    max(last_event_at)                   AS last_event_at,
    min(arrived_at)                      AS arrived_at,
    min(handling_started_at)             AS handling_started_at,
    max(handled_at)                      AS handled_at,
    argMaxMerge(advisor_id) AS advisor_id,
    argMaxMerge(queue)      AS queue,
    argMaxMerge(reason)     AS reason,
    max(phone)                           AS phone,
    max(email)                           AS email,
    max(subject)                         AS subject,
    max(content)                         AS content,
    max(form_fields)                     AS form_fields,
    max(recording_ref)                   AS recording_ref,
    max(subject_key)                     AS subject_key,
    max(redacted_at)                     AS redacted_at,
    max(redaction_reason)                AS redaction_reason
FROM contacts
GROUP BY contact_id, channel
);

-- The analyst views' live part groups by contact as well (0007's text, keyed by channel too).
-- Their sets of changed contacts stay sets of ids: an id's every channel is recomputed live.
CREATE OR REPLACE VIEW analyst_live_contact_ids AS
SELECT contact_id
FROM contacts
WHERE contact_id IN (
    SELECT arrayJoin((SELECT groupArray(contact_id) FROM analyst_changed_contact_ids))
    UNION ALL
    -- A contact's merged key is the key of one of its rows.
    SELECT contact_id FROM contacts
    WHERE subject_key IN (
        SELECT arrayJoin((SELECT groupArray(subject_key) FROM analyst_changed_subject_keys))
    )
)
GROUP BY contact_id, channel
HAVING contact_id IN (
        SELECT arrayJoin((SELECT groupArray(contact_id) FROM analyst_changed_contact_ids))
    )
    OR max(subject_key) IN (
        SELECT arrayJoin((SELECT groupArray(subject_key) FROM analyst_changed_subject_keys))
    );

CREATE OR REPLACE VIEW analyst_contacts_live AS
SELECT
    contact_id,
    channel,
    contact_at,
    first_event_at,
    last_event_at,
    arrived_at,
    handling_started_at,
    handled_at,
    advisor_id,
    queue,
    reason,
    toUInt8(repeat_key_known) AS repeat_eligible,
    toUInt8(repeat_key_known AND earlier_contacts_7d > 0) AS is_repeat_7d,
    toUInt8(redacted_at IS NOT NULL) AS redacted
FROM
(
    SELECT
        contact_id, channel, first_event_at, last_event_at, arrived_at, handling_started_at,
        handled_at, advisor_id, queue, reason, redacted_at,
        coalesce(arrived_at, first_event_at) AS contact_at,
        subject_key IS NOT NULL AS repeat_key_known,
        count() OVER (
            PARTITION BY subject_key
            ORDER BY toUnixTimestamp64Milli(contact_at)
            RANGE BETWEEN 604800000 PRECEDING AND 1 PRECEDING
        ) AS earlier_contacts_7d
    FROM
    (
        SELECT
            contact_id,
            channel,
            CAST(min(first_event_at), 'DateTime64(3, \'UTC\')') AS first_event_at,
            CAST(max(last_event_at), 'DateTime64(3, \'UTC\')') AS last_event_at,
            min(arrived_at) AS arrived_at,
            min(handling_started_at) AS handling_started_at,
            max(handled_at) AS handled_at,
            argMaxMerge(advisor_id) AS advisor_id,
            argMaxMerge(queue) AS queue,
            argMaxMerge(reason) AS reason,
            max(subject_key) AS subject_key,
            max(redacted_at) AS redacted_at
        FROM contacts
        -- No usable snapshot: all contacts, without building the sets (a constant condition).
        WHERE (SELECT snapshot FROM analyst_store_current) = 0
           OR contact_id IN (SELECT arrayJoin((SELECT ids FROM analyst_live_contact_array)))
        GROUP BY contact_id, channel
    )
);

CREATE OR REPLACE VIEW analyst_stale_hours AS
SELECT DISTINCT period_start
FROM
(
    SELECT arrayJoin((SELECT unsettled_hours FROM analyst_store_current)) AS period_start
    UNION ALL
    SELECT toDateTime(toStartOfHour(contact_at), 'UTC') AS period_start
    FROM analyst_contacts_store
    WHERE (SELECT snapshot FROM analyst_store_current) != 0
      AND snapshot = (SELECT snapshot FROM analyst_store_current)
      AND contact_id IN (SELECT arrayJoin((SELECT ids FROM analyst_live_contact_array)))
    UNION ALL
    SELECT toDateTime(toStartOfHour(coalesce(min(arrived_at), min(first_event_at))), 'UTC')
        AS period_start
    FROM contacts
    WHERE contact_id IN (SELECT arrayJoin((SELECT ids FROM analyst_live_contact_array)))
    GROUP BY contact_id, channel
);

-- Snapshots taken before this migration merged channels: none of them may be used again.
TRUNCATE TABLE analyst_store_state;
TRUNCATE TABLE analyst_contacts_store;
TRUNCATE TABLE kpi_hourly_store;
TRUNCATE TABLE kpi_daily_store;
TRUNCATE TABLE kpi_service_level_store;
