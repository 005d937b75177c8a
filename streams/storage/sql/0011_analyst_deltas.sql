-- KPIs that cost what changed (issue 22). Until now kpi_hourly, kpi_daily and kpi_service_level
-- recomputed every period that one of L's contacts touched from analyst_contacts. L holds the
-- contacts changed since the snapshot and every contact sharing a subject key with them, so a
-- burst of new contacts of repeat customers, or one rectified subject, made hundreds of days
-- stale across the whole range: 2-3 s per panel at 100k contacts, more at 18 months of volume.
--
-- Every KPI column is a count or a sum over contacts, so a period's figure is now the stored
-- one corrected by the contacts whose part may differ: the snapshot's part of each contact of
-- L, and of each call still waiting when the refresh ran (its abandonment depends on the
-- clock), is taken away as the refresh counted it, and the part those contacts have now is
-- added (L's from contacts, the waiting calls' with the flags of now). The cost follows the
-- number of those contacts, not the periods they are spread over.
--
-- So that the refresh's part can be taken away exactly, the store keeps the two flags that
-- depend on the time (abandoned, in_queue) as the refresh computed them, the KPI stores are
-- summed from those stored rows, and kpi_service_level_store counts its queued calls (a period
-- whose last queued call moved away has no row, as when computed in full). Exact definitions:
-- docs/kpis.md ("How the views are computed"). No table here gets a personal column.

-- The store is a cache of what the views compute: its tables are made anew (a worker takes a
-- new snapshot at its next check; the views are exact meanwhile, only slower). Each is
-- partitioned by month and by the refresh that wrote the month (its generation): a refresh
-- rewrites only the months whose rows changed and records which generation of each month is
-- current, in one row of analyst_store_state (the atomic switch).
DROP TABLE IF EXISTS analyst_contacts_store SYNC;
DROP TABLE IF EXISTS kpi_hourly_store SYNC;
DROP TABLE IF EXISTS kpi_daily_store SYNC;
DROP TABLE IF EXISTS kpi_service_level_store SYNC;
DROP TABLE IF EXISTS analyst_store_state SYNC;

CREATE TABLE analyst_store_state
(
    snapshot         UInt64,
    ingest_watermark DateTime64(3, 'UTC'),
    started_at       DateTime64(3, 'UTC'),
    completed_at     DateTime64(3, 'UTC'),
    -- Month (YYYYMM) -> the snapshot (refresh) whose partition of that month is current.
    generations      Map(UInt32, UInt64)
)
ENGINE = MergeTree
ORDER BY snapshot
TTL toDateTime(completed_at) + INTERVAL 7 DAY;

-- analyst_contacts as of a month's generation, without the flags that depend on the time of
-- the query; abandoned and in_queue as its refresh computed them.
CREATE TABLE analyst_contacts_store
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
    abandoned           UInt8,
    in_queue            UInt8,
    INDEX idx_contact_id contact_id TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = MergeTree
PARTITION BY (toYYYYMM(contact_at), snapshot)
ORDER BY (contact_at, contact_id);

-- The additive columns of kpi_hourly and kpi_daily over a generation's contacts (the flags its
-- refresh stored), one row per period, channel, reason, queue and advisor.
CREATE TABLE kpi_hourly_store
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
PARTITION BY (toYYYYMM(period_start), snapshot)
ORDER BY period_start;

CREATE TABLE kpi_daily_store AS kpi_hourly_store;

-- kpi_service_level's inputs per hour, queue and reason of a generation's queued calls: how many,
-- the offered ones, and the answered ones' waits in milliseconds (wait_seconds <= N exactly
-- when the wait in milliseconds is <= 1000 N), so the view applies any threshold.
CREATE TABLE kpi_service_level_store
(
    snapshot        UInt64,
    period_start    DateTime('UTC'),
    queue           Nullable(String),
    reason          Nullable(String),
    queued_calls    UInt64,
    offered_calls   UInt64,
    answer_waits_ms Array(Int64)
)
ENGINE = MergeTree
PARTITION BY (toYYYYMM(period_start), snapshot)
ORDER BY period_start;

