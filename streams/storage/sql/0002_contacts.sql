-- One row per contact, merged by order-independent, idempotent aggregates: min/max of times,
-- the latest non-null advisor/queue/reason by (occurred_at, event_id) (argMax skips NULLs),
-- max() of personal values.
-- So late, duplicated and out-of-order events merge to the same row without worker state.
-- Read it through contacts_merged (GROUP BY contact_id), never raw: parts merge lazily.
CREATE TABLE IF NOT EXISTS contacts
(
    contact_id          String,
    channel             SimpleAggregateFunction(any, LowCardinality(String)),
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
ORDER BY contact_id
SETTINGS old_parts_lifetime = 60;

CREATE MATERIALIZED VIEW IF NOT EXISTS contacts_mv TO contacts AS
SELECT
    contact_id,
    any(channel)                  AS channel,
    min(occurred_at)              AS first_event_at,
    max(occurred_at)              AS last_event_at,
    min(arrived_at)               AS arrived_at,
    min(handling_started_at)      AS handling_started_at,
    max(handled_at)               AS handled_at,
    argMaxState(advisor_id, (occurred_at, event_id)) AS advisor_id,
    argMaxState(queue, (occurred_at, event_id))           AS queue,
    argMaxState(reason, (occurred_at, event_id))         AS reason,
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
GROUP BY contact_id;

-- The merged contact: one row per contact_id, with its retention clock (privacy rule P2:
-- handled time, else the last known lifecycle time). Holds personal columns: service/DPO only.
CREATE VIEW IF NOT EXISTS contacts_merged AS
SELECT *, coalesce(handled_at, last_event_at) AS retention_clock_at
FROM
(
SELECT
    contact_id,
    any(channel)                         AS channel,
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
GROUP BY contact_id
);
