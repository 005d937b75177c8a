"""Dead letters: an invalid event's bytes, its origin and why (a reason without personal data).

Exactly once in effect without Kafka transactions: a raw partition has one writer at a time, a
dead letter goes to the DLQ partition of the same number as its origin, and the writer remembers
the next raw offset it expects per partition. When a batch does not continue where the last one
ended (a restart or a rebalance re-reads from the committed offset), the writer first reads the
tail of that DLQ partition and skips the letters it had already sent for the re-read offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.control import DeadLetter

# Look this far before the oldest re-read raw record: a dead letter is produced after its origin.
_REPLAY_SLACK_MS = 3_600_000
RawPartition = tuple[str, int]


def dead_letter(message: Any, code: str, reason: str, contact_id: str | None) -> DeadLetter:
    """Build a DeadLetter from a faust/aiokafka message (topic, partition, offset, key, value)."""
    key = message.key
    return DeadLetter(
        original=message.value or b"",
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        contact_id=contact_id,
        error_code=code,
        reason=reason,
        failed_at=datetime.now(UTC),
    )


class DeadLetterWriter:
    """Produces dead letters, once per origin, and waits until Kafka acknowledged them."""

    def __init__(self, topic: Any, bootstrap: str, dlq_name: str, partitions: int) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        self.dlq_name = dlq_name
        self.partitions = partitions
        self._next: dict[RawPartition, int] = {}
        self._sent: dict[RawPartition, set[int]] = {}

    async def send(self, letters: list[DeadLetter], messages: Sequence[Any]) -> int:
        """Send the letters of one batch (`messages` is the whole batch); return skipped ones."""
        await self._check_replays(messages)
        fresh = [x for x in letters if x.offset not in self._sent.get((x.topic, x.partition), ())]
        try:
            await self._produce(fresh)
        except BaseException:
            # Some letters may have reached Kafka before the failure: the retry of this batch
            # must read the DLQ tail first, as after a restart.
            for message in messages:
                self._next.pop((message.topic, message.partition), None)
            raise
        for message in messages:
            origin = (message.topic, message.partition)
            self._next[origin] = max(self._next.get(origin, 0), message.offset + 1)
        return len(letters) - len(fresh)

    async def _produce(self, letters: list[DeadLetter]) -> None:
        futures = []
        for letter in letters:
            key = (letter.contact_id or letter.key or "").encode() or None
            futures.append(
                await self.topic.send(
                    key=key, value=letter.to_json(), partition=letter.partition % self.partitions
                )
            )
        if futures:
            await asyncio.gather(*futures)

    async def _check_replays(self, messages: Sequence[Any]) -> None:
        first: dict[RawPartition, tuple[int, float]] = {}
        for m in messages:
            origin = (m.topic, m.partition)
            offset, stamp = first.get(origin, (m.offset, m.timestamp))
            first[origin] = (min(offset, m.offset), min(stamp, m.timestamp or stamp))
        for origin, (offset, stamp) in first.items():
            if self._next.get(origin) != offset:  # not a continuation: maybe a re-read
                self._sent[origin] = await self._sent_since(origin, offset, stamp)

    async def _sent_since(self, origin: RawPartition, offset: int, stamp: float) -> set[int]:
        """Origin offsets >= `offset` of this raw partition that already have a dead letter."""
        tp = TopicPartition(self.dlq_name, origin[1] % self.partitions)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        found: set[int] = set()
        try:
            consumer.assign([tp])
            since = int(stamp * 1000) - _REPLAY_SLACK_MS if stamp else 0
            start = (await consumer.offsets_for_times({tp: max(0, since)})).get(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            if start is None:
                return found
            consumer.seek(tp, start.offset)
            while await consumer.position(tp) < end:
                for record in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    with contextlib.suppress(ValidationError):
                        letter = DeadLetter.from_json(record.value)
                        if (letter.topic, letter.partition) == origin and letter.offset >= offset:
                            found.add(letter.offset)
        finally:
            await consumer.stop()
        return found
