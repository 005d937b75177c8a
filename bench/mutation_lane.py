"""Redaction's cost to ingestion and to the disk, on a realistic table.

    .venv/bin/python bench/mutation_lane.py [--contacts 200000] [--months 20] [--hour-batch 120]

Loads N contacts (through the worker's parse path, streams.schemas.validate) spread over the
last `months` months into a fresh chDB database with the shipped migrations, then, in the same
process:

1. Insert wait: a sink-sized insert (1,000 events of now) alone (the baseline), then while a
   redaction batch (`hour-batch` due contacts, streams.privacy.sql.redact) runs on the
   same storage lane (one thread and client: the old worker) and on a lane of its own (the
   worker's mutation lane). Prints each insert's latency as a ratio of the baseline.
2. Bytes rewritten: the bytes of new files (new inodes) under contact_events' and contacts'
   data directories after a redaction batch of the `minute-batch` oldest due contacts (what a
   60 s retention tick released) and one of the next `hour-batch` (an hourly batch), and the
   per-day totals of each schedule (1,440 minute batches or 24 hourly ones).
3. A contact's look-up (a subject request's or the analyst views' `contact_id IN ...`): the
   parts, rows and granules the engine plans to read in `contacts` (EXPLAIN ESTIMATE), and the
   median time of reading one contact from `contacts_merged`, against `SELECT 1` (the baseline).

Times are wall-clock on a shared, loaded machine: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from schemas.contact import ContactEvent  # noqa: E402
from schemas.validate import parse_event  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.dev.simulator.contacts import generate  # noqa: E402
from streams.dev.simulator.events import encode, lifecycle_events  # noqa: E402
from streams.ingest.rows import EVENT_COLUMNS, Origin, event_row  # noqa: E402
from streams.privacy.sql import ContactKey, due_contacts, quote, redact  # noqa: E402
from streams.storage.migrations import migrate  # noqa: E402
from streams.storage.store import Store, insert_rows  # noqa: E402


def event_rows(contacts: int, start: datetime, end: datetime, seed: int) -> list[list[Any]]:
    rng = random.Random(seed)
    rows = []
    for n, sim in enumerate(generate(seed, start, end, contacts)):
        for event in lifecycle_events(sim, rng):
            parsed = parse_event(sim.channel, encode(event))
            assert isinstance(parsed, ContactEvent)
            rows.append(event_row(parsed, Origin("bench", 0, n), b"salt"))
    return rows


def load(store: Store, rows: list[list[Any]]) -> None:
    # By month, as the sink splits its blocks (max_partitions_per_insert_block).
    rows = sorted(rows, key=lambda row: row[EVENT_COLUMNS.index("occurred_at")])
    for start in range(0, len(rows), 100_000):
        block = rows[start : start + 100_000]
        store.call_sync(
            lambda c, b=block: insert_rows(c, "contact_events", EVENT_COLUMNS, b)  # type: ignore[misc]
        )
    store.call_sync(lambda c: c.command("OPTIMIZE TABLE contacts FINAL"))
    store.call_sync(lambda c: c.command("OPTIMIZE TABLE contact_events FINAL"))


def inodes(store: Store, tables: tuple[str, ...]) -> dict[int, int]:
    """Inode -> size of every file of these tables' active and old parts."""
    paths = store.call_sync(
        lambda c: (
            c.query(
                "SELECT arrayJoin(data_paths) FROM system.tables "
                "WHERE database = currentDatabase() AND name IN {t:Array(String)}",
                parameters={"t": list(tables)},
            ).result_rows
        )
    )
    found: dict[int, int] = {}
    for (path,) in paths:
        for root, _, files in os.walk(path):
            for name in files:
                stat = os.stat(os.path.join(root, name))
                found[stat.st_ino] = stat.st_size
    return found


def written_by(store: Store, job: Callable[[Any], object], tables: tuple[str, ...]) -> list[int]:
    """Bytes of the files `job` created under each table's data directory."""
    before = [inodes(store, (table,)) for table in tables]
    store.call_sync(job)
    after = [inodes(store, (table,)) for table in tables]
    return [
        sum(size for inode, size in new.items() if inode not in old)
        for old, new in zip(before, after, strict=True)
    ]


