-- Issue 22: a redaction batch rewrites only the contacts of its months. `contacts` had no
-- partitions: redacting 2 contacts rewrote the whole table (16.1 MB of its 17.8 MB per batch at
-- 200,000 contacts, 58.8 MB per hourly batch at 1.5 M). Partitioned by the month of a contact's
-- first event, the contacts due in one batch (their retention clock ran out in the same hour,
-- 18 months ago) sit in one or two monthly partitions, and the mutation rewrites only their
-- parts (bench/mutation_lane.py, docs/benchmarks.md#redaction).
-- A contact whose events reach the table in two insert blocks either side of a month's end keeps
-- a row in each month (rows merge only within a partition): contacts_merged groups them, and a
-- redaction names the contact, so it reaches both. contacts_mv's rows stay within
-- max_partitions_per_insert_block: a row takes the month of its contact's first event in the
-- block, and the sink splits blocks by the months of the events.
-- The table is copied (it holds no history a copy loses) and exchanged; the view that fills it
-- is dropped first and recreated after, as 0008 did. The copy table is dropped, not emptied,
-- before it is filled: a run stopped after the exchange left the old table under the copy's
-- name, and is repeated from the start on the already partitioned table. The old table goes
-- with SYNC: its files (replaced parts too) go now.
-- Granules of 1,024 rows: the analyst views merge the rows of L (a few hundred contacts, by id)
-- on every query, and a few hundred ids spread over nearly every granule of 8,192 rows, so that
-- merge read the whole table's aggregate states (0.61 s at 1.5 M contacts for 193 ids, 0.26 s at
-- 1,024; docs/benchmarks.md, "Analyst panels in every state").

DROP VIEW IF EXISTS contacts_mv;

DROP TABLE IF EXISTS contacts_by_month SYNC;

CREATE TABLE contacts_by_month
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

-- Years of contacts may span more than the 100 partitions an insert may touch by default.
INSERT INTO contacts_by_month SELECT * FROM contacts SETTINGS max_partitions_per_insert_block = 0;

EXCHANGE TABLES contacts AND contacts_by_month;

DROP TABLE contacts_by_month SYNC;

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
