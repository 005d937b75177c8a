"""Test child process: two batch consumers of one group in one process, sharing one ClickHouse
(as two workers share a ClickHouse server), through two rebalances while the raw topics drain.

Consumer A starts alone; once the group has committed something, B joins (every partition is
revoked and reassigned); once more is committed, A leaves (B takes everything); B runs until the
group has committed every raw offset. Prints JSON: revokes per consumer and the committed
progress at each step. Settings come from the environment (tests.support.harness.worker_env).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from streams.config import CHANNELS, Settings
from streams.deadletters.writer import DeadLetterWriter
from streams.ingest.consumer import BatchLimits, RawBatchConsumer, raw_group
from streams.ingest.service import BatchNormalizer
from streams.kafka.topics import dlq_max_message_bytes
from streams.observability.metrics import Metrics
from streams.storage.store import Store
from streams.worker.runtime import Runtime
from streams.worker.startup import prepare
from tests.support.harness import committed, end_offsets


class CountingRevokes(BatchNormalizer):
    """The worker's handler, counting the revokes it is told of."""

    revokes = 0

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        self.revokes += 1
        await super().revoked(partitions)


class Member:
    """One consumer of the group with its own DLQ producer, like one worker process."""

    def __init__(self, runtime: Runtime, name: str) -> None:
        settings = runtime.settings
        self.name = name
        self.client = settings.kafka_client_config()
        self.dlq = DeadLetterWriter(
            self.client,
            settings.topic("dlq"),
            settings.raw_partitions,
            dlq_max_message_bytes(settings),
        )
        channels = {settings.topic(f"raw.{channel}"): channel for channel in CHANNELS}
        self.normalizer = CountingRevokes(runtime, channels, self.dlq)
        self.consumer = RawBatchConsumer(
            self.client,
            settings.app_id,
            list(channels),
            self.normalizer,
            BatchLimits(
                settings.sink_batch_max_rows,
                settings.sink_batch_max_bytes,
                settings.sink_batch_max_seconds,
            ),
            settings.consumer_fetch_bytes,
        )
        self.task: asyncio.Task[None] | None = None

    @property
    def revokes(self) -> int:
        return self.normalizer.revokes

    async def start(self, settings: Settings) -> None:
        await self.dlq.start()
        await self.consumer.start()
        self.task = asyncio.ensure_future(self.consumer.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.consumer.stop()
        await self.dlq.close()


async def scenario(settings: Settings, store: Store) -> None:
    runtime = Runtime(settings=settings, store=store, metrics=Metrics.create(CollectorRegistry()))
    bootstrap, group = settings.kafka_bootstrap, raw_group(settings.app_id)
    total = sum(
        (await end_offsets(bootstrap, [settings.topic(f"raw.{c}") for c in CHANNELS])).values()
    )
    a, b = Member(runtime, "a"), Member(runtime, "b")
    await a.start(settings)
    steps: dict[str, int] = {}

    async def wait_until(share: float) -> int:
        while (done := sum((await committed(bootstrap, group)).values())) < total * share:
            await asyncio.sleep(0.05)
        return done

    steps["b_joins"] = await wait_until(0.1)
    await b.start(settings)
    steps["a_leaves"] = await wait_until(0.5)
    await a.stop()
    steps["done"] = await wait_until(1.0)
    await b.stop()
    print(json.dumps({"total": total, "steps": steps, "revokes": {"a": a.revokes, "b": b.revokes}}))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = Settings()
    store = Store(settings)
    try:
        prepare(settings, store)  # topics and migrations, as the worker's set-up does
        asyncio.run(scenario(settings, store))
    finally:
        store.close()
