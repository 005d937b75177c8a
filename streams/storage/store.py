"""The worker's handles on ClickHouse: a Store is one client on one dedicated thread (a lane).

chDB releases the GIL while a query runs, so blocking calls go to a thread and the event loop
keeps serving Kafka heartbeats. A lane serializes its calls, which keeps its client
single-threaded (clickhouse-connect clients are not thread-safe). Which lane does what in a
worker: streams.worker.runtime, the one place that says it. Two clients of one chDB path in one
process are supported: clickhouse-connect's chDB backend opens one `chdb.connect` handle per
client, and chDB documents that any number of handles share the process's one engine, with
per-handle session state, and that queries from different handles are safe and run in parallel.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from streams.config import Settings
from streams.errors import ContactstreamError, StorageError
from streams.storage.client import classify, open_client

T = TypeVar("T")


class Store:
    def __init__(self, settings: Settings, lane: str = "clickhouse") -> None:
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=lane)
        self._client: Client | None = None

    async def call(self, job: Callable[[Client], T]) -> T:
        """Run `job(client)` on the storage thread; driver errors become our classified errors."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, job)

    def call_sync(self, job: Callable[[Client], T]) -> T:
        return self.submit(job).result()

    def submit(self, job: Callable[[Client], T]) -> Future[T]:
        """Start `job(client)` on the storage thread; its result (or error) comes later."""
        return self._executor.submit(self._run, job)

    def _run(self, job: Callable[[Client], T]) -> T:
        try:
            if self._client is None:
                self._client = open_client(self.settings)
            return job(self._client)
        except Exception as exc:
            if isinstance(exc, ContactstreamError) and not isinstance(exc, StorageError):
                # Ours says what is wrong already (an edited migration, a missing extra): as
                # "ClickHouse refused the operation" a worker hid which migration was edited.
                raise
            if self._client is not None and not self.settings.is_embedded:
                self._client = None  # reconnect on the next call (HTTP server may have restarted)
            raise classify(exc, self.settings) from None

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._executor.submit(client.close).result()
        self._executor.shutdown(wait=True)


class InFlight:
    """The sink's batches between their redaction look-up and the end of their insert.

    On its own lane a redaction's mutation can start while such a batch is under way: a batch
    that looked before the redaction's audit row existed would store its personal values after
    the mutation began, beyond its reach. So a redaction waits, once its audit row is written,
    for the batches open at that moment (`drained`); later ones see the audit and strip."""

    def __init__(self) -> None:
        self._open: set[asyncio.Future[None]] = set()

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open.add(done)
        try:
            yield
        finally:
            self._open.discard(done)
            done.set_result(None)

    async def drained(self) -> None:
        """Return once every batch open now has ended (batches opened later do not count)."""
        if self._open:
            await asyncio.wait(set(self._open))


def insert_rows(
    client: Client,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    token: str | None = None,
) -> float:
    """Insert rows in one block; with a token a retried identical insert is dropped by ClickHouse.

    Returns the seconds the insert took.
    """
    settings = {"insert_deduplication_token": token} if token else {}
    started = time.perf_counter()
    client.insert(table, rows, column_names=list(columns), settings=settings)
    return time.perf_counter() - started
