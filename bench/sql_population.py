"""A synthetic population generated inside ClickHouse, for benchmarks of what the storage does
with rows (bench/snapshots.py: what a snapshot round writes), where 1.5 M contacts must load in
about a minute. Benchmarks of what analysts see load through the worker's parse path instead
(bench/population.py).

One contact per n: channel, times, advisor, queue, reason and a subject key with repeats.
"""

CHUNK = 100_000
SQL_LOAD = """
INSERT INTO contact_events
    (event_id, contact_id, channel, event_type, occurred_at, schema_version, source, advisor_id,
     queue, reason, arrived_at, handling_started_at, handled_at, phone, email, subject_key,
     kafka_topic, kafka_partition, kafka_offset, ingested_at)
SELECT
    concat(contact_id, '-', toString(step)) AS event_id, contact_id, channel,
    [start_type, middle_type, end_type][step + 1] AS event_type,
    [t0, t1, t2][step + 1] AS occurred_at, 1, 'bench',
    if(step = 0, NULL, concat('adv-', toString(n % 120))) AS advisor_id,
    concat('queue-', toString(n % 9)), concat('reason-', toString(n % 23)),
    if(step = 0, t0, NULL), if(step = 1, t1, NULL), if(step = 2, t2, NULL),
    if(channel IN ('phone', 'sms'), concat('+35850', toString(1000000 + n % 900000)), NULL),
    if(channel IN ('email', 'form'), concat('u', toString(n % 900000), '@example.fi'), NULL),
    concat('k', toString(n % 900000)),
    concat('contacts.raw.', channel), toUInt32(n % 4), toUInt64(n),
    -- Stored a second after it happened (events of calls still going on: now).
    least([t0, t1, t2][step + 1] + toIntervalSecond(1), now64(3)) AS ingested_at
FROM
(
    SELECT
        number AS n,
        concat('c-', toString(n)) AS contact_id,
        ['phone', 'phone', 'sms', 'email', 'email', 'form', 'phone', 'phone'][n % 8 + 1] AS channel,
        if(channel = 'phone', 'queued', 'received') AS start_type,
        if(channel = 'phone', 'answered', 'handling_started') AS middle_type,
        if(channel = 'phone', 'ended', 'handled') AS end_type,
        toDateTime64(now() - toIntervalSecond(cityHash64(n) % {span}), 3, 'UTC') AS t0,
        t0 + toIntervalSecond(cityHash64(n, 1) % 300) AS t1,
        t1 + toIntervalSecond(60 + cityHash64(n, 2) % 900) AS t2,
        -- 8 % of calls are abandoned: no answered step.
        if(channel = 'phone' AND n % 100 < 8, [0, 2], [0, 1, 2]) AS steps
    FROM numbers({first}, {count})
)
ARRAY JOIN steps AS step
"""
