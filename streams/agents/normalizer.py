"""Normalizer agents: raw channel topic -> validate/normalize -> ClickHouse, invalid -> DLQ.

Offsets are acked only after ClickHouse stored the batch and Kafka acknowledged its dead letters,
in offset order, whole batches at a time (design section 9: take() would ack a failed batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import faust

from schemas.contact import ContactEvent
from schemas.normalize import clear_caches
from schemas.validate import Rejection, parse_events
from streams.config import CHANNELS, Channel
from streams.dlq import DeadLetterWriter, dead_letter
from streams.retry import until_done
from streams.rows import EVENT_COLUMNS, Origin, event_row, row_contact_id, strip_personal
from streams.runtime import Runtime
from streams.sinks.clickhouse import ClickHouseSink
from streams.storage.queries import redacted_among

log = logging.getLogger(__name__)


def batch_token(channel: str, origins: Sequence[Origin]) -> str:
    """Deduplication token of a batch: its exact offset range per partition."""
    ranges: dict[int, tuple[int, int]] = {}
    for origin in origins:
        low, high = ranges.get(origin.partition, (origin.offset, origin.offset))
        ranges[origin.partition] = (min(low, origin.offset), max(high, origin.offset))
    parts = ",".join(f"{p}:{lo}-{hi}" for p, (lo, hi) in sorted(ranges.items()))
    return f"{channel}|{parts}"


class ChannelNormalizer:
    """The batch logic of one channel's agent; the agent itself only loops and acks."""

    def __init__(self, runtime: Runtime, channel: Channel, dead_letters: DeadLetterWriter) -> None:
        self.runtime = runtime
        self.channel = channel
        self.dead_letters = dead_letters
        self.sink = ClickHouseSink(
            runtime.store,
            runtime.metrics,
            "contact_events",
            EVENT_COLUMNS,
            runtime.settings.sink_retry_max_seconds,
        )

    async def handle(self, events: Sequence[Any]) -> None:
        """Process one batch until it succeeds; never raises except on cancellation."""
        self.runtime.metrics.events_consumed.labels(self.channel).inc(len(events))
        await until_done(
            lambda: self._process(events),
            f"batch of {len(events)} {self.channel} events",
            self.runtime.settings.sink_retry_max_seconds,
        )

    async def _process(self, events: Sequence[Any]) -> None:
        messages = [event.message for event in events]
        origins = [Origin(m.topic, m.partition, m.offset) for m in messages]
        results = parse_events(
            self.channel, [m.value or b"" for m in messages], self.runtime.limits
        )
        accepted: list[tuple[ContactEvent, Any]] = []
        letters = []
        for result, message in zip(results, messages, strict=True):
            if isinstance(result, Rejection):
                letters.append(dead_letter(message, result.code, result.reason, result.contact_id))
            else:
                accepted.append((result, message))
        rows = await self._rows(accepted)
        refused = await self.sink.write(rows, batch_token(self.channel, origins))
        for index in refused:
            _, message = accepted[index]
            letters.append(
                dead_letter(
                    message,
                    "storage_rejected",
                    "ClickHouse refused the row",
                    row_contact_id(rows[index]),
                )
            )
        skipped = await self.dead_letters.send(letters, messages)
        self._observe(accepted, refused, letters, skipped)

    async def _rows(self, accepted: list[tuple[ContactEvent, Any]]) -> list[list[Any]]:
        salt = self.runtime.salt
        rows = [event_row(ev, Origin(m.topic, m.partition, m.offset), salt) for ev, m in accepted]
        ids = {row_contact_id(row) for row in rows}
        # A late event of an already redacted contact must not bring its personal data back.
        redacted = await self.runtime.store.call(lambda c: redacted_among(c, ids)) if ids else set()
        if redacted:
            rows = [strip_personal(r) if row_contact_id(r) in redacted else r for r in rows]
        return rows

    def _observe(
        self,
        accepted: list[tuple[ContactEvent, Any]],
        refused: list[int],
        letters: list[Any],
        skipped: int,
    ) -> None:
        metrics = self.runtime.metrics
        stored = len(accepted) - len(refused)
        metrics.events_accepted.labels(self.channel).inc(stored)
        for letter in letters:
            metrics.events_rejected.labels(self.channel, letter.error_code).inc()
        metrics.dlq_writes.labels(self.channel).inc(len(letters) - skipped)
        now = time.time()
        histogram = metrics.event_freshness_seconds.labels(self.channel)
        for event, _ in accepted:
            histogram.observe(max(0.0, now - event.occurred_at.timestamp()))
        if letters:
            log.info("%s: stored %d events, %d to the DLQ", self.channel, stored, len(letters))


