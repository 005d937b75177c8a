-- Analysts' views (privacy rule P6): built on contacts_merged, none of them exposes a personal
-- column (phone, email, subject, content, form_fields, recording_ref, subject_key). The repeat
-- flag is computed from subject_key inside the view; the key itself never leaves it.
-- Exact definitions of every column and KPI: docs/kpis.md. Times are UTC.
--
-- SQL SECURITY DEFINER: the views read contacts_merged with the rights of the user that created
-- them (the migrating service user), so the analyst role needs SELECT on these views only, never
-- on the tables underneath (deploy/clickhouse/roles.sql). chDB ignores access control.

-- One row per contact: non-personal columns and the derived flags and durations every KPI uses.
CREATE VIEW IF NOT EXISTS analyst_contacts
SQL SECURITY DEFINER
AS SELECT
    contact_id,
    channel,
    contact_at,
    CAST(first_event_at, 'DateTime64(3, \'UTC\')') AS first_event_at,
    CAST(last_event_at, 'DateTime64(3, \'UTC\')') AS last_event_at,
    arrived_at,
    handling_started_at,
    handled_at,
    advisor_id,
    queue,
    reason,
    toUInt8(channel = 'phone' AND arrived_at IS NOT NULL) AS queued,
    toUInt8(handling_started_at IS NOT NULL) AS answered,
    toUInt8(queued AND NOT answered
            AND (handled_at IS NOT NULL OR last_event_at < now64(3) - INTERVAL 1 HOUR)) AS abandoned,
    toUInt8(queued AND NOT answered AND NOT abandoned) AS in_queue,
    if(handling_started_at >= arrived_at,
       dateDiff('millisecond', arrived_at, handling_started_at) / 1000.0, NULL) AS wait_seconds,
    if(handled_at >= handling_started_at,
       dateDiff('millisecond', handling_started_at, handled_at) / 1000.0, NULL) AS handle_seconds,
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
        -- Contacts of the same subject at least 1 ms and at most 7 days (604,800,000 ms) earlier.
        count() OVER (
            PARTITION BY subject_key
            ORDER BY toUnixTimestamp64Milli(contact_at)
            RANGE BETWEEN 604800000 PRECEDING AND 1 PRECEDING
        ) AS earlier_contacts_7d
    FROM contacts_merged
);

-- Hourly KPIs by channel, reason, queue and advisor. The *_count/_sum columns are additive:
-- roll up with sum(numerator) / sum(denominator), never by averaging the ratio columns.
CREATE VIEW IF NOT EXISTS kpi_hourly
SQL SECURITY DEFINER
AS SELECT
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
    countIf(is_repeat_7d) AS repeat_contacts_7d,
    if(answer_wait_count = 0, NULL, answer_wait_seconds_sum / answer_wait_count)
        AS avg_speed_of_answer_seconds,
    if(handle_count = 0, NULL, handle_seconds_sum / handle_count) AS avg_handle_seconds,
    if(offered_calls = 0, NULL, abandoned_calls / offered_calls) AS abandonment_rate,
    if(offered_calls = 0, NULL, answered_within_60s / offered_calls) AS service_level_60s,
    if(repeat_eligible_contacts = 0, NULL, repeat_contacts_7d / repeat_eligible_contacts)
        AS repeat_rate_7d
FROM analyst_contacts
GROUP BY period_start, channel, reason, queue, advisor_id;

-- The same KPIs by UTC day (same expressions, other period).
CREATE VIEW IF NOT EXISTS kpi_daily
SQL SECURITY DEFINER
AS SELECT
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
    countIf(is_repeat_7d) AS repeat_contacts_7d,
    if(answer_wait_count = 0, NULL, answer_wait_seconds_sum / answer_wait_count)
        AS avg_speed_of_answer_seconds,
    if(handle_count = 0, NULL, handle_seconds_sum / handle_count) AS avg_handle_seconds,
    if(offered_calls = 0, NULL, abandoned_calls / offered_calls) AS abandonment_rate,
    if(offered_calls = 0, NULL, answered_within_60s / offered_calls) AS service_level_60s,
    if(repeat_eligible_contacts = 0, NULL, repeat_contacts_7d / repeat_eligible_contacts)
        AS repeat_rate_7d
FROM analyst_contacts
GROUP BY period_start, channel, reason, queue, advisor_id;

-- Service level with the threshold as a parameter:
--   SELECT * FROM kpi_service_level(sl_seconds = 20)
-- Hourly, phone calls only, by queue and reason (advisor is unknown for abandoned calls).
CREATE VIEW IF NOT EXISTS kpi_service_level
SQL SECURITY DEFINER
AS SELECT
    toDateTime(toStartOfHour(contact_at), 'UTC') AS period_start,
    queue,
    reason,
    countIf(answered OR abandoned) AS offered_calls,
    countIf(answered AND wait_seconds <= {sl_seconds:UInt32}) AS answered_within_sl,
    if(offered_calls = 0, NULL, answered_within_sl / offered_calls) AS service_level
FROM analyst_contacts
WHERE queued
GROUP BY period_start, queue, reason;

-- Open messages (SMS, email, web form) right now: arrived, not handled, not redacted.
-- Every message channel has a row, with zeros when nothing is open.
CREATE VIEW IF NOT EXISTS kpi_backlog
SQL SECURITY DEFINER
AS SELECT
    channels.channel AS channel,
    open.open_contacts AS open_contacts,
    open.not_started AS not_started,
    open.in_handling AS in_handling,
    open.oldest_arrived_at AS oldest_arrived_at,
    if(open.open_contacts = 0, NULL,
       dateDiff('second', open.oldest_arrived_at, now64(3))) AS oldest_age_seconds
FROM (SELECT arrayJoin(['sms', 'email', 'form']) AS channel) AS channels
LEFT JOIN
(
    SELECT
        channel,
        count() AS open_contacts,
        countIf(handling_started_at IS NULL) AS not_started,
        countIf(handling_started_at IS NOT NULL) AS in_handling,
        min(arrived_at) AS oldest_arrived_at
    FROM analyst_contacts
    WHERE channel IN ('sms', 'email', 'form')
      AND arrived_at IS NOT NULL AND handled_at IS NULL AND NOT redacted
    GROUP BY channel
) AS open ON open.channel = channels.channel;
