"""A realistic contact population for the benchmarks, stored through the worker's own parse path.

The simulator (streams/dev/simulator) makes the contacts and cuts them into the raw events upstream
systems publish; streams.ingest.prepare (the worker's decode, validate, normalize and key step)
turns
each chunk into contact_events rows; streams.storage.store.insert_rows stores them in blocks of
at most MAX_MONTHS_PER_INSERT months, as the sink does. Only `ingested_at` is the bench's own:
history is stored a second after it happened (capped at now), as a worker running all along
would have stored it, so that a fresh analyst snapshot sees it as old rather than as changed.

Identities repeat as in the simulator (a quarter of the people make 30 % of the contacts), with
one person per `CONTACTS_PER_PERSON` contacts, so subject keys carry repeat contacts at any size.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

from streams.config import Settings
from streams.dev.simulator.contacts import People, SimContact, arrival_times, make_contact
from streams.dev.simulator.events import encode, lifecycle_events
from streams.ingest.prepare import Task, latest_allowed, prepare
from streams.ingest.rows import EVENT_COLUMNS
from streams.ingest.sink import partition_blocks
from streams.kafka.records import RawRecord
from streams.storage.store import insert_rows

CONTACTS_PER_PERSON: Final = 4
CHUNK_CONTACTS: Final = 20_000
"""Contacts generated, parsed and stored at a time (bounds the loader's memory)."""
PARTITIONS: Final = 4
MONTHS_PER_BLOCK: Final = 12
_COLUMNS: Final = (*EVENT_COLUMNS, "ingested_at")
_OCCURRED: Final = EVENT_COLUMNS.index("occurred_at")
_TOPIC_PREFIX: Final = "bench"


class Loaded(NamedTuple):
    contacts: int
    events: int
    phones: list[str]
    """A few identities that made several contacts (for subject requests), most frequent first."""


class Population:
    """Seeded contacts and their raw records; offsets go on across calls, as on a topic."""

    def __init__(self, settings: Settings, contacts: int, seed: int = 22) -> None:
        self.settings = settings
        self.rng = random.Random(seed)
        self.people = People(self.rng, max(100, contacts // CONTACTS_PER_PERSON))
        self.channels = {f"{_TOPIC_PREFIX}.raw.{c}": c for c in ("phone", "sms", "email", "form")}
        self._offset = 0
        self._seq = 0

    def position(self) -> dict[str, Any]:
        """Where the sequence stands (the random state, offsets), to resume it elsewhere."""
        version, state, gauss = self.rng.getstate()
        return {"rng": [version, list(state), gauss], "offset": self._offset, "seq": self._seq}

    def resume(self, position: dict[str, Any]) -> None:
        """Go on from `position` (of a Population made with the same seed and count)."""
        version, state, gauss = position["rng"]
        self.rng.setstate((version, tuple(state), gauss))
        self._offset, self._seq = position["offset"], position["seq"]

    def contacts(
        self, start: datetime, end: datetime, count: int, now: datetime
    ) -> Iterator[list[SimContact]]:
        """`count` contacts arriving between start and end (daily and weekly seasonality), as
        of `now`, in chunks of at most CHUNK_CONTACTS in time order."""
        pieces = max(1, -(-count // CHUNK_CONTACTS))
        step = (end - start) / pieces
        for piece in range(pieces):
            size = count // pieces + (1 if piece < count % pieces else 0)
            lo = start + step * piece
            times = arrival_times(self.rng, lo, lo + step, size)
            chunk = []
            for moment in times:
                chunk.append(make_contact(self.rng, self.people, moment, self._seq, now))
                self._seq += 1
            yield chunk

    def records(self, contacts: Sequence[SimContact]) -> list[RawRecord]:
        """The raw records upstream systems would publish for these contacts."""
        records = []
        for sim in contacts:
            topic = f"{_TOPIC_PREFIX}.raw.{sim.channel}"
            key = sim.contact_id.encode()
            for event in lifecycle_events(sim, self.rng):
                self._offset += 1
                partition = self._offset % PARTITIONS
                records.append(RawRecord(topic, partition, self._offset, None, key, encode(event)))
        return records

    def rows(self, records: Sequence[RawRecord], now: datetime) -> list[list[Any]]:
        """contact_events rows by the worker's prepare step (every record must be accepted)."""
        prepared = prepare(
            Task(
                channels=self.channels,
                items=records,
                base=0,
                not_after=latest_allowed(self.settings.max_future_skew_seconds, now),
                salt=self.settings.subject_key_salt.get_secret_value().encode(),
                limits=self.settings.limits,
            )
        )
        if prepared.refused:
            codes = sorted({refusal.code for refusal in prepared.refused})
            raise RuntimeError(f"the worker refused {len(prepared.refused)} events: {codes}")
        return prepared.rows


def backdated(rows: list[list[Any]], now: datetime) -> list[list[Any]]:
    """Each row with `ingested_at` a second after its event happened, at most `now`."""
    second = timedelta(seconds=1)
    return [[*row, min(row[_OCCURRED] + second, now)] for row in rows]


def store(client: Any, rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows (with `ingested_at` last) in blocks the engine accepts, as the sink does."""
    months = [row[_OCCURRED].year * 100 + row[_OCCURRED].month for row in rows]
    for group in partition_blocks(months, len(rows), MONTHS_PER_BLOCK):
        insert_rows(client, "contact_events", _COLUMNS, [rows[i] for i in group])


def load(client: Any, population: Population, start: datetime, end: datetime, count: int) -> Loaded:
    """Store `count` contacts that arrived between start and end as history."""
    now = datetime.now(UTC)
    events = 0
    seen: dict[str, int] = {}
    for chunk in population.contacts(start, end, count, min(end, now)):
        for sim in chunk:
            if sim.phone:
                seen[sim.phone] = seen.get(sim.phone, 0) + 1
        rows = population.rows(population.records(chunk), now)
        store(client, backdated(rows, now))
        events += len(rows)
    phones = sorted(seen, key=lambda phone: (-seen[phone], phone))[:20]
    return Loaded(count, events, phones)


def traffic(client: Any, population: Population, contacts: int, window: timedelta) -> int:
    """Store `contacts` new contacts of the last `window`, ingested now (what changed since a
    snapshot); the events stored."""
    now = datetime.now(UTC)
    events = 0
    for chunk in population.contacts(now - window, now, contacts, now):
        rows = population.rows(population.records(chunk), now)
        store(client, [[*row, now] for row in rows])
        events += len(rows)
    return events
