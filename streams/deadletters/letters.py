"""Reading the DLQ and `<prefix>.dlq-actions` (docs/dead-letters.md): a snapshot of each, up to
the end offsets when the read started, straight from Kafka (no consumer group, no commit: looking
changes nothing). Used by `contactstream dlq` and by the worker's watch on unhandled letters.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.control import DeadLetter, DlqAction
from streams.config import Settings
from streams.deadletters.redrive import letter_name
from streams.kafka.records import Headers, headers_of
from streams.kafka.topics import topic_partitions


class Stored(NamedTuple):
    """One record of the DLQ, its error context read back (None: unreadable headers)."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: Headers
    letter: DeadLetter | None

    @property
    def name(self) -> str:
        return letter_name(self.partition, self.offset)


async def snapshot(
    settings: Settings, topic: str, start: dict[int, int] | None = None
) -> AsyncGenerator[Any, None]:
    """Every record of `topic` up to its end offsets now; with `start`, only the partitions it
    names, from those offsets."""
    partitions = await topic_partitions(settings, topic)
    chosen = sorted(partitions if start is None else set(partitions) & set(start))
    if not chosen:
        return
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **settings.kafka_client_config())
    try:
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in chosen]
        ends = await consumer.end_offsets(tps)
        firsts = await consumer.beginning_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, max(firsts[tp], (start or {}).get(tp.partition, 0)))
        pending = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=2000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
            pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


async def letters(
    settings: Settings, start: dict[int, int] | None = None
) -> AsyncGenerator[Stored, None]:
    async for record in snapshot(settings, settings.topic("dlq"), start):
        headers = headers_of(record.headers)
        try:
            letter: DeadLetter | None = DeadLetter.from_headers(headers)
        except ValidationError:
            letter = None
        yield Stored(
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value or b"",
            headers,
            letter,
        )


async def redriven_letters(
    settings: Settings, done: set[str] | None = None, start: dict[int, int] | None = None
) -> set[str]:
    """`P:O` of every letter recorded as redriven (added to `done`; from `start` offsets)."""
    done = set() if done is None else done
    async for record in snapshot(settings, settings.topic("dlq-actions"), start):
        if start is not None:
            start[record.partition] = record.offset + 1
        try:
            action = DlqAction.model_validate_json(record.value or b"")
        except ValidationError:
            continue  # not ours to trust: an action we cannot read redrove nothing
        if action.kind == "redriven" and action.letter:
            done.add(action.letter)
    return done
