-- Analyst views at 18 months of volume (issue 12): a stored snapshot plus a live delta.
--
-- Computing analyst_contacts from contacts_merged on every query merges the argMax states of
-- advisor, queue and reason of every contact (about 1.4 s per column at 1.5 million contacts)
-- and runs the repeat window over all of them, whatever the query's time range. So the leader
-- worker copies analyst_contacts into analyst_contacts_store every few minutes (one partition
-- per snapshot, ordered by contact time: a time range prunes), and analyst_contacts becomes
-- "the snapshot, except the contacts that may have changed since, which are computed live":
--   D: contacts with an event ingested since the snapshot's ingest watermark (late, duplicate
--      and out-of-order events included: the whole contact is recomputed from all its rows);
--   L: D plus every contact whose subject key is one that a contact of D has (their repeat
--      flags may have changed).
-- kpi_hourly, kpi_daily and kpi_service_level add the snapshot's pre-aggregated rows
-- (kpi_hourly_store, kpi_daily_store, kpi_service_level_store) of the periods that none of L's
-- contacts (before or now) and no call still waiting at the snapshot touches, and compute the
-- other periods from analyst_contacts.
-- The snapshot is not used at all (everything is computed live, as before) when there is none
-- or when a mutation of `contacts` other than the product's redaction (which first notes the
-- contacts it changes in contact_changes) was created since its refresh began: until the next
-- refresh. So every answer is exact; only its cost varies.
-- No table here holds a personal column: the subject key stays in contacts/contact_events and is
-- read inside the views only. Exact definitions: docs/kpis.md ("How the views are computed").

-- Which contacts got events when (no personal data), and which ones a redaction changes
-- (streams/storage/redaction.py notes them): D below is a range read of this log instead of a
-- scan of contact_events. Kept two days; a snapshot older than one day is not used.
CREATE TABLE IF NOT EXISTS contact_changes
(
    ingested_at DateTime64(3, 'UTC'),
    contact_id  String
)
ENGINE = MergeTree
ORDER BY ingested_at
TTL toDateTime(ingested_at) + INTERVAL 2 DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS contact_changes_mv TO contact_changes AS
SELECT ingested_at, contact_id FROM contact_events;

-- One row per refresh, written after all its snapshot's partitions are complete.
CREATE TABLE IF NOT EXISTS analyst_store_state
(
    snapshot         UInt64,
    ingest_watermark DateTime64(3, 'UTC'),
    started_at       DateTime64(3, 'UTC'),
    completed_at     DateTime64(3, 'UTC'),
    -- Hours of the snapshot's calls that were neither answered, ended nor an hour quiet when
    -- it was taken: whether they are abandoned depends on the time of the query.
    unsettled_hours  Array(DateTime('UTC'))
)
ENGINE = MergeTree
ORDER BY snapshot
TTL toDateTime(completed_at) + INTERVAL 7 DAY;

-- analyst_contacts as of a snapshot, without the flags that depend on the time of the query.
CREATE TABLE IF NOT EXISTS analyst_contacts_store
(
    snapshot            UInt64,
    contact_id          String,
    channel             LowCardinality(String),
    contact_at          DateTime64(3, 'UTC'),
    first_event_at      DateTime64(3, 'UTC'),
    last_event_at       DateTime64(3, 'UTC'),
    arrived_at          Nullable(DateTime64(3, 'UTC')),
    handling_started_at Nullable(DateTime64(3, 'UTC')),
    handled_at          Nullable(DateTime64(3, 'UTC')),
    advisor_id          Nullable(String),
    queue               Nullable(String),
    reason              Nullable(String),
    repeat_eligible     UInt8,
    is_repeat_7d        UInt8,
    redacted            UInt8,
    INDEX idx_contact_id contact_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_last_event_at last_event_at TYPE minmax GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY snapshot
ORDER BY (contact_at, contact_id);

-- The additive columns of kpi_hourly and kpi_daily over a snapshot's contacts (flags at the
-- time of the refresh), one row per period, channel, reason, queue and advisor.
CREATE TABLE IF NOT EXISTS kpi_hourly_store
(
    snapshot                 UInt64,
    period_start             DateTime('UTC'),
    channel                  LowCardinality(String),
    reason                   Nullable(String),
    queue                    Nullable(String),
    advisor_id               Nullable(String),
    contacts                 UInt64,
    offered_calls            UInt64,
    answered_calls           UInt64,
    abandoned_calls          UInt64,
    calls_in_queue           UInt64,
    answered_within_60s      UInt64,
    answer_wait_count        UInt64,
    answer_wait_seconds_sum  Float64,
    handle_count             UInt64,
    handle_seconds_sum       Float64,
    repeat_eligible_contacts UInt64,
    repeat_contacts_7d       UInt64
)
ENGINE = MergeTree
PARTITION BY snapshot
ORDER BY period_start;