-- The newest snapshot if the views may use it (0 when none may be used), its ingest watermark,
-- the time its refresh began and the current (month, generation) pairs of the store.
CREATE OR REPLACE VIEW analyst_store_current AS
SELECT
    if(usable, newest, 0) AS snapshot,
    if(usable, newest_watermark, toDateTime64(0, 3, 'UTC')) AS ingest_watermark,
    if(usable, newest_started_at, toDateTime64(0, 3, 'UTC')) AS started_at,
    if(usable, arrayZip(mapKeys(newest_generations), mapValues(newest_generations)), [])
        AS parts
FROM
(
    SELECT
        max(snapshot) AS newest,
        argMax(ingest_watermark, snapshot) AS newest_watermark,
        argMax(started_at, snapshot) AS newest_started_at,
        argMax(generations, snapshot) AS newest_generations,
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

-- 0007's rows with the flags of now, plus the flags the refresh stored (stored_abandoned,
-- stored_in_queue; 0 for live rows, which nothing reads them of).
CREATE OR REPLACE VIEW analyst_contact_flags AS
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
    stored_abandoned,
    stored_in_queue,
    if(handling_started_at >= arrived_at,
       dateDiff('millisecond', arrived_at, handling_started_at) / 1000.0, NULL) AS wait_seconds,
    if(handled_at >= handling_started_at,
       dateDiff('millisecond', handling_started_at, handled_at) / 1000.0, NULL) AS handle_seconds,
    repeat_eligible,
    is_repeat_7d,
    redacted,
    snapshot = 0
    OR ((toYYYYMM(contact_at), snapshot)
            IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
        AND contact_id NOT IN (SELECT arrayJoin((SELECT ids FROM analyst_live_contact_array))))
        AS in_use
FROM
(
    SELECT
        snapshot, contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at,
        handling_started_at, handled_at, advisor_id, queue, reason, repeat_eligible,
        is_repeat_7d, redacted, abandoned AS stored_abandoned, in_queue AS stored_in_queue
    FROM analyst_contacts_store
    UNION ALL
    SELECT
        toUInt64(0) AS snapshot, contact_id, channel, contact_at, first_event_at, last_event_at,
        arrived_at, handling_started_at, handled_at, advisor_id, queue, reason, repeat_eligible,
        is_repeat_7d, redacted, toUInt8(0) AS stored_abandoned, toUInt8(0) AS stored_in_queue
    FROM analyst_contacts_live
);

-- Where the current store differs from analyst_contacts, one row per contact and sign: the
-- store's rows of L and of the calls that were waiting at their refresh (their abandonment
-- depends on the clock), with the refresh's flags and sign -1; the rows those contacts have
-- now (L's computed live, the waiting calls' with the flags of now), sign 1. A contact whose
-- row did not change (most of L: the contacts sharing a subject key with a changed one, whose
-- repeat flag stayed) yields the same row with both signs: the pair cancels out and is left
-- out, so only what changed costs the views anything, and a refresh rewrites only the months
-- of what is left. With no usable snapshot: every contact computed live, sign 1.
CREATE OR REPLACE VIEW analyst_store_corrections AS
SELECT
    toInt8(sum(side)) AS sign,
    contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at,
    handling_started_at, handled_at, advisor_id, queue, reason, queued, answered, abandoned,
    in_queue, wait_seconds, handle_seconds, repeat_eligible, is_repeat_7d, redacted
