"""Normalizers: raw channel topic -> validate/normalize -> ClickHouse, invalid -> DLQ.

The raw topics are read in batches by streams.ingest.consumer (below faust's per-event path);
offsets are committed only after ClickHouse stored the batch and Kafka acknowledged its dead
letters. Failures follow the failure rule (docs/operating.md): an event's own fault sends it to
the DLQ; anything else makes the batch wait and retry, nothing acked, nothing rerouted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import faust
import mode
from aiokafka import TopicPartition
from clickhouse_connect.driver.client import Client

from schemas.normalize import clear_caches
from schemas.validate import parse_events
from streams.aio import cancel_and_wait, supervised
from streams.config import CHANNELS, Channel
from streams.deadletters.redrive import erased_after_refusal, redriven_subjects
from streams.deadletters.writer import DeadLetterWriter, Letter, dead_letter
from streams.ingest.consumer import BatchLimits, RawBatchConsumer, raw_group
from streams.ingest.prepare import Accepted, PreparedRows, Refused, Task, latest_allowed, prepare
from streams.ingest.rows import EVENT_COLUMNS, strip_personal
from streams.ingest.sink import ClickHouseSink
from streams.kafka.lag import BrokerLag
from streams.kafka.records import RawRecord, partition_spans
from streams.kafka.topics import dlq_max_message_bytes
from streams.privacy.lookups import erased_since, redacted_among
from streams.privacy.sql import ContactKey
from streams.retry import until_done
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)
# ClickHouse refuses an insert block over 100 partitions (max_partitions_per_insert_block);
# contact_events has one per month, so a backfill batch is split into blocks of 50 months.
MAX_MONTHS_PER_INSERT = 50
# Records parsed between two yields to the event loop (10-25 ms of work): the batch being
# stored meanwhile needs the loop between its steps (look-up, insert, dead letters, commit).
PREPARE_SLICE = 500


def batch_token(records: Sequence[RawRecord]) -> str:
    """Deduplication token of a batch: its exact offset range per topic and partition."""
    spans = sorted(partition_spans(records).items())
    return ",".join(f"{t}:{p}:{span.first}-{span.last}" for (t, p), span in spans)


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
    rows: PreparedRows


class BatchNormalizer:
    """One batch of every channel: parse and normalize, then one look-up of redacted contacts,
    one insert (per block of months) and one round of dead letters for the whole batch:
    ClickHouse wants few, large inserts.

    Two steps, so the batch consumer can overlap them: `prepare` is pure CPU work (parse, rows:
    streams.ingest.prepare) and never fails; `store` does everything that needs ClickHouse or Kafka
    and retries until it succeeds (the failure rule)."""

    JOB = "normalize"

    def __init__(
        self, runtime: Runtime, channels: dict[str, Channel], dead_letters: DeadLetterWriter
    ) -> None:
        self.runtime = runtime
        self.channels: dict[str, str] = dict(channels)  # raw topic -> channel
        self.dead_letters = dead_letters
        self.sink = ClickHouseSink(
            runtime.store,
            runtime.metrics,
            "contact_events",
            EVENT_COLUMNS,
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
        settings = self.runtime.settings
        prepared = []
        for chunk in byte_chunks(records, settings.sink_batch_max_bytes):
            task = Task(
                channels=self.channels,
                items=chunk,
                base=0,
                not_after=latest_allowed(settings.max_future_skew_seconds),
                salt=self.runtime.salt,
                limits=settings.limits,
                # Looked up per call: bench/unvalidated_worker.py swaps it.
                parse=parse_events,
            )
            prepared.append(Prepared(chunk, await _prepare_in_slices(task)))
        return prepared

    async def revoked(self, partitions: Sequence[TopicPartition]) -> None:
        await self.dead_letters.revoked((tp.topic, tp.partition) for tp in partitions)

    async def store(self, prepared: Sequence[Prepared]) -> None:
        """Store every chunk, each until it succeeds; never raises except on cancellation."""
        for chunk in prepared:
            await until_done(
                lambda chunk=chunk: self._store(chunk),  # type: ignore[misc]
                self.JOB,
                self.runtime.settings.sink_retry_max_seconds,
                self.runtime.metrics,
                self.runtime.failure_lines,
            )

    async def _store(self, chunk: Prepared) -> None:
        # Called again whole after a failure: nothing of `chunk` is modified in place.
        async with self.runtime.inserts.batch():
            await self._store_once(chunk)

    async def _store_once(self, chunk: Prepared) -> None:
        records, (rows, accepted, refused_input) = chunk.records, chunk.rows
        rows = await self._unless_redacted(rows, accepted, records)
        letters = [
            dead_letter(records[r.at], r.code, r.reason, r.contact_id) for r in refused_input
        ]
        # The refused input's letters go out while ClickHouse inserts: both must be done before
        # the commit, neither needs the other. (A retry after either failed re-reads the DLQ
        # tail first, streams.deadletters.writer, so nothing is sent twice.)
        sending = asyncio.ensure_future(self.dead_letters.send(letters, records))
        try:
            try:
                refused = await self.sink.write(
                    rows, batch_token(records), [event.month for event in accepted]
                )
            except Exception:
                # The letters' send ends on its own before the retry: cancelled inside aiokafka's
                # bootstrap it leaks the connection being opened ("Unclosed AIOKafkaConnection":
                # aiokafka closes only the connections it has registered). Letters it wrote are
                # found by the retry's DLQ replay check.
                await asyncio.wait([sending])
                raise
            sent = await sending
        finally:
            await cancel_and_wait(sending)  # (on cancellation: shutdown)
        late = [
            dead_letter(
                records[accepted[index].at],
                "storage_rejected",
                "ClickHouse refused the row",
                accepted[index].contact_id,
            )
            for index in refused
        ]
        if late:
            sent += await self.dead_letters.send(late, records)
        self._observe(records, accepted, refused, letters + late, sent)

    async def _unless_redacted(
        self, rows: list[list[Any]], accepted: list[Accepted], records: Sequence[RawRecord]
    ) -> list[list[Any]]:
        """A late event of an already redacted contact must not bring its personal data back,
        nor a redriven dead letter of a subject erased since it was refused."""
        ids = {event.contact_id for event in accepted}
        redriven = redriven_subjects(rows, records, [event.at for event in accepted])
        keys = {key for key, _ in redriven.values()}

        def look_up(client: Client) -> tuple[set[ContactKey], dict[str, datetime]]:
            return redacted_among(client, ids), erased_since(client, keys)

        redacted, erased = await self.runtime.store.call(look_up) if ids else (set(), {})
        strip = {
            index
            for index, event in enumerate(accepted)
            if (event.contact_id, event.channel) in redacted
        } | erased_after_refusal(redriven, erased)
        if strip:
            rows = [
                strip_personal(row) if index in strip else row for index, row in enumerate(rows)
            ]
        return rows

    def _observe(
        self,
        records: Sequence[RawRecord],
        accepted: list[Accepted],
        refused: list[int],
        letters: list[Letter],
        sent: list[Letter],
    ) -> None:
        metrics = self.runtime.metrics
        refused_set = set(refused)
        now = time.time()
        # Per channel: the ages of the stored events' data and their times in the pipeline,
        # observed once per batch (streams/observability/histograms.py).
        ages: dict[str, list[float]] = {}
        delays: dict[str, list[float]] = {}
        for number, event in enumerate(accepted):
            if number in refused_set:
                continue
            channel = event.channel
            if channel not in ages:
                ages[channel], delays[channel] = [], []
            ages[channel].append(max(0.0, now - event.occurred_at))
            stamp = records[event.at].timestamp_ms
            if stamp is not None:
                delays[channel].append(max(0.0, now - stamp / 1000))
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


async def _prepare_in_slices(task: Task) -> PreparedRows:
    rows: list[list[Any]] = []
    accepted: list[Accepted] = []
    refused: list[Refused] = []
    for start in range(0, len(task.items), PREPARE_SLICE):
        await asyncio.sleep(0)
        part = prepare(
            task._replace(items=task.items[start : start + PREPARE_SLICE], base=task.base + start)
        )
        rows += part.rows
        accepted += part.accepted
        refused += part.refused
    return PreparedRows(rows, accepted, refused)


class RawIngest(mode.Service):
    """Runs the batch consumer for as long as the faust worker runs (a service of the worker,
    started before the app: see Runtime.services), with the dead-letter writer and the lag reader
    it owns."""

    mundane_level = "debug"  # mode's "Starting..."/"Stopping..." lines: chatter at info

    def __init__(
        self,
        runtime: Runtime,
        consumer: RawBatchConsumer[list[Prepared]],
        dead_letters: DeadLetterWriter,
        lag: BrokerLag,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.lag = lag
        self._loop_task: asyncio.Future[None] | None = None

    async def on_start(self) -> None:
        # aiokafka clients are made inside the running loop.
        await self.dead_letters.start()
        await self.consumer.start()

    async def on_started(self) -> None:
        self._loop_task = asyncio.ensure_future(
            supervised(self.consumer.run, "raw batch consumer")
        )
        self.runtime.health.watch(asyncio.get_running_loop(), self.consumer)

    async def on_stop(self) -> None:
        await cancel_and_wait(self._loop_task)
        await self.consumer.stop()
        await self.dead_letters.close()
        await self.lag.close()


def register(app: faust.App, runtime: Runtime) -> None:
    """The raw topics' batch consumer (a service of the worker), the broker-side lag reader and
    the cache purge timer."""
    settings = runtime.settings
    client = settings.kafka_client_config()
    dlq = DeadLetterWriter(
        client, settings.topic("dlq"), settings.raw_partitions, dlq_max_message_bytes(settings)
    )
    channels = {settings.topic(f"raw.{channel}"): channel for channel in CHANNELS}
    consumer = RawBatchConsumer(
        client,
        settings.app_id,
        list(channels),
        BatchNormalizer(runtime, channels, dlq),
        BatchLimits(
            settings.sink_batch_max_rows,
            settings.sink_batch_max_bytes,
            settings.sink_batch_max_seconds,
        ),
        settings.consumer_fetch_bytes,
    )
    lag = BrokerLag(
        runtime.metrics,
        client,
        raw_group(settings.app_id),
        list(channels),
        settings.raw_partitions,
    )
    runtime.services.append(RawIngest(runtime, consumer, dlq, lag))

    async def refresh_lag() -> None:
        await lag.refresh()

    async def forget_identifiers() -> None:
        # The normalization caches hold phone numbers and addresses: worker state with personal
        # data (P3). Emptying them every retention interval bounds how long they linger.
        clear_caches()

    app.timer(5.0, name="contactstream.lag")(refresh_lag)
    app.timer(settings.retention_interval_seconds, name="contactstream.forget")(forget_identifiers)