CREATE TABLE IF NOT EXISTS kpi_daily_store
(
    snapshot                 UInt64,
    period_start             DateTime('UTC'),
    channel                  LowCardinality(String),
    reason                   Nullable(String),
    queue                    Nullable(String),
    advisor_id               Nullable(String),
    contacts                 UInt64,
    offered_calls            UInt64,
    answered_calls           UInt64,
    abandoned_calls          UInt64,
    calls_in_queue           UInt64,
    answered_within_60s      UInt64,
    answer_wait_count        UInt64,
    answer_wait_seconds_sum  Float64,
    handle_count             UInt64,
    handle_seconds_sum       Float64,
    repeat_eligible_contacts UInt64,
    repeat_contacts_7d       UInt64
)
ENGINE = MergeTree
PARTITION BY snapshot
ORDER BY period_start;

-- The snapshot the views may use, its ingest watermark and the time its refresh began;
-- (0, epoch, epoch) when none may be used. Mutations are looked up in every database
-- (conservative: another database's mutation only costs one refresh interval of live work).
CREATE VIEW IF NOT EXISTS analyst_store_current AS
SELECT
    if(usable, newest, 0) AS snapshot,
    if(usable, newest_watermark, toDateTime64(0, 3, 'UTC')) AS ingest_watermark,
    if(usable, newest_started_at, toDateTime64(0, 3, 'UTC')) AS started_at,
    if(usable, newest_unsettled_hours, []) AS unsettled_hours
FROM
(
    SELECT
        max(snapshot) AS newest,
        argMax(ingest_watermark, snapshot) AS newest_watermark,
        argMax(started_at, snapshot) AS newest_started_at,
        argMax(unsettled_hours, snapshot) AS newest_unsettled_hours,
        newest > 0
        AND newest_started_at > now64(3) - INTERVAL 1 DAY
        AND (
            SELECT max(create_time) FROM system.mutations
            WHERE table = 'contacts'
              -- The redaction of streams/storage/redaction.py notes its contacts (and those
              -- of their subject keys) in contact_changes first: they are in D.
              AND command NOT LIKE '%redaction_reason = coalesce(redaction_reason, %'
        ) < toDateTime(newest_started_at) AS usable
    FROM analyst_store_state
);

-- D: contacts with an event ingested since the usable snapshot's watermark (none when no
-- snapshot is usable: then every contact is computed live, without these sets).
CREATE VIEW IF NOT EXISTS analyst_changed_contact_ids AS
SELECT DISTINCT contact_id
FROM contact_changes
WHERE ingested_at >= (SELECT ingest_watermark FROM analyst_store_current)
  AND (SELECT snapshot FROM analyst_store_current) != 0;

