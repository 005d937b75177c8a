"""What every agent of one worker process shares: settings, storage, metrics, producers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from streams.config import Settings
from streams.observability.health import Health
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

    @cached_property
    def mutations(self) -> Store:
        """The second storage lane (own thread, own client): retention, redaction, subject
        requests, the analyst store's refresh and the snapshots, whose mutations and long reads
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
