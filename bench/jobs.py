"""The recurring jobs of the steady state, run by the project's own functions on a database
loaded with bench/population.py, and what a run costs the process (wall, CPU, bytes written).

Each job calls the storage functions its agent calls (streams/agents: retention, redaction,
subjects, snapshots, analyst_store) in the same order, without Kafka: the benches follow the
mechanism of the code they run. chDB runs in the process, so its CPU time and its writes (the
engine's threads included) are the process's; it has no system.part_log.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

from bench.population import Population, traffic
from schemas.contact import subject_key
from streams.privacy.sql import (
    ContactKey,
    due_contacts,
    needing_redaction,
    redact,
    remaining_personal,
    retention_counts,
)
from streams.subjects.sql import erase_rows, rectify, subject_contacts

SPAN: Final = timedelta(days=548)
"""18 months, the retention period."""
SETTLE_SECONDS: Final = 60.0
Client = Any


class Cost(NamedTuple):
    wall: float
    cpu: float
    written: int
    """Bytes."""


def written_bytes() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def busy(client: Client) -> int:
    """Merges and mutations still running in this database."""
    return int(
        client.query(
            "SELECT (SELECT count() FROM system.merges WHERE database = currentDatabase()) + "
            "(SELECT count() FROM system.mutations WHERE database = currentDatabase() "
            "AND NOT is_done)"
        ).result_rows[0][0]
    )


def settle(client: Client) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while busy(client) and time.monotonic() < deadline:
        time.sleep(0.2)


def measure(client: Client, job: Callable[[], object]) -> Cost:
    """The job's wall time, and CPU and bytes written including the merges it set off."""
    cpu, written, started = time.process_time(), written_bytes(), time.perf_counter()
    job()
    wall = time.perf_counter() - started
    settle(client)
    return Cost(wall, time.process_time() - cpu, written_bytes() - written)


def median(costs: list[Cost]) -> Cost:
    return Cost(*(statistics.median(values) for values in zip(*costs, strict=True)))


class Jobs:
    """The recurring jobs on one loaded database, each by the project's own functions."""

    def __init__(self, client: Client, population: Population, contacts: int) -> None:
        self.client = client
        self.population = population
        self.settings = population.settings
        self.per_second = contacts / SPAN.total_seconds()

    def between_runs(self, seconds: float) -> None:
        """Store the traffic of `seconds` at this volume's average rate (not timed)."""
        contacts = max(1, round(self.per_second * seconds))
        traffic(self.client, self.population, contacts, timedelta(seconds=seconds))

    def due(self) -> list[ContactKey]:
        settings = self.settings
        found = due_contacts(
            self.client, datetime.now(UTC), settings.retention_months, settings.retention_batch_size
        )
        return [key for key, _ in found]

    def redact(self, keys: list[ContactKey], reason: str) -> None:
        """What the redaction agent does with a batch of tombstones, less the audit row and
        the recordings' deletion requests."""
        client = self.client
        need = list(needing_redaction(client, sorted({key.contact_id for key in keys})))
        if not need:
            return
        redact(client, need, reason, datetime.now(UTC))
        if remaining_personal(client, need):
            raise RuntimeError("rows still hold personal data after the redaction")

    def retention_tick(self, keys: list[ContactKey]) -> None:
        """A retention tick's queries, then the redaction of `keys` (the contacts it finds
        due at the configured interval in the steady state)."""
        now, months = datetime.now(UTC), self.settings.retention_months
        due_contacts(self.client, now, months, len(keys) or 1)
        retention_counts(self.client, now, months)
        self.redact(keys, "retention")

    def erase(self, phones: list[str]) -> None:
        for phone in phones:
            found = subject_contacts(self.client, "phone", phone)
            shared = [c.key for c in found if c.shared]
            if shared:
                erase_rows(self.client, shared, "phone", phone)
            self.redact([c.key for c in found if not c.shared], "erasure")

    def rectify(self, phones: list[str]) -> int:
        """Correct each subject's phone number; the contacts corrected."""
        corrected_contacts = 0
        salt = self.settings.subject_key_salt.get_secret_value().encode()
        for n, phone in enumerate(phones):
            keys = [c.key for c in subject_contacts(self.client, "phone", phone)]
            corrected_contacts += len(keys)
            corrected = f"+35840{9_000_000 + n}"
            rectify(
                self.client,
                keys,
                ("phone", phone),
                "phone",
                (corrected, subject_key(corrected, salt)),
            )
        return corrected_contacts