-- K: the subject keys of D's contacts: of every row of theirs in contacts, so a key a contact
-- had before its latest events is in K as long as that row has not been merged with the newer
-- ones (docs/kpis.md: a contact whose events carry different keys).
CREATE VIEW IF NOT EXISTS analyst_changed_subject_keys AS
SELECT DISTINCT subject_key
FROM contacts
WHERE contact_id IN (
    SELECT arrayJoin((SELECT groupArray(contact_id) FROM analyst_changed_contact_ids))
)
  AND subject_key IS NOT NULL;

-- L: D and every contact whose merged subject key is in K. For each contact of L with a key,
-- every contact with that key is in L, so the repeat window over L is the window over all.
CREATE VIEW IF NOT EXISTS analyst_live_contact_ids AS
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
GROUP BY contact_id
HAVING contact_id IN (
        SELECT arrayJoin((SELECT groupArray(contact_id) FROM analyst_changed_contact_ids))
    )
    OR max(subject_key) IN (
        SELECT arrayJoin((SELECT groupArray(subject_key) FROM analyst_changed_subject_keys))
    );

-- L as one array. The views read D, K, L and the stale hours as scalar subqueries turned into
-- sets (`IN (SELECT arrayJoin((SELECT ...)))`): ClickHouse computes a query's identical scalar
-- subqueries once, while the set of an IN subquery is built again in every view that names it.
CREATE VIEW IF NOT EXISTS analyst_live_contact_array AS
SELECT groupArray(contact_id) AS ids FROM analyst_live_contact_ids;

-- The live part: the definition of 0004's analyst_contacts restricted to L. The repeat window
-- sees every contact of each subject key in L, so its counts are those over all contacts.
CREATE VIEW IF NOT EXISTS analyst_contacts_live AS
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
            any(channel) AS channel,
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
        GROUP BY contact_id
    )
);

-- Every stored snapshot's rows and the live rows (snapshot 0) with the flags every KPI uses,
-- computed at the time of the query; in_use marks the rows analyst_contacts is made of: the live
-- rows, and the usable snapshot's rows outside L.
CREATE VIEW IF NOT EXISTS analyst_contact_flags AS
SELECT
    snapshot,
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
    toUInt8(channel = 'phone' AND arrived_at IS NOT NULL) AS queued,
    toUInt8(handling_started_at IS NOT NULL) AS answered,
    toUInt8(queued AND NOT answered
            AND (handled_at IS NOT NULL OR last_event_at < now64(3) - INTERVAL 1 HOUR))
        AS abandoned,
    toUInt8(queued AND NOT answered AND NOT abandoned) AS in_queue,
    if(handling_started_at >= arrived_at,
       dateDiff('millisecond', arrived_at, handling_started_at) / 1000.0, NULL) AS wait_seconds,
    if(handled_at >= handling_started_at,
       dateDiff('millisecond', handling_started_at, handled_at) / 1000.0, NULL) AS handle_seconds,
    repeat_eligible,
    is_repeat_7d,
    redacted,
    snapshot = 0
    OR ((SELECT snapshot FROM analyst_store_current) != 0
        AND snapshot = (SELECT snapshot FROM analyst_store_current)
        AND contact_id NOT IN (SELECT arrayJoin((SELECT ids FROM analyst_live_contact_array))))
        AS in_use
FROM
(
    SELECT
        snapshot, contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at,
        handling_started_at, handled_at, advisor_id, queue, reason, repeat_eligible,
        is_repeat_7d, redacted
    FROM analyst_contacts_store
    UNION ALL
    SELECT
        toUInt64(0) AS snapshot, contact_id, channel, contact_at, first_event_at, last_event_at,
        arrived_at, handling_started_at, handled_at, advisor_id, queue, reason, repeat_eligible,
        is_repeat_7d, redacted
    FROM analyst_contacts_live
);