FROM
(
    SELECT
        side, contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at,
        handling_started_at, handled_at, advisor_id, queue, reason, queued, answered,
        if(side < 0, stored_abandoned, abandoned) AS abandoned,
        if(side < 0, stored_in_queue, in_queue) AS in_queue,
        wait_seconds, handle_seconds, repeat_eligible, is_repeat_7d, redacted
    FROM
    (
        -- One pass over the rows (the live part is computed once): a row yields -1, 1 or both.
        SELECT
            *,
            arrayJoin(arrayConcat(
                if(snapshot != 0 AND ((toYYYYMM(contact_at), snapshot)
                       IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))),
                   [toInt8(-1)], []),
                if(in_use, [toInt8(1)], []))) AS side
        FROM analyst_contact_flags
        WHERE snapshot = 0
           OR stored_in_queue
           OR contact_id IN (SELECT arrayJoin((SELECT ids FROM analyst_live_contact_array)))
    )
)
GROUP BY
    contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at,
    handling_started_at, handled_at, advisor_id, queue, reason, queued, answered, abandoned,
    in_queue, wait_seconds, handle_seconds, repeat_eligible, is_repeat_7d, redacted
HAVING sum(side) != 0;

-- What the KPIs are summed from, signed, by `part`: 'stored', each generation's rows with the
-- flags its refresh stored (a refresh sums its own); 'change', the corrections to the current
-- store. A parameter rather than a filter: the branch not asked for reads nothing.
CREATE OR REPLACE VIEW analyst_kpi_rows AS
SELECT
    'stored' AS part, snapshot, toInt8(1) AS sign, contact_at, channel, reason, queue,
    advisor_id, queued, answered, stored_abandoned AS abandoned, stored_in_queue AS in_queue,
    arrived_at, handling_started_at, wait_seconds, handle_seconds, repeat_eligible, is_repeat_7d
FROM analyst_contact_flags
WHERE {part:String} = 'stored' AND snapshot != 0
UNION ALL
SELECT
    'change' AS part, toUInt64(0) AS snapshot, sign, contact_at, channel, reason, queue,
    advisor_id, queued, answered, abandoned, in_queue, arrived_at, handling_started_at,
    wait_seconds, handle_seconds, repeat_eligible, is_repeat_7d
FROM analyst_store_corrections
WHERE {part:String} = 'change';

CREATE OR REPLACE VIEW kpi_hourly_counts AS
SELECT
    part,
    snapshot,
    toDateTime(toStartOfHour(contact_at), 'UTC') AS period_start,
    channel,
    reason,
    queue,
    advisor_id,
    sum(sign) AS contacts,
    sumIf(sign, queued AND (answered OR abandoned)) AS offered_calls,
    sumIf(sign, queued AND answered) AS answered_calls,
    sumIf(sign, abandoned) AS abandoned_calls,
    sumIf(sign, in_queue) AS calls_in_queue,
    sumIf(sign, queued AND answered AND wait_seconds <= 60) AS answered_within_60s,
    sumIf(sign, queued AND wait_seconds IS NOT NULL) AS answer_wait_count,
    sumIf(sign * ifNull(wait_seconds, 0), queued AND wait_seconds IS NOT NULL)
        AS answer_wait_seconds_sum,
    sumIf(sign, handle_seconds IS NOT NULL) AS handle_count,
    sumIf(sign * ifNull(handle_seconds, 0), handle_seconds IS NOT NULL) AS handle_seconds_sum,
    sumIf(sign, repeat_eligible) AS repeat_eligible_contacts,
    sumIf(sign, is_repeat_7d) AS repeat_contacts_7d
FROM analyst_kpi_rows(part = {part:String})
GROUP BY part, snapshot, period_start, channel, reason, queue, advisor_id;

CREATE OR REPLACE VIEW kpi_daily_counts AS
SELECT
    part,
    snapshot,
    toDateTime(toStartOfDay(contact_at), 'UTC') AS period_start,
    channel,
    reason,
    queue,
    advisor_id,
    sum(sign) AS contacts,
    sumIf(sign, queued AND (answered OR abandoned)) AS offered_calls,
    sumIf(sign, queued AND answered) AS answered_calls,
    sumIf(sign, abandoned) AS abandoned_calls,
    sumIf(sign, in_queue) AS calls_in_queue,
    sumIf(sign, queued AND answered AND wait_seconds <= 60) AS answered_within_60s,
    sumIf(sign, queued AND wait_seconds IS NOT NULL) AS answer_wait_count,
    sumIf(sign * ifNull(wait_seconds, 0), queued AND wait_seconds IS NOT NULL)
        AS answer_wait_seconds_sum,
    sumIf(sign, handle_seconds IS NOT NULL) AS handle_count,
    sumIf(sign * ifNull(handle_seconds, 0), handle_seconds IS NOT NULL) AS handle_seconds_sum,
    sumIf(sign, repeat_eligible) AS repeat_eligible_contacts,
    sumIf(sign, is_repeat_7d) AS repeat_contacts_7d
