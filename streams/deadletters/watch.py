"""The watch on unhandled dead letters (docs/dead-letters.md): a letter nobody redrives is
deleted by Kafka after the DLQ's retention, so the age of the oldest one neither redriven nor
deleted is a metric, and ContactstreamDeadLetterExpiring fires a day before it would go.

Every `dlq_watch_seconds` (leader only) it reads the actions recorded since the last look, then
each DLQ partition from where the last look stopped up to its first unhandled letter: usually one
record per partition. Letters passed over are redriven and never become unhandled again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import faust

from streams.deadletters.letters import letters, redriven_letters
from streams.kafka.topics import topic_partitions
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)


class DeadLetterWatch:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.redriven: set[str] = set()
        self.actions_read: dict[int, int] | None = None
        """Next offset to read per dlq-actions partition (None: not read yet)."""
        self.cursors: dict[int, int] | None = None
        """Per DLQ partition: every letter before this offset is redriven (or gone)."""

    async def look(self, now: float | None = None) -> float:
        """Refresh the metric; the oldest unhandled letter's age in seconds (0: none)."""
        settings = self.runtime.settings
        if self.actions_read is None:
            partitions = await topic_partitions(settings, settings.topic("dlq-actions"))
            self.actions_read = dict.fromkeys(partitions, 0)
        if self.cursors is None:
            self.cursors = dict.fromkeys(await topic_partitions(settings, settings.topic("dlq")), 0)
        await redriven_letters(settings, self.redriven, self.actions_read)
        oldest: int | None = None
        pending = set(self.cursors)
        stream = letters(settings, dict(self.cursors))
        async with contextlib.aclosing(stream):
            async for stored in stream:
                if stored.partition not in pending:
                    continue
                if stored.name in self.redriven:
                    self.cursors[stored.partition] = stored.offset + 1
                    continue
                self.cursors[stored.partition] = stored.offset
                pending.discard(stored.partition)
                if oldest is None or stored.timestamp_ms < oldest:
                    oldest = stored.timestamp_ms
                if not pending:
                    break
        age = 0.0 if oldest is None else max(0.0, (now or time.time()) - oldest / 1000)
        metrics = self.runtime.metrics
        metrics.dlq_oldest_unhandled_age.set(round(age, 1))
        metrics.dlq_retention.set(settings.raw_retention_ms / 1000)
        return age


def register(app: faust.App, runtime: Runtime) -> None:
    watch = DeadLetterWatch(runtime)
    runtime.metrics.dlq_retention.set(runtime.settings.raw_retention_ms / 1000)

    async def dead_letter_tick() -> None:
        try:
            await watch.look()
        except Exception as exc:  # Kafka trouble: the next tick tries again
            log.warning("dead-letter watch failed: %s", type(exc).__name__)

    timer: Any = app.timer(
        runtime.settings.dlq_watch_seconds, on_leader=True, name="contactstream.dlq_watch"
    )
    timer(dead_letter_tick)