CREATE VIEW IF NOT EXISTS kpi_hourly_counts AS
SELECT
    snapshot,
    in_use,
    toDateTime(toStartOfHour(contact_at), 'UTC') AS period_start,
    channel,
    reason,
    queue,
    advisor_id,
    count() AS contacts,
    countIf(queued AND (answered OR abandoned)) AS offered_calls,
    countIf(queued AND answered) AS answered_calls,
    countIf(abandoned) AS abandoned_calls,
    countIf(in_queue) AS calls_in_queue,
    countIf(queued AND answered AND wait_seconds <= 60) AS answered_within_60s,
    countIf(queued AND wait_seconds IS NOT NULL) AS answer_wait_count,
    sumIf(ifNull(wait_seconds, 0), queued AND wait_seconds IS NOT NULL) AS answer_wait_seconds_sum,
    countIf(handle_seconds IS NOT NULL) AS handle_count,
    sumIf(ifNull(handle_seconds, 0), handle_seconds IS NOT NULL) AS handle_seconds_sum,
    countIf(repeat_eligible) AS repeat_eligible_contacts,
    countIf(is_repeat_7d) AS repeat_contacts_7d
FROM analyst_contact_flags
GROUP BY snapshot, in_use, period_start, channel, reason, queue, advisor_id;

CREATE VIEW IF NOT EXISTS kpi_daily_counts AS
SELECT
    snapshot,
    in_use,
    toDateTime(toStartOfDay(contact_at), 'UTC') AS period_start,
    channel,
    reason,
    queue,
    advisor_id,
    count() AS contacts,
    countIf(queued AND (answered OR abandoned)) AS offered_calls,
    countIf(queued AND answered) AS answered_calls,
    countIf(abandoned) AS abandoned_calls,
    countIf(in_queue) AS calls_in_queue,
    countIf(queued AND answered AND wait_seconds <= 60) AS answered_within_60s,
    countIf(queued AND wait_seconds IS NOT NULL) AS answer_wait_count,
    sumIf(ifNull(wait_seconds, 0), queued AND wait_seconds IS NOT NULL) AS answer_wait_seconds_sum,
    countIf(handle_seconds IS NOT NULL) AS handle_count,
    sumIf(ifNull(handle_seconds, 0), handle_seconds IS NOT NULL) AS handle_seconds_sum,
    countIf(repeat_eligible) AS repeat_eligible_contacts,
    countIf(is_repeat_7d) AS repeat_contacts_7d
FROM analyst_contact_flags
GROUP BY snapshot, in_use, period_start, channel, reason, queue, advisor_id;

-- Hours whose stored KPI rows may be stale: those of L's contacts (the hour stored and the
-- hour now) and the snapshot's unsettled hours.
CREATE VIEW IF NOT EXISTS analyst_stale_hours AS
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
    GROUP BY contact_id
);

CREATE VIEW IF NOT EXISTS analyst_stale_hour_array AS
SELECT
    groupArray(period_start) AS hours,
    arrayDistinct(arrayMap(h -> toDateTime(toStartOfDay(h), 'UTC'), hours)) AS days
FROM analyst_stale_hours;

-- analyst_contacts: same columns, types and meaning as in 0004.
CREATE OR REPLACE VIEW analyst_contacts
SQL SECURITY DEFINER
AS SELECT
    contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at,
    handling_started_at, handled_at, advisor_id, queue, reason, queued, answered, abandoned,
    in_queue, wait_seconds, handle_seconds, repeat_eligible, is_repeat_7d, redacted
FROM analyst_contact_flags
WHERE in_use;

-- kpi_hourly and kpi_daily: the snapshot's stored rows of the periods that cannot have changed,
-- the other periods computed from analyst_contacts. Same columns and meaning as in 0004.
CREATE OR REPLACE VIEW kpi_hourly
SQL SECURITY DEFINER
AS SELECT
    period_start,
    channel,
    reason,
    queue,
    advisor_id,
    contacts, offered_calls, answered_calls, abandoned_calls, calls_in_queue,
    answered_within_60s, answer_wait_count, answer_wait_seconds_sum, handle_count,
    handle_seconds_sum, repeat_eligible_contacts, repeat_contacts_7d,
    if(answer_wait_count = 0, NULL, answer_wait_seconds_sum / answer_wait_count)
        AS avg_speed_of_answer_seconds,
    if(handle_count = 0, NULL, handle_seconds_sum / handle_count) AS avg_handle_seconds,
    if(offered_calls = 0, NULL, abandoned_calls / offered_calls) AS abandonment_rate,
    if(offered_calls = 0, NULL, answered_within_60s / offered_calls) AS service_level_60s,
    if(repeat_eligible_contacts = 0, NULL, repeat_contacts_7d / repeat_eligible_contacts)
        AS repeat_rate_7d