FROM analyst_kpi_rows(part = {part:String})
GROUP BY part, snapshot, period_start, channel, reason, queue, advisor_id;

-- kpi_hourly and kpi_daily: the current store's sums, plus the corrections' in the periods they
-- touch (a group whose every contact moved away nets to no contact and has no row). The
-- corrections are read once, as one scalar array (ClickHouse computes a scalar subquery once
-- per query). Same columns and meaning as in 0004.
CREATE OR REPLACE VIEW kpi_hourly
SQL SECURITY DEFINER
AS WITH
    (
        SELECT groupArray((period_start, channel, reason, queue, advisor_id, contacts, offered_calls, answered_calls, abandoned_calls, calls_in_queue, answered_within_60s, answer_wait_count, answer_wait_seconds_sum, handle_count, handle_seconds_sum, repeat_eligible_contacts, repeat_contacts_7d))
        FROM kpi_hourly_counts(part = 'change')
    ) AS changes,
    arrayDistinct(arrayMap(change -> change.1, changes)) AS changed_periods
SELECT
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
    -- The periods no correction touches: the stored rows as they are.
    SELECT period_start, channel, reason, queue, advisor_id, contacts, offered_calls, answered_calls, abandoned_calls, calls_in_queue, answered_within_60s, answer_wait_count, answer_wait_seconds_sum, handle_count, handle_seconds_sum, repeat_eligible_contacts, repeat_contacts_7d
    FROM kpi_hourly_store
    WHERE (toYYYYMM(period_start), snapshot)
            IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
      AND NOT has(changed_periods, period_start)
    UNION ALL
    -- The others: stored rows and corrections summed.
    SELECT
        period_start, channel, reason, queue, advisor_id,
        toUInt64(sum(contacts)) AS contacts,
        toUInt64(sum(offered_calls)) AS offered_calls,
        toUInt64(sum(answered_calls)) AS answered_calls,
        toUInt64(sum(abandoned_calls)) AS abandoned_calls,
        toUInt64(sum(calls_in_queue)) AS calls_in_queue,
        toUInt64(sum(answered_within_60s)) AS answered_within_60s,
        toUInt64(sum(answer_wait_count)) AS answer_wait_count,
        sum(answer_wait_seconds_sum) AS answer_wait_seconds_sum,
        toUInt64(sum(handle_count)) AS handle_count,
        sum(handle_seconds_sum) AS handle_seconds_sum,
        toUInt64(sum(repeat_eligible_contacts)) AS repeat_eligible_contacts,
        toUInt64(sum(repeat_contacts_7d)) AS repeat_contacts_7d
    FROM
    (
        SELECT
            period_start, channel, reason, queue, advisor_id,
            toInt64(contacts) AS contacts,
                toInt64(offered_calls) AS offered_calls,
                toInt64(answered_calls) AS answered_calls,
                toInt64(abandoned_calls) AS abandoned_calls,
                toInt64(calls_in_queue) AS calls_in_queue,
                toInt64(answered_within_60s) AS answered_within_60s,
                toInt64(answer_wait_count) AS answer_wait_count,
                answer_wait_seconds_sum,
                toInt64(handle_count) AS handle_count,
                handle_seconds_sum,
                toInt64(repeat_eligible_contacts) AS repeat_eligible_contacts,
                toInt64(repeat_contacts_7d) AS repeat_contacts_7d
        FROM kpi_hourly_store
        WHERE (toYYYYMM(period_start), snapshot)
                IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
          AND has(changed_periods, period_start)
        UNION ALL
        SELECT
            change.1 AS period_start,
                change.2 AS channel,
                change.3 AS reason,
                change.4 AS queue,
                change.5 AS advisor_id,
                change.6 AS contacts,
                change.7 AS offered_calls,
                change.8 AS answered_calls,
                change.9 AS abandoned_calls,
                change.10 AS calls_in_queue,
                change.11 AS answered_within_60s,
                change.12 AS answer_wait_count,
                change.13 AS answer_wait_seconds_sum,
                change.14 AS handle_count,
                change.15 AS handle_seconds_sum,
                change.16 AS repeat_eligible_contacts,
                change.17 AS repeat_contacts_7d
        FROM (SELECT arrayJoin(changes) AS change)
    )
    GROUP BY period_start, channel, reason, queue, advisor_id
    HAVING contacts > 0
);

