"""Analyst snapshot rounds: what a round writes and takes, rewriting everything vs what changed.

    .venv/bin/python bench/snapshots.py [--contacts 200000] [--months 24]

Loads N contacts over the last M months through the real tables (bench/sql_population.py:
contacts_mv builds `contacts` as in production), takes the analyst store's snapshot as the
leader does, writes a first round of snapshots, then after each of these changes runs a round
as the worker now does (streams/analyst/snapshots.py: the periods that changed) and, as the
baseline in the same run, a round as before (every view in full, one file each):
  - nothing changed;
  - a minute of ordinary traffic (100 new contacts now, a late event of an old contact);
  - 10 late events of old contacts (about 10 months touched);
  - a redaction batch of old contacts (retention: the product's redaction);
  - a burst of 20,000 events now.
For each: wall and CPU seconds, the Parquet bytes written and the process's write_bytes
(/proc/self/io: whatever the engine wrote too), and the ratio to the baseline.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.jobs import written_bytes  # noqa: E402
from bench.sql_population import CHUNK  # noqa: E402
from bench.sql_population import SQL_LOAD as _LOAD  # noqa: E402
from streams.analyst.snapshots import ANALYST_VIEWS, write_snapshots  # noqa: E402
from streams.analyst.store import refresh_analyst_store  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.files import write_atomically  # noqa: E402
from streams.privacy import sql as redaction  # noqa: E402
from streams.storage import migrate, open_client  # noqa: E402

# Late events of old contacts: another advisor, ingested now.
_LATE = """
INSERT INTO contact_events
    (event_id, contact_id, channel, event_type, occurred_at, schema_version, source, advisor_id,
     kafka_topic, kafka_partition, kafka_offset)
SELECT concat(contact_id, '-late'), contact_id, channel, 'updated', last_event_at, 1, 'bench',
       'adv-late', concat('contacts.raw.', channel), 0, 0
FROM (SELECT contact_id, any(channel) AS channel, max(last_event_at) AS last_event_at
      FROM contacts WHERE contact_id IN {ids:Array(String)} GROUP BY contact_id)"""


def full_round(client: object, directory: Path) -> int:
    """The round as it was before: every view in full, one file each; the bytes written."""
    total = 0
    for view, source in ANALYST_VIEWS.items():
        data = client.raw_query(f"SELECT * FROM {source}", fmt="Parquet")  # type: ignore[attr-defined]
        write_atomically(directory / f"{view}.parquet", data)
        total += len(data)
    return total


def measured(run: Callable[[], int]) -> tuple[float, float, int, int]:
    """(wall s, CPU s, Parquet bytes, write_bytes) of one round."""
    io, cpu, wall = written_bytes(), time.process_time(), time.perf_counter()
    parquet = run()
    return time.perf_counter() - wall, time.process_time() - cpu, parquet, written_bytes() - io


_STORED_LATER = "least([t0, t1, t2][step + 1] + toIntervalSecond(1), now64(3)) AS ingested_at"
assert _STORED_LATER in _LOAD
# Traffic after the load is stored as the worker stores it: ingested now.
_TRAFFIC = _LOAD.replace(_STORED_LATER, "now64(3) AS ingested_at")


def load(client: object, first: int, count: int, span: int, sql: str = _LOAD) -> None:
    for start in range(first, first + count, CHUNK):
        size = min(CHUNK, first + count - start)
        client.command(sql.format(span=span, first=start, count=size))  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=24)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-snapshots-") as tmp:
        settings = Settings(clickhouse_dsn=f"chdb://{tmp}/ch", data_dir=Path(tmp), mode="dev")
        client = open_client(settings)
        migrate(client, settings)
        started = time.perf_counter()
        load(client, 0, args.contacts, args.months * 30 * 86_400)
        print(
            f"loaded {args.contacts:,} contacts over {args.months} months in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        refresh_analyst_store(client)
        incremental, baseline = Path(tmp) / "analyst", Path(tmp) / "before"
        wall, cpu, parquet, io = measured(
            lambda: sum(p.stat().st_size for p in write_snapshots(client, incremental))
        )
        print(
            f"first round (everything, per period): {wall:.2f} s wall, {cpu:.2f} s CPU, "
            f"{parquet / 1e6:.1f} MB Parquet, {io / 1e6:.1f} MB write_bytes",
            flush=True,
        )
        fresh = args.contacts

        def traffic() -> None:
            nonlocal fresh
            load(client, fresh, 100, 60, _TRAFFIC)  # 100 new contacts in the last minute
            fresh += 100
            client.command(_LATE, parameters={"ids": ["c-7"]})  # and a late event of an old one

        def late_events() -> None:
            ids = [f"c-{n}" for n in range(1, args.contacts, args.contacts // 10)]
            client.command(_LATE, parameters={"ids": ids})  # in about 10 different months

        def redaction_batch() -> None:
            rows = client.query(
                "SELECT contact_id, channel FROM contacts_merged ORDER BY last_event_at LIMIT 50"
            ).result_rows
            keys = [redaction.ContactKey(str(r[0]), str(r[1])) for r in rows]
            redaction.redact(client, keys, "retention", datetime.now(UTC))

        def burst() -> None:
            nonlocal fresh
            load(client, fresh, 7_400, 600, _TRAFFIC)  # ~20,000 events of the last 10 minutes
            fresh += 7_400

        changes: dict[str, Callable[[], None]] = {
            "nothing changed": lambda: None,
            "a minute of traffic": traffic,
            "10 late events of old contacts": late_events,
            "a redaction batch (50 old contacts)": redaction_batch,
            "a burst of 20k events": burst,
        }
        for name, change in changes.items():
            change()
            new = measured(
                lambda: sum(p.stat().st_size for p in write_snapshots(client, incremental))
            )
            old = measured(lambda: full_round(client, baseline))
            print(
                f"{name}: per period {new[0]:.2f} s wall, {new[1]:.2f} s CPU, "
                f"{new[2] / 1e6:.2f} MB Parquet, {new[3] / 1e6:.2f} MB write_bytes | "
                f"in full {old[0]:.2f} s, {old[1]:.2f} s CPU, {old[2] / 1e6:.2f} MB, "
                f"{old[3] / 1e6:.2f} MB | ratio wall {new[0] / old[0]:.3f}, "
                f"bytes {new[2] / old[2]:.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
