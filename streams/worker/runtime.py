"""What every agent of one worker process shares: settings, storage lanes, metrics, services.

The worker's threads and ClickHouse clients (the one statement of them; a lane's mechanism is
streams.storage.store.Store: one client on one thread, calls serialized):

- the event loop: every Kafka client, faust's agents and timers, the raw batch consumer and
  the parsing of its batches (streams.ingest);
- lane `clickhouse` (`Runtime.store`), its own client: the migrations at start-up
  (streams.worker.startup makes it, so they run while the modules import), then only the
  sink's inserts and each batch's look-up of redacted contacts (streams.ingest.service), so an
  insert never queues behind a long job;
- lane `clickhouse-mutations` (`Runtime.mutations`, made at first use), its own client:
  retention and redaction (streams.privacy), subject requests (streams.subjects.agent), the
  analyst store's refresh and the snapshots (streams.analyst): mutations and long reads, one
  after another;
- the metrics server's threads, no client: /metrics, /healthz and /readyz, which ask the loop
  (streams.observability.health).

On the embedded engine both lanes are handles of the process's one chDB engine (chDB runs
queries from different handles in parallel and releases the GIL meanwhile); on a server DSN they
are two HTTP clients. Outside the worker, each CLI command opens a client of its own
(streams.storage.open_client), and `analyst query` runs chDB in a sandboxed child process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from streams.config import Settings
from streams.observability.health import Health
from streams.observability.logs import Throttle
from streams.observability.metrics import Metrics
from streams.storage.store import InFlight, Store


@dataclass
class Runtime:
    settings: Settings
    store: Store
    metrics: Metrics
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Run when the worker stops (closing the clients the agents opened)."""
    services: list[Any] = field(default_factory=list)
    """mode services the worker starts before the faust app and stops with it (the raw batch
    consumer: ingestion need not wait for faust's own start-up, about 1.3 s)."""
    inserts: InFlight = field(default_factory=InFlight)
    """The sink's batches under way, which a redaction lets finish before its mutations."""
    failure_lines: Throttle = field(default_factory=lambda: Throttle(interval=30.0))
    """One log line per job, kind and cause of failure per 30 s while jobs wait and retry
    (streams.retry.until_done); the metrics count every attempt."""

    @cached_property
    def mutations(self) -> Store:
        """The mutation lane (see the module docstring): its jobs' mutations and long reads
        would otherwise hold up the sink's inserts on `store` for seconds."""
        lane = Store(self.settings, lane="clickhouse-mutations")

        async def close() -> None:
            lane.close()

        self.on_shutdown.append(close)
        return lane

    @cached_property
    def health(self) -> Health:
        """What /healthz and /readyz answer (the batch consumer registers itself when it runs)."""
        return Health(ready_within=self.settings.ready_batch_seconds)

    @property
    def salt(self) -> bytes:
        return self.settings.subject_key_salt.get_secret_value().encode()
