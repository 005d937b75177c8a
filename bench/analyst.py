"""Analyst queries at 18 months of realistic volume: every analyst view and every Grafana panel.

    .venv/bin/python bench/analyst.py [--contacts 1500000]

Builds a chDB database with the project's migrations, loads N contacts (about 2.7 lifecycle
events each, 4 channels, 18 months up to now) through the real tables (INSERT ... SELECT into
contact_events, so contacts_mv builds `contacts` as in production; each event stored a second
after it happened), takes the analyst views' snapshot as the leader worker does every
CONTACTSTREAM_ANALYST_STORE_SECONDS (timed: the first one computes everything, the next ones
copy), then times each query of the analyst views and of
deploy/grafana/dashboards/analyst.json (with the dashboard's default range, the last 7 days, and
sl_seconds 60): once cold (the first run after the snapshot) and warm (the best of three more).
The baseline is `SELECT count() FROM contact_events` in the same process.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streams.config import Settings  # noqa: E402
from streams.storage import migrate, open_client  # noqa: E402
from streams.storage.analyst_store import refresh_analyst_store  # noqa: E402

CHUNK = 100_000
# One contact per n: channel, times, advisor, queue, reason and a subject key with repeats.
_LOAD = """
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


def panel_queries() -> dict[str, str]:
    board = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "analyst.json").read_text())
    found = {}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            sql = target.get("rawSql") or target.get("sql")
            if sql:
                sql = re.sub(
                    r"\$__timeFilter\((\w+)\)",
                    r"\1 >= now() - INTERVAL 7 DAY AND \1 <= now()",
                    sql,
                )
                found[f"panel: {panel['title']}"] = sql.replace("${sl_seconds}", "60")
    return found


VIEW_QUERIES = {
    "view: analyst_contacts (7 days)": "SELECT count(), avg(wait_seconds) FROM analyst_contacts "
    "WHERE contact_at >= now() - INTERVAL 7 DAY",
    "view: kpi_hourly (18 months)": "SELECT sum(contacts), sum(offered_calls) FROM kpi_hourly",
    "view: kpi_daily (18 months)": "SELECT sum(contacts), sum(repeat_contacts_7d) FROM kpi_daily",
    "view: kpi_service_level (18 months)": "SELECT sum(answered_within_sl) "
    "FROM kpi_service_level(sl_seconds = 60)",
    "view: kpi_backlog": "SELECT * FROM kpi_backlog",
}


def timed(client: object, sql: str) -> float:
    started = time.perf_counter()
    client.query(sql)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analyst-") as tmp:
        settings = Settings(clickhouse_dsn=f"chdb://{tmp}/ch", data_dir=Path(tmp), mode="dev")
        client = open_client(settings)
        migrate(client, settings)
        started = time.perf_counter()
        span = 548 * 86_400
        for first in range(0, args.contacts, CHUNK):
            count = min(CHUNK, args.contacts - first)
            client.command(_LOAD.format(span=span, first=first, count=count))
        events = client.query("SELECT count() FROM contact_events").result_rows[0][0]
        print(
            f"loaded {args.contacts:,} contacts, {events:,} events through the real tables "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        for which in ("first", "next"):
            started = time.perf_counter()
            refresh_analyst_store(client)
            live = client.query("SELECT count() FROM analyst_live_contact_ids").result_rows[0][0]
            print(
                f"analyst snapshot ({which}): {time.perf_counter() - started:.1f} s; "
                f"contacts computed live: {live:,}",
                flush=True,
            )
        baseline = min(timed(client, "SELECT count() FROM contact_events") for _ in range(3))
        print(f"baseline SELECT count() FROM contact_events: {baseline:.3f} s", flush=True)
        for name, sql in {**VIEW_QUERIES, **panel_queries()}.items():
            cold = timed(client, sql)
            warm = min(timed(client, sql) for _ in range(3))
            print(f"{name}: cold {cold:.2f} s, warm {warm:.2f} s", flush=True)


if __name__ == "__main__":
    main()