CREATE OR REPLACE VIEW kpi_daily
SQL SECURITY DEFINER
AS WITH
    (
        SELECT groupArray((period_start, channel, reason, queue, advisor_id, contacts, offered_calls, answered_calls, abandoned_calls, calls_in_queue, answered_within_60s, answer_wait_count, answer_wait_seconds_sum, handle_count, handle_seconds_sum, repeat_eligible_contacts, repeat_contacts_7d))
        FROM kpi_daily_counts(part = 'change')
    ) AS changes,
    arrayDistinct(arrayMap(change -> change.1, changes)) AS changed_periods
SELECT
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
    -- The periods no correction touches: the stored rows as they are.
    SELECT period_start, channel, reason, queue, advisor_id, contacts, offered_calls, answered_calls, abandoned_calls, calls_in_queue, answered_within_60s, answer_wait_count, answer_wait_seconds_sum, handle_count, handle_seconds_sum, repeat_eligible_contacts, repeat_contacts_7d
    FROM kpi_daily_store
    WHERE (toYYYYMM(period_start), snapshot)
            IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
      AND NOT has(changed_periods, period_start)
    UNION ALL
    -- The others: stored rows and corrections summed.
    SELECT
        period_start, channel, reason, queue, advisor_id,
        toUInt64(sum(contacts)) AS contacts,
        toUInt64(sum(offered_calls)) AS offered_calls,
        toUInt64(sum(answered_calls)) AS answered_calls,
        toUInt64(sum(abandoned_calls)) AS abandoned_calls,
        toUInt64(sum(calls_in_queue)) AS calls_in_queue,
        toUInt64(sum(answered_within_60s)) AS answered_within_60s,
        toUInt64(sum(answer_wait_count)) AS answer_wait_count,
        sum(answer_wait_seconds_sum) AS answer_wait_seconds_sum,
        toUInt64(sum(handle_count)) AS handle_count,
        sum(handle_seconds_sum) AS handle_seconds_sum,
        toUInt64(sum(repeat_eligible_contacts)) AS repeat_eligible_contacts,
        toUInt64(sum(repeat_contacts_7d)) AS repeat_contacts_7d
    FROM
    (
        SELECT
            period_start, channel, reason, queue, advisor_id,
            toInt64(contacts) AS contacts,
                toInt64(offered_calls) AS offered_calls,
                toInt64(answered_calls) AS answered_calls,
                toInt64(abandoned_calls) AS abandoned_calls,
                toInt64(calls_in_queue) AS calls_in_queue,
                toInt64(answered_within_60s) AS answered_within_60s,
                toInt64(answer_wait_count) AS answer_wait_count,
                answer_wait_seconds_sum,
                toInt64(handle_count) AS handle_count,
                handle_seconds_sum,
                toInt64(repeat_eligible_contacts) AS repeat_eligible_contacts,
                toInt64(repeat_contacts_7d) AS repeat_contacts_7d
        FROM kpi_daily_store
        WHERE (toYYYYMM(period_start), snapshot)
                IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
          AND has(changed_periods, period_start)
        UNION ALL
        SELECT
            change.1 AS period_start,
                change.2 AS channel,
                change.3 AS reason,
                change.4 AS queue,
                change.5 AS advisor_id,
                change.6 AS contacts,
                change.7 AS offered_calls,
                change.8 AS answered_calls,
                change.9 AS abandoned_calls,
                change.10 AS calls_in_queue,
                change.11 AS answered_within_60s,
                change.12 AS answer_wait_count,
                change.13 AS answer_wait_seconds_sum,
                change.14 AS handle_count,
                change.15 AS handle_seconds_sum,
                change.16 AS repeat_eligible_contacts,
                change.17 AS repeat_contacts_7d
        FROM (SELECT arrayJoin(changes) AS change)
    )
    GROUP BY period_start, channel, reason, queue, advisor_id
    HAVING contacts > 0
);

