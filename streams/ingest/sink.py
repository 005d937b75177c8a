"""Write a batch of rows to ClickHouse exactly once in effect, following the failure rule.

- Rows are inserted in blocks that each touch at most `max_partitions` partitions of the table
  (ClickHouse refuses a block over `max_partitions_per_insert_block`, 100 by default, however
  often it is retried), each block with its own deterministic deduplication token.
- ClickHouse refusing the values (StorageRejected): the block is bisected to isolate the rows it
  refuses; they are returned for the DLQ, the rest are stored.
- Anything else (down, disk full, read-only, permissions, limits) is about the system: it is
  raised, so the caller's batch waits and is retried whole, with the same tokens; nothing is
  rerouted.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from typing import Any

from streams.errors import StorageError, StorageRejected
from streams.observability.metrics import Metrics
from streams.storage.store import Store, insert_rows

log = logging.getLogger(__name__)


def partition_blocks(
    keys: Sequence[Hashable] | None, count: int, max_partitions: int
) -> list[list[int]]:
    """Indexes of `count` rows grouped so no group spans more than `max_partitions` partition
    keys (`keys[i]` is row i's); row order is kept inside a group, and the same keys always
    give the same groups."""
    if keys is None or not count:
        return [list(range(count))]
    ordered = sorted(set(keys), key=repr)
    if len(ordered) <= max_partitions:
        return [list(range(count))]
    group_of = {k: i // max_partitions for i, k in enumerate(ordered)}
    groups: list[list[int]] = [[] for _ in range(group_of[ordered[-1]] + 1)]
    for index, k in enumerate(keys):
        groups[group_of[k]].append(index)
    return groups


class ClickHouseSink:
    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        table: str,
        columns: Sequence[str],
        max_partitions: int = 50,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.table = table
        self.columns = tuple(columns)
        self.max_partitions = max_partitions

    async def write(
        self, rows: Sequence[Sequence[Any]], token: str, keys: Sequence[Hashable] | None = None
    ) -> list[int]:
        """Store `rows`, `keys` being their partition keys; return the indexes of rows
        ClickHouse refused for their values.

        Raises StorageError (and anything else) when the system cannot store now."""
        if not rows:
            return []
        blocks = partition_blocks(keys, len(rows), self.max_partitions)
        refused: list[int] = []
        for number, indexes in enumerate(blocks):
            block_token = token if len(blocks) == 1 else f"{token}#{number}"
            block = [rows[i] for i in indexes]
            refused += [indexes[i] for i in await self._write_part(block, 0, block_token)]
        return sorted(refused)

    async def _write_part(self, rows: list[Sequence[Any]], base: int, token: str) -> list[int]:
        try:
            await self._insert(rows, token)
        except StorageRejected as exc:
            self.metrics.sink_insert_failures.labels(self.table, "rejected").inc()
            if len(rows) == 1:
                log.warning("ClickHouse refused a row of %s: %s", self.table, exc)
                return [base]
            half = len(rows) // 2
            left = await self._write_part(rows[:half], base, f"{token}/a")
            right = await self._write_part(rows[half:], base + half, f"{token}/b")
            return left + right
        return []

    async def _insert(self, rows: list[Sequence[Any]], token: str) -> None:
        try:
            seconds = await self.store.call(
                lambda client: insert_rows(client, self.table, self.columns, rows, token)
            )
        except StorageRejected:
            raise
        except StorageError:
            self.metrics.sink_insert_failures.labels(self.table, "system").inc()
            self.metrics.sink_retries.labels(self.table).inc()
            raise
        self.metrics.sink_batch_rows.labels(self.table).observe(len(rows))
        self.metrics.sink_insert_seconds.labels(self.table).observe(seconds)