def median_seconds(store: Store, sql: str, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        store.call_sync(lambda c: c.query(sql))
        times.append(time.perf_counter() - started)
    return sorted(times)[runs // 2]


def lookup_cost(store: Store, contact_id: str) -> str:
    """What reading one contact costs (see the module's docstring, 3.)."""
    where = f"WHERE contact_id = {quote(contact_id)}"
    [(_, _, parts, rows, marks)] = store.call_sync(
        lambda c: c.query(f"EXPLAIN ESTIMATE SELECT * FROM contacts {where}").result_rows
    )
    lookup = median_seconds(store, f"SELECT * FROM contacts_merged {where}")
    baseline = median_seconds(store, "SELECT 1")
    return (
        f"a contact's look-up plans {parts} parts, {rows} rows, {marks} granules of contacts; "
        f"reading it from contacts_merged: {lookup * 1000:.1f} ms "
        f"({lookup / baseline:.1f}x SELECT 1, {baseline * 1000:.1f} ms)"
    )


def insert_seconds(lane: Store, rows: list[list[Any]], token: str) -> float:
    started = time.perf_counter()
    lane.call_sync(lambda c: insert_rows(c, "contact_events", EVENT_COLUMNS, rows, token))
    return time.perf_counter() - started


def insert_during(
    ingest: Store, mutations: Store, batch: list[ContactKey], rows: list[list[Any]], token: str
) -> tuple[float, float]:
    """(the insert's latency, the redaction's) with the redaction started first."""
    started = time.perf_counter()
    running: Future[None] = mutations.submit(
        lambda c: redact(c, batch, "retention", datetime.now(UTC))
    )
    time.sleep(0.2)  # the mutation is under way when the insert arrives
    waited = insert_seconds(ingest, rows, token)
    running.result()
    return waited, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=20)
    parser.add_argument("--minute-batch", type=int, default=2)
    parser.add_argument("--hour-batch", type=int, default=120)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-mutation-lane-") as tmp:
        settings = Settings(clickhouse_dsn=f"chdb://{tmp}/ch", clickhouse_database="bench")
        ingest, mutations = Store(settings), Store(settings)
        ingest.call_sync(lambda c: migrate(c, settings))
        started = time.perf_counter()
        rows = event_rows(args.contacts, now - timedelta(days=30.4 * args.months), now, 7)
        load(ingest, rows)
        print(
            f"loaded {args.contacts} contacts, {len(rows)} events "
            f"in {time.perf_counter() - started:.0f} s"
        )
        due = [key for key, _ in ingest.call_sync(lambda c: due_contacts(c, now, 18, 100_000))]
        print(f"{len(due)} contacts due")
        # Six hour batches for the lane timings, then a minute batch and an hour batch.
        needed = 7 * args.hour_batch + args.minute_batch
        if len(due) < needed:
            raise SystemExit(
                f"this run needs {needed} contacts due: more --contacts or --months, "
                "or a smaller --hour-batch"
            )
        print(lookup_cost(ingest, due[len(due) // 2].contact_id))
        fresh = event_rows(400, now - timedelta(minutes=5), now, 8)[:1000]

        batches = [
            due[i : i + args.hour_batch] for i in range(0, 6 * args.hour_batch, args.hour_batch)
        ]
        alone = min(insert_seconds(ingest, fresh, f"alone-{i}") for i in range(3))
        shared, shared_job = insert_during(ingest, ingest, batches[0], fresh, "shared")
        own, own_job = insert_during(ingest, mutations, batches[1], fresh, "own")
        print(f"insert of {len(fresh)} events alone: {alone * 1000:.0f} ms (baseline 1.00)")
        print(
            f"  during a redaction of {args.hour_batch} on the same lane: {shared * 1000:.0f} ms "
            f"({shared / alone:.1f}x; the redaction took {shared_job:.1f} s)"
        )
        print(
            f"  during a redaction of {args.hour_batch} on its own lane:  {own * 1000:.0f} ms "
            f"({own / alone:.1f}x; the redaction took {own_job:.1f} s)"
        )

        rest = due[6 * args.hour_batch :]
        minute, hour = rest[: args.minute_batch], rest[args.minute_batch :][: args.hour_batch]
        for name, batch, per_day in (("minute", minute, 1440), ("hour", hour, 24)):
            events, contacts = written_by(
                mutations,
                lambda c, b=batch: redact(c, b, "retention", now),  # type: ignore[misc]
                ("contact_events", "contacts"),
            )
            print(
                f"{name} batch ({len(batch)} contacts): {events / 1e6:.1f} MB of "
                f"contact_events + {contacts / 1e6:.1f} MB of contacts; "
                f"{per_day} a day: {(events + contacts) * per_day / 1e9:.2f} GB/day"
            )
        mutations.close()
        ingest.close()


if __name__ == "__main__":
    main()