-- kpi_service_level's inputs per hour, queue and reason of queued calls, signed as above: the
-- queued and offered calls and the answered calls' waits in milliseconds (wait_seconds <= N
-- exactly when the wait in milliseconds is <= 1000 N). A refresh stores its part's waits as an
-- array; a change's waits are one per contact, counted with its sign against the threshold.
CREATE OR REPLACE VIEW kpi_service_level_counts AS
SELECT
    part,
    snapshot,
    toDateTime(toStartOfHour(contact_at), 'UTC') AS period_start,
    queue,
    reason,
    sign,
    sum(sign) AS queued_calls,
    sumIf(sign, answered OR abandoned) AS offered_calls,
    groupArrayIf(assumeNotNull(dateDiff('millisecond', arrived_at, handling_started_at)),
                 answered AND wait_seconds IS NOT NULL) AS answer_waits_ms
FROM analyst_kpi_rows(part = {part:String})
WHERE queued
GROUP BY part, snapshot, period_start, queue, reason, sign;

-- kpi_service_level: same parameter, columns and meaning as in 0004: the usable snapshot's
-- stored hours plus the changes' calls.
CREATE OR REPLACE VIEW kpi_service_level
SQL SECURITY DEFINER
AS WITH
    (
        SELECT groupArray((period_start, queue, reason, queued_calls, offered_calls,
                           sign * arrayCount(w -> w <= {sl_seconds:UInt32} * 1000,
                                             answer_waits_ms)))
        FROM kpi_service_level_counts(part = 'change')
    ) AS changes,
    arrayDistinct(arrayMap(change -> change.1, changes)) AS changed_periods
SELECT
    period_start,
    queue,
    reason,
    offered_calls,
    answered_within_sl,
    if(offered_calls = 0, NULL, answered_within_sl / offered_calls) AS service_level
FROM
(
    -- The hours no correction touches: the stored rows as they are.
    SELECT
        period_start, queue, reason, offered_calls,
        toUInt64(arrayCount(w -> w <= {sl_seconds:UInt32} * 1000, answer_waits_ms))
            AS answered_within_sl
    FROM kpi_service_level_store
    WHERE (toYYYYMM(period_start), snapshot)
            IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
      AND NOT has(changed_periods, period_start)
    UNION ALL
    -- The others: stored rows and corrections summed.
    SELECT
        period_start, queue, reason,
        toUInt64(sum(offered)) AS offered_calls,
        toUInt64(sum(within)) AS answered_within_sl
    FROM
    (
        SELECT
            period_start, queue, reason, toInt64(queued_calls) AS queued,
            toInt64(offered_calls) AS offered,
            toInt64(arrayCount(w -> w <= {sl_seconds:UInt32} * 1000, answer_waits_ms)) AS within
        FROM kpi_service_level_store
        WHERE (toYYYYMM(period_start), snapshot)
                IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
          AND has(changed_periods, period_start)
        UNION ALL
        SELECT
            change.1 AS period_start, change.2 AS queue, change.3 AS reason,
            change.4 AS queued, change.5 AS offered, change.6 AS within
        FROM (SELECT arrayJoin(changes) AS change)
    )
    GROUP BY period_start, queue, reason
    HAVING sum(queued) > 0
);

-- The stale periods of 0007 and 0008: nothing reads them any more.
DROP VIEW IF EXISTS analyst_stale_hour_array;
DROP VIEW IF EXISTS analyst_stale_hours;
