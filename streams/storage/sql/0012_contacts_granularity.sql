-- Issue 22: the analyst views merge the rows of L (the contacts changed since the store's refresh
-- and those sharing their subject keys) from `contacts` on every query. A few hundred ids spread
-- over nearly every granule of 8,192 rows (the table is ordered by id), so that merge read the
-- whole table's aggregate states: 0.61 s at 1.5 M contacts for 193 ids, 0.26 s on a copy with
-- granules of 1,024 rows (docs/benchmarks.md, "Analyst panels in every state"). index_granularity
-- cannot change on an existing table: copied and exchanged as 0010 does, for the same reasons
-- (the view that fills it dropped first, the copy dropped before it is filled).

DROP VIEW IF EXISTS contacts_mv;

DROP TABLE IF EXISTS contacts_fine SYNC;

CREATE TABLE contacts_fine
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
PARTITION BY toYYYYMM(first_event_at)
ORDER BY (contact_id, channel)
SETTINGS old_parts_lifetime = 60, index_granularity = 1024;

INSERT INTO contacts_fine SELECT * FROM contacts SETTINGS max_partitions_per_insert_block = 0;

EXCHANGE TABLES contacts AND contacts_fine;

DROP TABLE contacts_fine SYNC;

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
