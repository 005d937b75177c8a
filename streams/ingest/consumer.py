"""Raw topics consumed in batches below faust's per-event stream path (design section 9).

An aiokafka consumer in its own group (`<app id>-raw`, manual commits) runs as a service of the
faust app, so the worker's start, SIGTERM and shutdown stay faust's, while faust keeps the timers,
leader election, tombstones and subject requests. One loop: `getmany` up to a record and a byte
bound with a short linger, then per channel parse + rows + one insert per block with its
deduplication token + dead letters (BatchNormalizer, the failure rule), then a commit of the
batch's explicit offsets (last + 1 per partition), never the consumer's position. Batch N is
stored while batch N+1 is parsed and N+2 fetched; N+1 is stored only after N is committed.

Rebalances: when partitions are revoked, the batch in flight may finish for a few seconds; after
that it is cancelled, so no dead letter is sent and no offset committed once the callback has
returned (the new owner re-reads from the committed offsets; storage is idempotent); a batch
fetched across a revoke is dropped and the partitions rewound to their committed offsets. A commit
refused after a rebalance (CommitFailedError) is harmless for the same reason and the loop goes
on with the next batch. The first start of the group after an upgrade starts each raw partition
where faust's group (the app id) had committed, so an upgrade does not re-read seven days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from streams.aio import cancel_and_wait
from streams.kafka.records import RawRecord, headers_of, partition_spans
from streams.observability.logs import Throttle

log = logging.getLogger(__name__)
# How long a revoked batch may still finish before it is dropped (it is re-read by the new owner).
REVOKE_GRACE_SECONDS = 5.0
# The first batch after an assignment (then 4x, 16x, ... up to the configured maximum).
FIRST_BATCH_RECORDS = 1_000


def raw_group(app_id: str) -> str:
    """The batch consumer's group: its own (faust's assignor cannot share one)."""
    return f"{app_id}-raw"


def next_offsets(records: Iterable[RawRecord]) -> dict[TopicPartition, int]:
    """The offsets to commit after `records` were stored: last offset + 1 per partition."""
    return {TopicPartition(*key): span.last + 1 for key, span in partition_spans(records).items()}


def to_record(message: Any) -> RawRecord:
    """An aiokafka ConsumerRecord (timestamp in milliseconds) as a RawRecord."""
    # Once per record on the event loop: positional arguments, and no call for the empty headers
    # most raw records have, halve its cost (1 µs a record).
    stamp, headers = message.timestamp, message.headers
    return RawRecord(
        message.topic,
        message.partition,
        message.offset,
        stamp if stamp and stamp > 0 else None,
        message.key,
        message.value or b"",
        headers_of(headers) if headers else (),
    )


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How much one fetched batch may hold, and how long it waits for more once it has some."""

    max_records: int
    max_bytes: int
    linger_seconds: float


Prepared = TypeVar("Prepared")


class BatchHandler(Protocol[Prepared]):
    """What the batch consumer hands its batches to (streams.ingest.service.BatchNormalizer)."""

    async def prepare(self, records: Sequence[RawRecord]) -> Prepared:
        """CPU work on one batch that never fails (yielding to the loop now and then)."""
        ...

    async def store(self, prepared: Prepared) -> None:
        """Store it all, retrying until it succeeds; raises only when cancelled."""
        ...

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        """These partitions moved to another consumer (after the batch in flight was dropped)."""
        ...


