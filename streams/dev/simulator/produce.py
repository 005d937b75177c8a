"""Produce simulated traffic to the raw topics through the published contract."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from streams.config import Channel, Settings
from streams.dev.simulator.contacts import generate
from streams.dev.simulator.events import encode, lifecycle_events, spoil


@dataclass
class SimulationReport:
    contacts: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    invalid: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        total = sum(self.events.values()) + sum(self.invalid.values())
        rows = [
            f"{ch:6} contacts={self.contacts[ch]:6} events={self.events[ch]:7} "
            f"invalid={self.invalid[ch]:5}"
            for ch in sorted(self.contacts)
        ]
        return [*rows, f"produced {total} messages in {self.seconds:.1f}s"]


def plan(
    count: int,
    seed: int,
    start: datetime,
    end: datetime,
    invalid_fraction: float,
    channel: Channel | None = None,
) -> tuple[list[tuple[str, bytes, bytes]], SimulationReport]:
    """The messages to send, in send order (a contact's steps in time order), and the tally;
    of `channel` only when given."""
    rng = random.Random(seed + 1)
    report = SimulationReport()
    timed: list[tuple[str, str, bytes, bytes]] = []
    for contact in generate(seed, start, end, count, channel=channel):
        report.contacts[contact.channel] += 1
        for event in lifecycle_events(contact, rng):
            key = contact.contact_id.encode()
            if rng.random() < invalid_fraction:
                payload, _ = spoil(event, rng)
                report.invalid[contact.channel] += 1
            else:
                payload = encode(event)
                report.events[contact.channel] += 1
            timed.append((event["occurred_at"], contact.channel, key, payload))
    timed.sort(key=lambda item: item[0])
    return [(ch, key, payload) for _, ch, key, payload in timed], report


class Sent:
    """How far a send got (read by the command's progress display and its Ctrl-C summary)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0


async def send(
    settings: Settings,
    messages: list[tuple[str, bytes, bytes]],
    rate: float | None,
    sent: Sent | None = None,
) -> float:
    """Send at `rate` messages/s (None: as fast as the broker takes them); return seconds."""
    progress = sent or Sent(len(messages))
    producer = AIOKafkaProducer(
        enable_idempotence=True, linger_ms=20, **settings.kafka_client_config()
    )
    started = time.monotonic()
    try:  # stop() also when start() failed: no unclosed producer left behind
        await producer.start()
        for n, (channel, key, payload) in enumerate(messages):
            await producer.send(settings.topic(f"raw.{channel}"), payload, key=key)
            progress.count = n + 1
            if rate:
                ahead = started + n / rate - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await producer.flush()
    finally:
        await producer.stop()
    return time.monotonic() - started


async def simulate(
    settings: Settings,
    count: int,
    seed: int,
    history_months: int,
    invalid_fraction: float,
    rate: float | None,
    now: datetime | None = None,
    sent: Sent | None = None,
    channel: Channel | None = None,
) -> SimulationReport:
    """Backfill `count` contacts over the past `history_months` (or the last hour when 0), of
    `channel` only when given: then only its raw topic is written (or asked about), so a
    producer principal, allowed to write that topic only, can run it."""
    end = now or datetime.now(UTC)
    start = end - (timedelta(days=30.44 * history_months) if history_months else timedelta(hours=1))
    messages, report = plan(count, seed, start, end, invalid_fraction, channel)
    if sent is not None:
        sent.total = len(messages)
    report.seconds = await send(settings, messages, rate, sent)
    return report