def register(app: faust.App, runtime: Runtime) -> None:
    """One agent per channel topic."""
    settings = runtime.settings
    dlq = DeadLetterWriter(
        app.topic(settings.topic("dlq"), key_serializer="raw", value_serializer="raw"),
        settings.kafka_bootstrap,
        settings.topic("dlq"),
        settings.raw_partitions,
    )
    lag = LagTracker(app, runtime, {settings.topic(f"raw.{ch}") for ch in CHANNELS})
    metrics = runtime.metrics
    for channel in CHANNELS:
        # Series exist from the start, so "nothing accepted while lagging" alerts can fire.
        for counter in (metrics.events_consumed, metrics.events_accepted, metrics.dlq_writes):
            counter.labels(channel)
        _register_channel(app, runtime, channel, dlq, lag)

    async def refresh_lag() -> None:
        lag.refresh()

    async def forget_identifiers() -> None:
        # The normalization caches hold phone numbers and addresses: worker state with personal
        # data (P3). Emptying them every retention interval bounds how long they linger.
        clear_caches()

    app.timer(5.0, name="contactstream.lag")(refresh_lag)
    app.timer(settings.retention_interval_seconds, name="contactstream.forget")(forget_identifiers)


def _register_channel(
    app: faust.App, runtime: Runtime, channel: Channel, dlq: DeadLetterWriter, lag: LagTracker
) -> None:
    settings = runtime.settings
    topic = app.topic(
        settings.topic(f"raw.{channel}"), key_serializer="raw", value_serializer="raw"
    )
    normalizer = ChannelNormalizer(runtime, channel, dlq)

    async def normalize(stream: Any) -> None:
        async for events in stream.noack_take(
            settings.sink_batch_max_rows, within=settings.sink_batch_max_seconds
        ):
            await normalizer.handle(events)
            for event in events:  # in offset order, the whole batch: no gaps to commit past
                await stream.ack(event)
            lag.acked(events)

    app.agent(topic, name=f"contactstream.normalize.{channel}")(normalize)


class LagTracker:
    """Consumer lag per assigned raw partition: highwater minus the next offset to process.

    Refreshed by a timer as well as after each batch, so a stuck worker shows growing lag, and
    partitions that moved to another worker drop their series here.
    """

    def __init__(self, app: faust.App, runtime: Runtime, topics: set[str]) -> None:
        self.app = app
        self.gauge = runtime.metrics.consumer_lag
        self.topics = topics
        self.next_offset: dict[Any, int] = {}
        self.shown: set[Any] = set()

    def acked(self, events: Sequence[Any]) -> None:
        for event in events:
            self.next_offset[event.message.tp] = event.message.offset + 1
        self.refresh()

    def refresh(self) -> None:
        consumer = self.app.consumer
        assigned = {tp for tp in consumer.assignment() if tp.topic in self.topics}
        for tp in self.shown - assigned:
            self.gauge.remove(tp.topic, str(tp.partition))
            self.next_offset.pop(tp, None)
        self.shown &= assigned
        for tp in assigned:
            highwater, position = consumer.highwater(tp), self.next_offset.get(tp)
            if highwater is not None and position is not None:
                self.gauge.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
                self.shown.add(tp)