class RawBatchConsumer(ConsumerRebalanceListener, Generic[Prepared]):  # type: ignore[misc]
    """Fetch, hand each channel's records to its handler, commit; see the module docstring."""

    def __init__(
        self,
        client_config: dict[str, Any],
        app_id: str,
        topics: Sequence[str],
        handler: BatchHandler[Prepared],
        limits: BatchLimits,
        fetch_bytes: int,
    ) -> None:
        self.client_config = client_config
        self.app_id = app_id
        self.topics = sorted(topics)
        self.handler = handler
        self.limits = limits
        self.fetch_bytes = fetch_bytes
        self._throttle = Throttle(interval=30.0)
        self.consumer: AIOKafkaConsumer | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._started = False
        # Bumped at every revoke: a batch fetched across a revoke is dropped and re-read.
        self._generation = 0
        self._needs_rewind = False
        self._ramp = FIRST_BATCH_RECORDS
        # Faust's offsets this group started from (a rewind before this group's first commit).
        self._carried: dict[TopicPartition, int] = {}
        # time.monotonic() of the last batch stored and committed, or of a fetch that found
        # nothing with nothing in flight: what /readyz reads (streams.observability.health).
        self.settled_at: float | None = None

    async def start(self) -> None:
        """Create (inside the running loop, as aiokafka requires), connect and subscribe."""
        limits = self.limits
        self.consumer = AIOKafkaConsumer(
            group_id=raw_group(self.app_id),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=self.fetch_bytes,
            fetch_max_bytes=max(self.fetch_bytes, limits.max_bytes),
            max_poll_records=limits.max_records,
            session_timeout_ms=15_000,
            heartbeat_interval_ms=3_000,
            # A batch waiting for a dependency must not cost the group its membership.
            max_poll_interval_ms=600_000,
            **self.client_config,
        )
        self._started = True
        await self.consumer.start()
        self.consumer.subscribe(self.topics, listener=self)

    async def stop(self) -> None:
        await self._drop_inflight()
        if self._started and self.consumer is not None:
            await self.consumer.stop()

    def assigned(self) -> bool:
        """Whether the group gave this consumer any partition (for /readyz)."""
        return self.consumer is not None and bool(self.consumer.assignment())

    @property
    def _consumer(self) -> AIOKafkaConsumer:
        assert self.consumer is not None, "start() first"
        return self.consumer

    async def run(self) -> None:
        """Until cancelled: one batch after another, overlapped. While batch N is stored (on the
        storage thread; chDB releases the GIL), batch N+1 is prepared (parsed on the event loop,
        yielding now and then) and batch N+2 fetched; N+1 is stored only after N was stored and
        committed, so offsets are committed in order."""
        while self._needs_rewind:
            await self._rewind()
        storing: asyncio.Task[None] | None = None
        preparing: asyncio.Future[Prepared] | None = None
        fetching: asyncio.Task[tuple[int, list[RawRecord]]] | None = None
        try:
            while True:
                generation, records = await (fetching or self._fetch_tagged())
                fetching = None
                if not records:
                    if storing is not None and storing.done():
                        await self._finish(storing)
                        storing = None
                    if storing is None:
                        self.settled_at = time.monotonic()
                    continue
                preparing = asyncio.ensure_future(self.handler.prepare(records))
                # The next batch is fetched while this one is parsed and stored (a task: its
                # linger must not hold this batch back).
                fetching = asyncio.ensure_future(self._fetch_tagged())
                prepared = await preparing
                preparing = None
                if storing is not None:
                    await self._finish(storing)
                    storing = None
                if generation != self._generation:
                    # A rebalance happened while these were fetched: some may come from
                    # partitions no longer ours, some from after the new assignment. Drop them
                    # (and the batch being fetched after them) and read again from the
                    # committed offsets.
                    await cancel_and_wait(fetching)
                    fetching = None
                    await self._rewind()
                    continue
                storing = asyncio.ensure_future(self._process(prepared, records))
                self._inflight = storing
        except BaseException as exc:
            for task in (storing, preparing, fetching):
                await cancel_and_wait(task)
            if not isinstance(exc, asyncio.CancelledError):
                # Records fetched but not stored must be read again before anything else is
                # committed: the next run starts at the committed offsets.
                self._needs_rewind = True
            raise

    async def _fetch_tagged(self) -> tuple[int, list[RawRecord]]:
        """A batch and the generation it was fetched in (see `_generation`)."""
        generation = self._generation
        return generation, await self._fetch()

    async def _finish(self, task: asyncio.Task[None]) -> None:
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the worker stops; the batch is re-read after a restart
            # Dropped at a revoke: the new owner re-reads it from the committed offsets.
        finally:
            if self._inflight is task:
                self._inflight = None

    async def _rewind(self) -> None:
        """Every assigned partition back to its committed offset (or where it started); on a
        failure (Kafka away) wait and try again: nothing may be fetched before this is done."""
        consumer = self._consumer
        while True:
            try:
                for tp in consumer.assignment():
                    offset = await consumer.committed(tp)
                    start = offset if offset is not None else self._carried.get(tp)
                    if start is None:
                        await consumer.seek_to_beginning(tp)
                    else:
                        consumer.seek(tp, start)
            except KafkaError as exc:
                if self._throttle.allow(("rewind", type(exc).__name__)) is not None:
                    log.warning(
                        "rewind to the committed offsets failed (%s); retrying", type(exc).__name__
                    )
                await asyncio.sleep(1.0)
                continue
            self._needs_rewind = False
            return

    async def _fetch(self) -> list[RawRecord]:
        deadline: float | None = None
        records: list[RawRecord] = []
        held = 0
        # After an assignment batches start small and grow fourfold up to the limit: the first
        # insert starts sooner and the pipeline (store N while parsing N+1) fills sooner.
        limit = min(self.limits.max_records, self._ramp)
        while len(records) < limit and held < self.limits.max_bytes:
            wait = 1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            if deadline is not None and wait == 0:
                break
            batches = await self._consumer.getmany(
                timeout_ms=int(wait * 1000), max_records=limit - len(records)
            )
            for message in (m for batch in batches.values() for m in batch):
                record = to_record(message)
                records.append(record)
                held += record.size
            if records and deadline is None:
                deadline = time.monotonic() + self.limits.linger_seconds
            if not records:
                return records
        self._ramp = min(self.limits.max_records, self._ramp * 4)
        return records

    async def _process(self, prepared: Prepared, records: Sequence[RawRecord]) -> None:
        await self.handler.store(prepared)
        await self._commit(next_offsets(records))
        self.settled_at = time.monotonic()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assigned = self._consumer.assignment()
        mine = {tp: OffsetAndMetadata(o, "") for tp, o in offsets.items() if tp in assigned}
        while mine:
            try:
                await self._consumer.commit(mine)
                return
            except CommitFailedError:
                # A rebalance took the partitions: the new owner re-reads; storage is idempotent.
                log.info("commit after a rebalance refused; the new owner re-reads the batch")
                return
            except KafkaError as exc:
                if self._throttle.allow(("commit", type(exc).__name__)) is not None:
                    log.warning("commit failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = list(revoked)
        if revoked:  # (the first join revokes nothing)
            self._generation += 1
        task = self._inflight
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), REVOKE_GRACE_SECONDS)
        await self._drop_inflight()
        await self.handler.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._ramp = FIRST_BATCH_RECORDS
        await self._carry_over_faust_offsets(list(assigned))

    async def _drop_inflight(self) -> None:
        await cancel_and_wait(self._inflight)

    async def _carry_over_faust_offsets(self, assigned: list[TopicPartition]) -> None:
        """Partitions this group never committed start where faust's group left off."""
        fresh = [tp for tp in assigned if await self._consumer.committed(tp) is None]
        if not fresh:
            return
        admin = AIOKafkaAdminClient(**self.client_config)
        try:
            await admin.start()
            old = await admin.list_consumer_group_offsets(self.app_id, partitions=fresh)
        except KafkaError:
            return  # no such group, or not allowed: start from the earliest offset
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        for tp, meta in old.items():
            if meta.offset >= 0:
                self._consumer.seek(tp, meta.offset)
                self._carried[tp] = meta.offset
                log.info(
                    "%s[%d] continues at faust's offset %d", tp.topic, tp.partition, meta.offset
                )

