"""Normalizers: raw channel topic -> validate/normalize -> ClickHouse, invalid -> DLQ.

The raw topics are read in batches by streams.ingest (below faust's per-event path); offsets are
committed only after ClickHouse stored the batch and Kafka acknowledged its dead letters.
Failures follow the failure rule (docs/operating.md): an event's own fault sends it to the DLQ;
anything else makes the batch wait and retry, nothing acked, nothing rerouted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import faust
import mode
from aiokafka import AIOKafkaProducer

from schemas.contact import ContactEvent
from schemas.normalize import clear_caches
from schemas.validate import Rejection, parse_events, too_far_ahead
from streams.config import CHANNELS, Channel
from streams.dlq import DeadLetterWriter, Letter, dead_letter
from streams.ingest import BatchLimits, RawBatchConsumer, raw_group
from streams.lag import BrokerLag
from streams.records import RawRecord
from streams.retry import until_done
from streams.rows import (
    EVENT_COLUMNS,
    Origin,
    event_month,
    event_row,
    row_contact_id,
    strip_personal,
)
from streams.runtime import Runtime
from streams.sinks.clickhouse import ClickHouseSink
from streams.storage.queries import redacted_among
from streams.topics import dlq_max_message_bytes

log = logging.getLogger(__name__)
# ClickHouse refuses an insert block over 100 partitions (max_partitions_per_insert_block);
# contact_events has one per month, so a backfill batch is split into blocks of 50 months.
MAX_MONTHS_PER_INSERT = 50
# Records parsed between two yields to the event loop (10-25 ms of work): the batch being
# stored meanwhile needs the loop between its steps (look-up, insert, dead letters, commit).
PREPARE_SLICE = 500
DLQ_PRODUCE_BATCH_BYTES = 1 << 20


def batch_token(origins: Sequence[Origin | RawRecord]) -> str:
    """Deduplication token of a batch: its exact offset range per topic and partition."""
    ranges: dict[tuple[str, int], tuple[int, int]] = {}
    for origin in origins:
        key = (origin.topic, origin.partition)
        low, high = ranges.get(key, (origin.offset, origin.offset))
        ranges[key] = (min(low, origin.offset), max(high, origin.offset))
    return ",".join(f"{t}:{p}:{lo}-{hi}" for (t, p), (lo, hi) in sorted(ranges.items()))


def byte_chunks(records: Sequence[RawRecord], max_bytes: int) -> list[Sequence[RawRecord]]:
    """Consecutive chunks of at most `max_bytes` (a larger record is a chunk of its own)."""
    chunks: list[Sequence[RawRecord]] = []
    start, held = 0, 0
    for index, record in enumerate(records):
        if held and held + record.size > max_bytes:
            chunks.append(records[start:index])
            start, held = index, 0
        held += record.size
    if start < len(records):
        chunks.append(records[start:])
    return chunks


class Prepared(NamedTuple):
    """One byte-bounded chunk of a batch, parsed: ready to store, not yet stored."""

    records: Sequence[RawRecord]
    accepted: list[tuple[ContactEvent, RawRecord]]
    letters: list[Letter]
    rows: list[list[Any]]


class BatchNormalizer:
    """One batch of every channel: parse and normalize per channel, then one look-up of
    redacted contacts, one insert (per block of months) and one round of dead letters for the
    whole batch: ClickHouse wants few, large inserts.

    Two steps, so the batch consumer can overlap them: `prepare` is pure CPU work (parse, rows)
    and never fails; `store` does everything that needs ClickHouse or Kafka and retries until it
    succeeds (the failure rule)."""

    JOB = "normalize"

    def __init__(
        self, runtime: Runtime, channels: dict[str, Channel], dead_letters: DeadLetterWriter
    ) -> None:
        self.runtime = runtime
        self.channels = channels  # raw topic -> channel
        self.dead_letters = dead_letters
        self.sink = ClickHouseSink(
            runtime.store,
            runtime.metrics,
            "contact_events",
            EVENT_COLUMNS,
            partition_key=event_month,
            max_partitions=MAX_MONTHS_PER_INSERT,
        )

    async def prepare(self, records: Sequence[RawRecord]) -> list[Prepared]:
        """Parse and build rows, per chunk of at most `sink_batch_max_bytes`. Pure CPU work that
        never fails; it yields to the event loop every PREPARE_SLICE records so the batch being
        stored meanwhile moves on (its insert runs on the storage thread) and heartbeats flow."""
        per_topic: dict[str, int] = {}
        for record in records:
            per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
        for topic, count in per_topic.items():
            self.runtime.metrics.events_consumed.labels(self.channels[topic]).inc(count)
        salt = self.runtime.salt
        prepared = []
        for chunk in byte_chunks(records, self.runtime.settings.sink_batch_max_bytes):
            accepted: list[tuple[ContactEvent, RawRecord]] = []
            letters: list[Letter] = []
            rows: list[list[Any]] = []
            for start in range(0, len(chunk), PREPARE_SLICE):
                await asyncio.sleep(0)
                slice_accepted, slice_letters = self._parse(chunk[start : start + PREPARE_SLICE])
                rows += [
                    event_row(event, Origin(r.topic, r.partition, r.offset), salt)
                    for event, r in slice_accepted
                ]
                accepted += slice_accepted
                letters += slice_letters
            prepared.append(Prepared(chunk, accepted, letters, rows))
        return prepared

    async def store(self, prepared: Sequence[Prepared]) -> None:
        """Store every chunk, each until it succeeds; never raises except on cancellation."""
        for chunk in prepared:
            await until_done(
                lambda chunk=chunk: self._store(chunk),  # type: ignore[misc]
                self.JOB,
                self.runtime.settings.sink_retry_max_seconds,
                self.runtime.metrics,
            )

    async def _store(self, chunk: Prepared) -> None:
        # Called again whole after a failure: nothing of `chunk` is modified in place.
        rows = await self._unless_redacted(chunk.rows)
        refused = await self.sink.write(rows, batch_token(chunk.records))
        letters = list(chunk.letters)
        for index in refused:
            letters.append(
                dead_letter(
                    chunk.accepted[index][1],
                    "storage_rejected",
                    "ClickHouse refused the row",
                    row_contact_id(rows[index]),
                )
            )
        sent = await self.dead_letters.send(letters, chunk.records)
        self._observe(chunk.accepted, refused, letters, sent)

    def _parse(
        self, records: Sequence[RawRecord]
    ) -> tuple[list[tuple[ContactEvent, RawRecord]], list[Letter]]:
        not_after = datetime.now(UTC) + timedelta(
            seconds=self.runtime.settings.max_future_skew_seconds
        )
        by_topic: dict[str, list[RawRecord]] = {}
        for record in records:
            by_topic.setdefault(record.topic, []).append(record)
        accepted: list[tuple[ContactEvent, RawRecord]] = []
        letters: list[Letter] = []
        for topic, group in by_topic.items():
            results = parse_events(
                self.channels[topic], [r.value for r in group], self.runtime.limits
            )
            for parsed, record in zip(results, group, strict=True):
                result = (
                    too_far_ahead(parsed, not_after) or parsed
                    if isinstance(parsed, ContactEvent)
                    else parsed
                )
                if isinstance(result, Rejection):
                    letters.append(
                        dead_letter(record, result.code, result.reason, result.contact_id)
                    )
                else:
                    accepted.append((result, record))
        return accepted, letters

    async def _unless_redacted(self, rows: list[list[Any]]) -> list[list[Any]]:
        """A late event of an already redacted contact must not bring its personal data back."""
        ids = {row_contact_id(row) for row in rows}
        redacted = await self.runtime.store.call(lambda c: redacted_among(c, ids)) if ids else set()
        if redacted:
            rows = [strip_personal(r) if row_contact_id(r) in redacted else r for r in rows]
        return rows

    def _observe(
        self,
        accepted: list[tuple[ContactEvent, RawRecord]],
        refused: list[int],
        letters: list[Letter],
        sent: list[Letter],
    ) -> None:
        metrics = self.runtime.metrics
        refused_set = set(refused)
        now = time.time()
        # Per channel: the ages of the stored events' data and their times in the pipeline,
        # observed once per batch (streams/histograms.py).
        ages: dict[str, list[float]] = {}
        delays: dict[str, list[float]] = {}
        for index, (event, record) in enumerate(accepted):
            if index in refused_set:
                continue
            channel = event.channel
            if channel not in ages:
                ages[channel], delays[channel] = [], []
            ages[channel].append(max(0.0, now - event.occurred_at.timestamp()))
            if record.timestamp_ms is not None:
                delays[channel].append(max(0.0, now - record.timestamp_ms / 1000))
        for name, values in ages.items():
            metrics.events_accepted.labels(name).inc(len(values))
            metrics.event_freshness_seconds.labels(name).observe_many(values)
            metrics.pipeline_latency_seconds.labels(name).observe_many(delays[name])
        for letter in letters:
            origin = self.channels[letter.record.topic]
            metrics.events_rejected.labels(origin, letter.context.error_code).inc()
        for letter in sent:
            metrics.dlq_writes.labels(self.channels[letter.record.topic]).inc()
        if letters:
            stored = sum(len(values) for values in ages.values())
            log.info("stored %d events, %d to the DLQ", stored, len(letters))


def register(app: faust.App, runtime: Runtime) -> None:
    """The raw topics' batch consumer (a service of the worker), the broker-side lag reader and
    the cache purge timer."""
    settings = runtime.settings
    client = settings.kafka_client_config()
    dlq = DeadLetterWriter(None, client, settings.topic("dlq"), settings.raw_partitions)
    channels = {settings.topic(f"raw.{channel}"): channel for channel in CHANNELS}
    normalizer = BatchNormalizer(runtime, channels, dlq)
    consumer = RawBatchConsumer(
        client,
        settings.app_id,
        list(channels),
        normalizer,
        BatchLimits(
            settings.sink_batch_max_rows,
            settings.sink_batch_max_bytes,
            settings.sink_batch_max_seconds,
        ),
        settings.consumer_fetch_bytes,
        on_revoke=lambda tps: dlq.revoked((tp.topic, tp.partition) for tp in tps),
    )
    lag = BrokerLag(
        runtime.metrics,
        client,
        raw_group(settings.app_id),
        list(channels),
        settings.raw_partitions,
    )

    class RawIngest(mode.Service):
        """Runs the batch consumer for as long as the faust worker runs (a service of the
        worker, started before the app: see Runtime.services)."""

        _loop_task: asyncio.Task[None] | None = None

        async def on_start(self) -> None:
            # aiokafka clients are made inside the running loop.
            dlq.producer = AIOKafkaProducer(
                enable_idempotence=True,
                acks="all",
                linger_ms=5,
                # A batch's letters go out in a few produce batches: at aiokafka's default 16 KiB
                # a send() waits for a full batch to drain every ~18 letters, each wait costing
                # a turn of the event loop shared with parsing (0.3-0.7 s per 400 letters).
                max_batch_size=DLQ_PRODUCE_BATCH_BYTES,
                # A dead letter is its original (up to the raw topics' limit) plus headers.
                max_request_size=dlq_max_message_bytes(settings),
                **client,
            )
            await dlq.producer.start()
            await consumer.start()

        async def on_started(self) -> None:
            self._loop_task = asyncio.ensure_future(_supervised(consumer))

        async def on_stop(self) -> None:
            if self._loop_task is not None:
                self._loop_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._loop_task
            await consumer.stop()
            await dlq.close()
            if dlq.producer is not None:
                await dlq.producer.stop()
            await lag.close()

    runtime.services.append(RawIngest())

    async def refresh_lag() -> None:
        await lag.refresh()

    async def forget_identifiers() -> None:
        # The normalization caches hold phone numbers and addresses: worker state with personal
        # data (P3). Emptying them every retention interval bounds how long they linger.
        clear_caches()

    app.timer(5.0, name="contactstream.lag")(refresh_lag)
    app.timer(settings.retention_interval_seconds, name="contactstream.forget")(forget_identifiers)


async def _supervised(consumer: RawBatchConsumer) -> None:
    """The loop never dies quietly: an unexpected error is logged (by class) and it goes on."""
    while True:
        try:
            await consumer.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("raw batch consumer failed (%s); resuming in 1s", type(exc).__name__)
            await asyncio.sleep(1.0)
