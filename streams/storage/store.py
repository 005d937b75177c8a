"""The worker's handle on ClickHouse: one client on one dedicated thread.

chDB releases the GIL while a query runs, so blocking calls go to a thread and the event loop
keeps serving Kafka heartbeats. One thread serializes every ClickHouse call of the process, which
keeps the client single-threaded (clickhouse-connect clients are not thread-safe).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from streams.config import Settings
from streams.storage.client import classify, open_client
from streams.storage.migrations import migrate

T = TypeVar("T")


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client: Client | None = None

    async def call(self, job: Callable[[Client], T]) -> T:
        """Run `job(client)` on the storage thread; driver errors become our classified errors."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, job)

    def call_sync(self, job: Callable[[Client], T]) -> T:
        return self._executor.submit(self._run, job).result()

    def _run(self, job: Callable[[Client], T]) -> T:
        try:
            if self._client is None:
                self._client = open_client(self.settings)
            return job(self._client)
        except Exception as exc:
            if self._client is not None and not self.settings.is_embedded:
                self._client = None  # reconnect on the next call (HTTP server may have restarted)
            raise classify(exc, self.settings) from None

    def migrate(self) -> list[str]:
        return self.call_sync(lambda client: migrate(client, self.settings))

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._executor.submit(client.close).result()
        self._executor.shutdown(wait=True)


def insert_lines(
    client: Client,
    table: str,
    columns: Sequence[str],
    lines: Sequence[bytes],
    token: str | None = None,
) -> float:
    """Insert encoded rows (JSONCompactEachRow lines, streams.prepare.encode_row) in one block;
    with a token a retried identical insert is dropped by ClickHouse. ClickHouse parses them
    (in C++, without the GIL), unlike the driver's Native encoding (Python, about 8 µs a row).

    Returns the seconds the insert took.
    """
    settings: dict[str, Any] = {
        "date_time_input_format": "best_effort",
        # One parsing thread: a block of a few MB gains nothing from more, and on a small machine
        # they take the cores the worker's event loop needs (measured: 11 % less CPU per insert).
        "input_format_parallel_parsing": 0,
    }
    if token:
        settings["insert_deduplication_token"] = token
    started = time.perf_counter()
    client.raw_insert(
        table, list(columns), b"\n".join(lines), settings=settings, fmt="JSONCompactEachRow"
    )
    return time.perf_counter() - started
