-- The live part bounded in time (issue 22). L was D and every contact of K, the subject keys of
-- D's rows, over the whole 18 months: a burst of 8,163 new contacts of returning customers made
-- L 30,571 contacts spread over every month, and merging them (their argMax states of advisor,
-- queue and reason, in nearly every granule of `contacts`) cost 1.2-1.5 s of every panel at
-- 1.5 M contacts, while D alone (recent contacts, whose ids sit together) merged in 0.08 s.
--
-- A contact's repeat flag counts the contacts of its key in the 7 days before it, so a change
-- of contact d can change the flag of the contacts of d's keys from d's contact time to 7 days
-- after it, where d is now and where d was in the snapshot (the analyst store's contact_at of
-- d). Per key of K, the span [lo, hi] of those times of D's contacts bounds everything:
--   result  (L, the contacts computed live): D, and the contacts of a key of K whose
--           contact_at is in [lo, hi + 7 days] of their key;
--   context (what their repeat window counts): D, and the contacts of a key of K whose
--           contact_at is in [lo - 7 days, hi + 7 days].
-- Every contact outside the result has the flags the snapshot stored: no contact of D was or is
-- within the 7 days before it under its key. Every contact of the result sees its whole 7-day
-- window in the context. A contact of K that is not in D has not changed since the snapshot
-- (an insert or the product's mutations would have put it in D), and has a snapshot row (the
-- refresh took every contact ingested before its watermark): the snapshot's contact_at is its
-- contact_at now and picks the context before anything is merged. L is then kept by merged key
-- and contact_at, as before by merged key. Exact definitions: docs/kpis.md.

-- K with, per key, the span of the contact times of D's contacts that had or have that key (now
-- from contacts, before from the snapshot's row).
CREATE OR REPLACE VIEW analyst_changed_key_spans AS
SELECT key, min(at) AS lo, max(at) AS hi
FROM
(
    SELECT arrayJoin(keys) AS key, arrayJoin(times) AS at
    FROM
    (
        SELECT contact_id, channel, groupUniqArrayArray(keys) AS keys, groupArray(at) AS times
        FROM
        (
            SELECT
                contact_id, channel,
                groupUniqArray(assumeNotNull(subject_key)) AS keys,
                CAST(coalesce(min(arrived_at), min(first_event_at)), 'DateTime64(3, \'UTC\')')
                    AS at
            FROM contacts
            WHERE contact_id IN (
                SELECT arrayJoin((SELECT groupArray(contact_id) FROM analyst_changed_contact_ids))
            )
              AND subject_key IS NOT NULL
            GROUP BY contact_id, channel
            UNION ALL
            SELECT
                contact_id, channel, CAST([], 'Array(String)') AS keys,
                CAST(contact_at, 'DateTime64(3, \'UTC\')') AS at
            FROM analyst_contacts_store
            WHERE contact_id IN (
                SELECT arrayJoin((SELECT groupArray(contact_id) FROM analyst_changed_contact_ids))
            )
              AND (toYYYYMM(contact_at), snapshot)
                  IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
        )
        GROUP BY contact_id, channel
    )
)
GROUP BY key;

-- The same as one array, read once per query as a scalar: (key, context from, result from,
-- until). Views join it as a table (a Map's lookup is a linear search: 8,000 keys for each of
-- 30,000 rows cost 0.3 s).
CREATE OR REPLACE VIEW analyst_changed_key_span_array AS
SELECT groupArray((key, lo - INTERVAL 7 DAY, lo, hi + INTERVAL 7 DAY)) AS spans
FROM analyst_changed_key_spans;

CREATE OR REPLACE VIEW analyst_changed_key_span_rows AS
SELECT span.1 AS key, span.2 AS context_from, span.3 AS result_from, span.4 AS until
FROM (SELECT arrayJoin((SELECT spans FROM analyst_changed_key_span_array)) AS span);

-- The keys of K whose context span is short (a burst of new contacts, a day's redaction:
-- 15 days) and the months those spans cover; the others (a subject's contacts over months,
-- rectified or erased) are few.
CREATE OR REPLACE VIEW analyst_changed_key_months AS
WITH arrayFilter(span -> dateDiff('day', span.2, span.4) <= 62,
                 (SELECT spans FROM analyst_changed_key_span_array)) AS short
SELECT
    arrayMap(span -> span.1, short) AS short_keys,
    arrayMap(span -> span.1,
             arrayFilter(span -> dateDiff('day', span.2, span.4) > 62,
                         (SELECT spans FROM analyst_changed_key_span_array))) AS long_keys,
    arrayDistinct(arrayFlatten(arrayMap(
        span -> arrayMap(
            n -> toYYYYMM(addMonths(toStartOfMonth(span.2), n)),
            range(toUInt64(dateDiff('month', toStartOfMonth(span.2), toStartOfMonth(span.4))) + 1)),
        short))) AS months;

-- The rows of `contacts` with a key of K (contact, channel, key), read once per query.
CREATE OR REPLACE VIEW analyst_keyed_contact_array AS
SELECT groupArray((contact_id, channel, assumeNotNull(subject_key))) AS keyed
FROM contacts
WHERE subject_key IN (
    SELECT arrayJoin(arrayMap(span -> span.1, (SELECT spans FROM analyst_changed_key_span_array)))
);

CREATE OR REPLACE VIEW analyst_keyed_contacts AS
SELECT row.1 AS contact_id, row.2 AS channel, row.3 AS key
FROM (SELECT arrayJoin((SELECT keyed FROM analyst_keyed_contact_array)) AS row);