FROM
(
    SELECT
        period_start, channel, reason, queue, advisor_id, contacts, offered_calls,
        answered_calls, abandoned_calls, calls_in_queue, answered_within_60s, answer_wait_count,
        answer_wait_seconds_sum, handle_count, handle_seconds_sum, repeat_eligible_contacts,
        repeat_contacts_7d
    FROM kpi_hourly_store
    WHERE (SELECT snapshot FROM analyst_store_current) != 0
      AND snapshot = (SELECT snapshot FROM analyst_store_current)
      AND period_start NOT IN (SELECT arrayJoin((SELECT hours FROM analyst_stale_hour_array)))
    UNION ALL
    SELECT
        period_start, channel, reason, queue, advisor_id,
        sum(contacts) AS contacts,
        sum(offered_calls) AS offered_calls,
        sum(answered_calls) AS answered_calls,
        sum(abandoned_calls) AS abandoned_calls,
        sum(calls_in_queue) AS calls_in_queue,
        sum(answered_within_60s) AS answered_within_60s,
        sum(answer_wait_count) AS answer_wait_count,
        sum(answer_wait_seconds_sum) AS answer_wait_seconds_sum,
        sum(handle_count) AS handle_count,
        sum(handle_seconds_sum) AS handle_seconds_sum,
        sum(repeat_eligible_contacts) AS repeat_eligible_contacts,
        sum(repeat_contacts_7d) AS repeat_contacts_7d
    FROM kpi_hourly_counts
    WHERE in_use
      AND ((SELECT snapshot FROM analyst_store_current) = 0
           OR period_start IN (SELECT arrayJoin((SELECT hours FROM analyst_stale_hour_array))))
    GROUP BY period_start, channel, reason, queue, advisor_id
);

CREATE OR REPLACE VIEW kpi_daily
SQL SECURITY DEFINER
AS SELECT
    period_start,
    channel,
    reason,
    queue,
    advisor_id,
    contacts, offered_calls, answered_calls, abandoned_calls, calls_in_queue,
    answered_within_60s, answer_wait_count, answer_wait_seconds_sum, handle_count,
    handle_seconds_sum, repeat_eligible_contacts, repeat_contacts_7d,
    if(answer_wait_count = 0, NULL, answer_wait_seconds_sum / answer_wait_count)
        AS avg_speed_of_answer_seconds,
    if(handle_count = 0, NULL, handle_seconds_sum / handle_count) AS avg_handle_seconds,
    if(offered_calls = 0, NULL, abandoned_calls / offered_calls) AS abandonment_rate,
    if(offered_calls = 0, NULL, answered_within_60s / offered_calls) AS service_level_60s,
    if(repeat_eligible_contacts = 0, NULL, repeat_contacts_7d / repeat_eligible_contacts)
        AS repeat_rate_7d
