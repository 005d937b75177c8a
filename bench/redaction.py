"""Redaction cost: batched mutations (what the redaction agent runs) against one per contact,
and the cleared column (no erased byte left) against a constant NULL (the old mechanism).

    .venv/bin/python bench/redaction.py [--contacts 100000] [--batch 10000] [--sample 50]

Loads N backdated contacts (about 2.5 events each, spread over 18 months) into a fresh chDB
database, then in the same process: (1) redacts `sample` other contacts one mutation pair per
contact (the baseline), and (2) redacts all N in batches of `batch` ids with the agent's SQL
(streams.privacy.sql), alternating batch by batch between the product's cleared column
and the old `= NULL` (which leaves the value on disk, ClickHouse #66167). Prints the mutation
counts from system.mutations, the times, and the cost ratios.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta

from schemas.contact import ContactEvent
from schemas.validate import parse_event
from streams.config import Settings
from streams.dev.simulator.contacts import generate
from streams.dev.simulator.events import encode, lifecycle_events
from streams.ingest.rows import EVENT_COLUMNS, Origin, event_row
from streams.privacy.sql import (
    CLEARED,
    MUTATION_SETTINGS,
    REDACTABLE_TABLES,
    ContactKey,
    needing_redaction,
    redact,
    redaction_sql,
    remaining_personal,
)
from streams.storage import migrate, open_client


def load(client: object, contacts: int) -> list[ContactKey]:
    now = datetime.now(UTC)
    sims = generate(5, now - timedelta(days=1100), now - timedelta(days=560), contacts)
    rng = random.Random(6)
    rows = []
    for n, sim in enumerate(sims):
        for event in lifecycle_events(sim, rng):
            parsed = parse_event(sim.channel, encode(event))
            assert isinstance(parsed, ContactEvent)
            rows.append(event_row(parsed, Origin("bench", 0, n), b"salt"))
    for start in range(0, len(rows), 50_000):
        client.insert(
            "contact_events",
            rows[start : start + 50_000],  # type: ignore[attr-defined]
            column_names=list(EVENT_COLUMNS),
        )
    return [ContactKey(s.contact_id, s.channel) for s in sims]


def mutations(client: object) -> int:
    return int(
        client.query(  # type: ignore[attr-defined]
            "SELECT count() FROM system.mutations WHERE database = currentDatabase()"
        ).result_rows[0][0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-redaction-") as tmp:
        settings = Settings(clickhouse_dsn=f"chdb://{tmp}", clickhouse_database="bench")
        client = open_client(settings)
        migrate(client, settings)
        ids = load(client, args.contacts + args.sample)
        sample, batched = ids[: args.sample], ids[args.sample :]
        print(f"loaded {len(ids)} contacts")
        now = datetime.now(UTC)

        before = mutations(client)
        started = time.perf_counter()
        for key in sample:
            redact(client, [key], "retention", now)
        per_contact = (time.perf_counter() - started) / len(sample)
        single_mutations = mutations(client) - before

        before = mutations(client)
        seconds = {"cleared": 0.0, "null": 0.0}
        for n, start in enumerate(range(0, len(batched), args.batch)):
            group = batched[start : start + args.batch]
            need = list(needing_redaction(client, [key.contact_id for key in group]))
            mechanism = "cleared" if n % 2 == 0 else "null"
            started = time.perf_counter()
            if mechanism == "cleared":
                redact(client, need, "retention", now)
            else:
                for table in REDACTABLE_TABLES:
                    sql = redaction_sql(table, need, "retention", now).replace(CLEARED, "NULL")
                    client.command(sql, settings=MUTATION_SETTINGS)
            seconds[mechanism] += time.perf_counter() - started
            assert remaining_personal(client, need) == 0
        batched_seconds = sum(seconds.values())
        batch_mutations = mutations(client) - before
        client.close()
    halves = len(range(0, len(batched), args.batch))
    print(
        f"cleared column vs constant NULL (alternate batches, {halves} in all): "
        f"{seconds['cleared']:.1f} s vs {seconds['null']:.1f} s, "
        f"ratio {seconds['cleared'] / max(seconds['null'], 1e-9):.2f}"
    )
    print(
        f"one per contact: {single_mutations} mutations for {len(sample)} contacts, "
        f"{per_contact * 1000:.0f} ms per contact"
    )
    print(
        f"batched:         {batch_mutations} mutations for {len(batched)} contacts, "
        f"{batched_seconds:.1f} s ({batched_seconds / len(batched) * 1000:.2f} ms per contact)"
    )
    print(
        f"per-contact cost ratio (one-by-one / batched): "
        f"{per_contact / (batched_seconds / len(batched)):.0f}x"
    )


if __name__ == "__main__":
    main()