-- The context's ids: D, and the contacts of K whose snapshot row is within their key's context
-- span. Every contact has a row in the current snapshot but those ingested since its watermark
-- (in D), so the snapshot's rows are looked up where they can be: the contacts of a short
-- span's key in the months of the short spans (the store's partitions), those of a long
-- span's key by id (the store's bloom filter on contact_id skips the granules without them).
CREATE OR REPLACE VIEW analyst_live_context_ids AS
SELECT keyed.contact_id AS contact_id
FROM
(
    SELECT contact_id, channel, context_from, until
    FROM analyst_keyed_contacts AS rows
    INNER JOIN analyst_changed_key_span_rows AS spans USING (key)
) AS keyed
INNER JOIN
(
    SELECT contact_id, channel, contact_at
    FROM analyst_contacts_store
    WHERE (toYYYYMM(contact_at), snapshot)
            IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
      AND toYYYYMM(contact_at)
            IN (SELECT arrayJoin((SELECT months FROM analyst_changed_key_months)))
      AND contact_id IN (
          SELECT contact_id FROM analyst_keyed_contacts
          WHERE key IN (SELECT arrayJoin((SELECT short_keys FROM analyst_changed_key_months)))
      )
    UNION ALL
    SELECT contact_id, channel, contact_at
    FROM analyst_contacts_store
    WHERE (toYYYYMM(contact_at), snapshot)
            IN (SELECT arrayJoin((SELECT parts FROM analyst_store_current)))
      AND contact_id IN (
          SELECT contact_id FROM analyst_keyed_contacts
          WHERE key IN (SELECT arrayJoin((SELECT long_keys FROM analyst_changed_key_months)))
      )
) AS snapshot_row USING (contact_id, channel)
WHERE snapshot_row.contact_at >= keyed.context_from AND snapshot_row.contact_at <= keyed.until
UNION ALL
SELECT contact_id FROM analyst_changed_contact_ids;

CREATE OR REPLACE VIEW analyst_live_context_array AS
SELECT groupArray(DISTINCT contact_id) AS ids FROM analyst_live_context_ids;

-- L (the result): D, and the contacts of the context whose merged key's result span holds
-- their merged contact_at. Grouped by contact and channel, kept as a set of ids (an id's every
-- channel is recomputed live), as in 0008.
CREATE OR REPLACE VIEW analyst_live_contact_ids AS
SELECT merged.contact_id AS contact_id
FROM
(
    SELECT
        contact_id,
        ifNull(max(subject_key), '') AS key,
        CAST(coalesce(min(arrived_at), min(first_event_at)), 'DateTime64(3, \'UTC\')') AS at
    FROM contacts
    WHERE contact_id IN (SELECT arrayJoin((SELECT ids FROM analyst_live_context_array)))
    GROUP BY contact_id, channel
) AS merged
LEFT JOIN analyst_changed_key_span_rows AS spans USING (key)
WHERE merged.contact_id IN (
        SELECT arrayJoin((SELECT groupArray(contact_id) FROM analyst_changed_contact_ids))
    )
   OR (merged.at >= spans.result_from AND merged.at <= spans.until AND spans.key != '');

-- The live part: 0008's definition, its repeat window over the context, its rows those of L.
-- The context may hold more contacts than it needs (one of K near a change under a key it does
-- not have merged): each is a real contact with its merged key and time, so the window counts
-- it only where it counts; only L's rows are returned.
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
        handled_at, advisor_id, queue, reason, redacted_at, contact_at,
        subject_key IS NOT NULL AS repeat_key_known,
        count() OVER (
            PARTITION BY subject_key
            ORDER BY toUnixTimestamp64Milli(contact_at)
            RANGE BETWEEN 604800000 PRECEDING AND 1 PRECEDING
        ) AS earlier_contacts_7d
    FROM
    (
        SELECT *, coalesce(arrived_at, first_event_at) AS contact_at
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
            -- No usable snapshot: all contacts, without building the sets (a constant
            -- condition).
            WHERE (SELECT snapshot FROM analyst_store_current) = 0
               OR contact_id IN (SELECT arrayJoin((SELECT ids FROM analyst_live_context_array)))
            GROUP BY contact_id, channel
        )
    )
)
WHERE (SELECT snapshot FROM analyst_store_current) = 0
   OR contact_id IN (SELECT arrayJoin((SELECT ids FROM analyst_live_contact_array)));

-- 0011's kpi_hourly, kpi_daily and kpi_service_level, but for one thing: a stored row's period
-- is looked up among the changed periods in a set (`IN`), not with has(), a linear search of
-- the array for every stored row (12 months of hourly rows against the ~2,400 hours a
-- redaction batch touched: 0.3 s of 1.0 s). Otherwise the same text.
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
      AND period_start NOT IN (SELECT arrayJoin(changed_periods))
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
          AND period_start IN (SELECT arrayJoin(changed_periods))
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
      AND period_start NOT IN (SELECT arrayJoin(changed_periods))
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
          AND period_start IN (SELECT arrayJoin(changed_periods))
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
      AND period_start NOT IN (SELECT arrayJoin(changed_periods))
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
          AND period_start IN (SELECT arrayJoin(changed_periods))
        UNION ALL
        SELECT
            change.1 AS period_start, change.2 AS queue, change.3 AS reason,
            change.4 AS queued, change.5 AS offered, change.6 AS within
        FROM (SELECT arrayJoin(changes) AS change)
    )
    GROUP BY period_start, queue, reason
    HAVING sum(queued) > 0
);