FROM
(
    SELECT
        period_start, channel, reason, queue, advisor_id, contacts, offered_calls,
        answered_calls, abandoned_calls, calls_in_queue, answered_within_60s, answer_wait_count,
        answer_wait_seconds_sum, handle_count, handle_seconds_sum, repeat_eligible_contacts,
        repeat_contacts_7d
    FROM kpi_daily_store
    WHERE (SELECT snapshot FROM analyst_store_current) != 0
      AND snapshot = (SELECT snapshot FROM analyst_store_current)
      AND period_start NOT IN (SELECT arrayJoin((SELECT days FROM analyst_stale_hour_array)))
    UNION ALL
    SELECT
        period_start, channel, reason, queue, advisor_id,
        sum(contacts) AS contacts,
        sum(offered_calls) AS offered_calls,
        sum(answered_calls) AS answered_calls,
        sum(abandoned_calls) AS abandoned_calls,
        sum(calls_in_queue) AS calls_in_queue,
        sum(answered_within_60s) AS answered_within_60s,
        sum(answer_wait_count) AS answer_wait_count,
        sum(answer_wait_seconds_sum) AS answer_wait_seconds_sum,
        sum(handle_count) AS handle_count,
        sum(handle_seconds_sum) AS handle_seconds_sum,
        sum(repeat_eligible_contacts) AS repeat_eligible_contacts,
        sum(repeat_contacts_7d) AS repeat_contacts_7d
    FROM kpi_daily_counts
    WHERE in_use
      AND ((SELECT snapshot FROM analyst_store_current) = 0
           OR period_start IN (SELECT arrayJoin((SELECT days FROM analyst_stale_hour_array))))
    GROUP BY period_start, channel, reason, queue, advisor_id
);

-- kpi_service_level's inputs per hour, queue and reason of a snapshot's queued calls: the
-- offered calls and the answered calls' waits in milliseconds (wait_seconds <= N exactly when
-- the wait in milliseconds is <= 1000 N), so the view applies any threshold to stored rows.
CREATE TABLE IF NOT EXISTS kpi_service_level_store
(
    snapshot        UInt64,
    period_start    DateTime('UTC'),
    queue           Nullable(String),
    reason          Nullable(String),
    offered_calls   UInt64,
    answer_waits_ms Array(Int64)
)
ENGINE = MergeTree
PARTITION BY snapshot
ORDER BY period_start;

CREATE VIEW IF NOT EXISTS kpi_service_level_counts AS
SELECT
    snapshot,
    in_use,
    toDateTime(toStartOfHour(contact_at), 'UTC') AS period_start,
    queue,
    reason,
    countIf(answered OR abandoned) AS offered_calls,
    groupArrayIf(assumeNotNull(dateDiff('millisecond', arrived_at, handling_started_at)),
                 answered AND wait_seconds IS NOT NULL) AS answer_waits_ms
FROM analyst_contact_flags
WHERE queued
GROUP BY snapshot, in_use, period_start, queue, reason;

-- kpi_service_level: same parameter, columns and meaning as in 0004, from the stored hours that
-- cannot have changed and the stale hours computed from analyst_contacts.
CREATE OR REPLACE VIEW kpi_service_level
SQL SECURITY DEFINER
AS SELECT
    period_start,
    queue,
    reason,
    offered_calls,
    toUInt64(arrayCount(w -> w <= {sl_seconds:UInt32} * 1000, answer_waits_ms))
        AS answered_within_sl,
    if(offered_calls = 0, NULL, answered_within_sl / offered_calls) AS service_level
FROM
(
    SELECT period_start, queue, reason, offered_calls, answer_waits_ms
    FROM kpi_service_level_store
    WHERE (SELECT snapshot FROM analyst_store_current) != 0
      AND snapshot = (SELECT snapshot FROM analyst_store_current)
      AND period_start NOT IN (SELECT arrayJoin((SELECT hours FROM analyst_stale_hour_array)))
    UNION ALL
    SELECT
        period_start, queue, reason,
        sum(offered_calls) AS offered_calls,
        groupArrayArray(answer_waits_ms) AS answer_waits_ms
    FROM kpi_service_level_counts
    WHERE in_use
      AND ((SELECT snapshot FROM analyst_store_current) = 0
           OR period_start IN (SELECT arrayJoin((SELECT hours FROM analyst_stale_hour_array))))
    GROUP BY period_start, queue, reason
);
