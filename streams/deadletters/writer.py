"""Dead letters: the original record, unchanged, with why and where from in its headers.

Shaped like a Kafka Connect dead letter but with our own header names: a dead letter's key, value
and headers are the original record's, plus `contactstream.error.*` headers
(schemas.control.DeadLetter; not Connect's `__connect.errors.*`). Only the pipeline writes
those: a producer's own `contactstream.error.*` headers are dropped, or it could forge a letter's
origin or reason (every other header is kept). The DLQ topic accepts records
a little larger than the raw topics do (streams.kafka.topics), so a letter always fits: a refused
record can never stop its channel.

Exactly once in effect without Kafka transactions: a raw partition has one reader at a time, a
dead letter goes to the DLQ partition of the same number as its origin, and the writer remembers
the next raw offset it expects per partition. When a batch does not continue where the last one
ended (a restart or a rebalance re-reads from the committed offset), the writer first reads the
tail of that DLQ partition and skips the letters it had already sent for the re-read offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from schemas.control import DLQ_HEADER_PREFIX, DeadLetter
from streams.kafka.records import RawRecord, Span, headers_without, partition_spans

# Look this far before the oldest re-read raw record: a dead letter is produced after its origin.
_REPLAY_SLACK_MS = 3_600_000
PRODUCE_BATCH_BYTES = 1 << 20
RawPartition = tuple[str, int]


class Letter(NamedTuple):
    """One record on its way to the DLQ: the original and the error context."""

    record: RawRecord
    context: DeadLetter


def dead_letter(record: RawRecord, code: str, reason: str, contact_id: str | None) -> Letter:
    """The dead letter of `record`: refused with `code` for `reason` (no personal data)."""
    return Letter(
        record,
        DeadLetter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp_ms,
            contact_id=contact_id,
            error_code=code,
            reason=reason,
            failed_at=datetime.now(UTC),
        ),
    )


class DeadLetterWriter:
    """Produces dead letters, once per origin, and waits until Kafka acknowledged them.

    It owns its producer (made in `start`, inside the running loop as aiokafka requires; stopped
    in `close`): idempotent, so a produce retry during broker trouble cannot duplicate a letter,
    and allowed records as large as the DLQ topic takes."""

    def __init__(
        self,
        client_config: dict[str, Any],
        dlq_name: str,
        partitions: int,
        max_request_size: int,
    ) -> None:
        self.client_config = client_config
        self.dlq_name = dlq_name
        self.partitions = partitions
        self.max_request_size = max_request_size
        self._producer: AIOKafkaProducer | None = None
        self._next: dict[RawPartition, int] = {}
        self._sent: dict[RawPartition, set[int]] = {}
        self._reader: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            # A batch's letters go out in a few produce batches: at aiokafka's default 16 KiB a
            # send() waits for a full batch to drain every ~18 letters, each wait costing a turn
            # of the event loop shared with parsing (0.3-0.7 s per 400 letters).
            max_batch_size=PRODUCE_BATCH_BYTES,
            # A dead letter is its original (up to the raw topics' limit) plus headers.
            max_request_size=self.max_request_size,
            **self.client_config,
        )
        await producer.start()
        self._producer = producer

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "start() first"
        return self._producer

    async def send(self, letters: list[Letter], records: Sequence[RawRecord]) -> list[Letter]:
        """Send the letters of one batch (`records` is the whole batch); return those sent (the
        others had been sent before this batch was re-read)."""
        spans = partition_spans(records)
        await self._check_replays(spans)
        fresh = [x for x in letters if x.record.offset not in self._sent.get(_origin(x.record), ())]
        try:
            await self._produce(fresh)
        except BaseException:
            # Some letters may have reached Kafka before the failure: the retry of this batch
            # must read the DLQ tail first, as after a restart.
            for origin in spans:
                self._next.pop(origin, None)
            raise
        for origin, span in spans.items():
            self._next[origin] = max(self._next.get(origin, 0), span.last + 1)
        return fresh

    async def _produce(self, letters: list[Letter]) -> None:
        futures = []
        for record, context in letters:
            futures.append(
                await self.producer.send(
                    self.dlq_name,
                    value=record.value,
                    key=record.key,
                    partition=record.partition % self.partitions,
                    headers=[
                        *headers_without(record.headers, (DLQ_HEADER_PREFIX,)),
                        *context.headers(),
                    ],
                )
            )
        if futures:
            await asyncio.gather(*futures)

    async def revoked(self, partitions: Iterable[tuple[str, int]]) -> None:
        """Partitions moved to another worker: every letter already handed to the producer is
        written before the revoke completes (so the new owner's replay check sees it), and the
        next assignment of these partitions starts with a replay check again."""
        await self.producer.flush()
        for origin in partitions:
            self._next.pop(origin, None)
            self._sent.pop(origin, None)

    async def close(self) -> None:
        """Stop the DLQ reader of the replay checks and the producer."""
        reader, self._reader = self._reader, None
        if reader is not None:
            await reader.stop()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def _check_replays(self, spans: dict[RawPartition, Span]) -> None:
        rereads = {
            origin: (span.first, span.oldest_ms)
            for origin, span in spans.items()
            if self._next.get(origin) != span.first  # not a continuation: maybe a re-read
        }
        if rereads:
            # All partitions at once: after an assignment every one of them needs the check.
            found = await self._sent_since(rereads)
            for origin in rereads:
                self._sent[origin] = found.get(origin, set())

    async def _sent_since(
        self, rereads: dict[RawPartition, tuple[int, int]]
    ) -> dict[RawPartition, set[int]]:
        """Per raw partition, its offsets >= the given one that already have a dead letter: one
        pass over the DLQ partitions concerned, from an hour before the oldest re-read record,
        with one reader kept for the process (a new consumer per check cost ~0.5 s)."""
        wanted: dict[TopicPartition, dict[RawPartition, int]] = {}
        since: dict[TopicPartition, int] = {}
        for origin, (offset, stamp) in rereads.items():
            tp = TopicPartition(self.dlq_name, origin[1] % self.partitions)
            wanted.setdefault(tp, {})[origin] = offset
            start = max(0, stamp - _REPLAY_SLACK_MS) if stamp else 0
            since[tp] = min(since.get(tp, start), start)
        reader = await self._dlq_reader()
        try:
            reader.assign(list(wanted))
            starts = await reader.offsets_for_times(since)
            ends = await reader.end_offsets(list(wanted))
            pending = set()
            for tp, start_at in starts.items():
                if start_at is not None and start_at.offset < ends[tp]:
                    reader.seek(tp, start_at.offset)
                    pending.add(tp)
            found: dict[RawPartition, set[int]] = {}
            while pending:
                batches = await reader.getmany(*pending, timeout_ms=1000)
                for tp, letters in batches.items():
                    _collect(letters, wanted[tp], found)
                for tp in list(pending):
                    if await reader.position(tp) >= ends[tp]:
                        pending.discard(tp)
            return found
        except BaseException:
            # A reader in an unknown state is not reused.
            await self.close()
            raise

    async def _dlq_reader(self) -> AIOKafkaConsumer:
        if self._reader is None:
            reader = AIOKafkaConsumer(enable_auto_commit=False, **self.client_config)
            try:
                await reader.start()
            except BaseException:
                await reader.stop()  # no unclosed client left behind
                raise
            self._reader = reader
        return self._reader


def _collect(
    records: Iterable[Any], wanted: dict[RawPartition, int], found: dict[RawPartition, set[int]]
) -> None:
    """Add the origin offsets of the dead letters among `records` that `wanted` asks for."""
    for record in records:
        with contextlib.suppress(ValidationError):
            letter = DeadLetter.from_headers(record.headers or ())
            origin = (letter.topic, letter.partition)
            if origin in wanted and letter.offset >= wanted[origin]:
                found.setdefault(origin, set()).add(letter.offset)


def _origin(record: RawRecord) -> RawPartition:
    return (record.topic, record.partition)
