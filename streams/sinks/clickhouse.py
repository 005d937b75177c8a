"""Write a batch of rows to ClickHouse exactly once in effect.

- Retriable failures (ClickHouse down, overloaded): wait with capped exponential backoff and try
  again with the same deduplication token, for as long as it takes. The caller has not acked the
  batch, so faust's backpressure stops fetching meanwhile and nothing is lost.
- Non-retriable failures: bisect the batch to isolate the rows ClickHouse refuses; they are
  returned to the caller for the DLQ, the rest are stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from streams.errors import StorageError, StorageUnavailable
from streams.metrics import Metrics
from streams.storage.store import Store, insert_rows

log = logging.getLogger(__name__)


class ClickHouseSink:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        table: str,
        columns: Sequence[str],
        retry_max_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.table = table
        self.columns = tuple(columns)
        self.retry_max_seconds = retry_max_seconds

    async def write(self, rows: list[list[Any]], token: str) -> list[int]:
        """Store `rows`; return the indexes of rows ClickHouse refused for good."""
        if not rows:
            return []
        return await self._write_part(rows, 0, token)

    async def _write_part(self, rows: list[list[Any]], base: int, token: str) -> list[int]:
        try:
            await self._insert_with_retry(rows, token)
        except StorageError as exc:
            self.metrics.sink_insert_failures.labels(self.table, "rejected").inc()
            if len(rows) == 1:
                log.warning("ClickHouse refused a row of %s: %s", self.table, exc)
                return [base]
            half = len(rows) // 2
            left = await self._write_part(rows[:half], base, f"{token}/a")
            right = await self._write_part(rows[half:], base + half, f"{token}/b")
            return left + right
        return []

    async def _insert_with_retry(self, rows: list[list[Any]], token: str) -> None:
        delay = 0.2
        while True:
            try:
                seconds = await self.store.call(
                    lambda client: insert_rows(client, self.table, self.columns, rows, token)
                )
            except StorageUnavailable as exc:
                self.metrics.sink_insert_failures.labels(self.table, "retriable").inc()
                self.metrics.sink_retries.labels(self.table).inc()
                log.warning(
                    "insert of %d rows into %s paused: %s; retrying in %.1fs",
                    len(rows),
                    self.table,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max_seconds)
                continue
            self.metrics.sink_batch_rows.labels(self.table).observe(len(rows))
            self.metrics.sink_insert_seconds.labels(self.table).observe(seconds)
            return
