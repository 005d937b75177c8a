"""Consumer lag as the broker sees it: end offset minus the group's committed offset, for every
raw partition, whether this worker holds it or not and whether or not batches succeed.

So a stuck or stopped worker shows growing lag instead of no series (design section 7). Every
worker of the group exports the same values; the alert rules take the max per partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.observability.logs import Throttle
from streams.observability.metrics import Metrics

log = logging.getLogger(__name__)


def lag_by_partition(
    ends: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Messages not yet committed per partition; a partition never committed lags by its whole
    retained length (the group starts from the earliest offset)."""
    return {tp: max(0, end - committed.get(tp, 0)) for tp, end in ends.items()}


class ProgressClock:
    """When each partition's committed offset last moved while it was behind."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()  # a partition first seen behind has not moved since we started
        self._offset: dict[TopicPartition, int] = {}
        self._since: dict[TopicPartition, float] = {}

    def observe(
        self, committed: Mapping[TopicPartition, int], lag: Mapping[TopicPartition, int]
    ) -> None:
        now = self.clock()
        for tp, behind in lag.items():
            offset = committed.get(tp, 0)
            if behind == 0 or (tp in self._offset and self._offset[tp] != offset):
                self._since[tp] = now
            self._since.setdefault(tp, self.started)
            self._offset[tp] = offset

    def ages(self, lag: Mapping[TopicPartition, int]) -> dict[TopicPartition, float]:
        """Seconds without progress per partition; 0 for a partition that is caught up."""
        now = self.clock()
        return {
            tp: (now - self._since.get(tp, now)) if behind else 0.0 for tp, behind in lag.items()
        }


class BrokerLag:
    """Reads end and committed offsets with its own clients and sets the lag gauges."""

    def __init__(
        self,
        metrics: Metrics,
        client_config: dict[str, Any],
        group: str,
        topics: Iterable[str],
        partitions: int,
    ) -> None:
        self.metrics = metrics
        self.client_config = client_config
        self.group = group
        self.partitions = [TopicPartition(t, p) for t in sorted(topics) for p in range(partitions)]
        self.progress = ProgressClock()
        self.lag: dict[TopicPartition, int] = {tp: 0 for tp in self.partitions}
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._throttle = Throttle(interval=60.0)
        self._publish()

    async def refresh(self) -> None:
        """One reading; on failure the last values stay and the progress age keeps growing."""
        try:
            ends, committed = await self._read()
        except Exception as exc:  # Kafka trouble: the worker's own jobs report it too
            await self.close()
            if self._throttle.allow(type(exc).__name__) is not None:
                log.warning("consumer lag not refreshed: %s", type(exc).__name__)
        else:
            self.lag = lag_by_partition(ends, committed)
            self.progress.observe(committed, self.lag)
        self._publish()

    def _publish(self) -> None:
        ages = self.progress.ages(self.lag)
        for tp, behind in self.lag.items():
            labels = (tp.topic, str(tp.partition))
            self.metrics.consumer_lag.labels(*labels).set(behind)
            self.metrics.consumer_progress_age.labels(*labels).set(round(ages.get(tp, 0.0), 1))

    async def _read(self) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        admin, consumer = self._admin, self._consumer
        if admin is None or consumer is None:
            admin, consumer = await self._open()
        ends = await consumer.end_offsets(self.partitions)
        offsets = await admin.list_consumer_group_offsets(self.group, partitions=self.partitions)
        committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return dict(ends), committed

    async def _open(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        admin = AIOKafkaAdminClient(**self.client_config)
        consumer = AIOKafkaConsumer(enable_auto_commit=False, **self.client_config)
        self._admin, self._consumer = admin, consumer  # close() stops them if a start fails
        await admin.start()
        await consumer.start()
        return admin, consumer

    async def close(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        try:
            if consumer is not None:
                await consumer.stop()
            if admin is not None:
                await admin.close()
        except Exception:  # closing after a failure: nothing more to do
            log.debug("closing a lag client failed", exc_info=True)
