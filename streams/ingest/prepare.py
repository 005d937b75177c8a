"""Raw records of one chunk -> contact_events rows ready to insert, and the refusals (pure).

This is the CPU-heavy half of ingestion (decode, validate, normalize, key: about 60 µs of Python
per event, on the worker's event loop). Each accepted event becomes one row plus the few facts
the storing side needs about it (its record, contact, month, channel and time), so storing never
needs the parsed event again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from schemas.contact import ContactEvent
from schemas.limits import Limits
from schemas.validate import Rejection, parse_events, too_far_ahead
from streams.ingest.rows import Origin, event_row

Parser = Callable[[str, Sequence[bytes], Limits], list[ContactEvent | Rejection]]


class Item(Protocol):
    """What preparation reads of a raw record (streams.kafka.records.RawRecord has it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes: ...


class Accepted(NamedTuple):
    """An accepted event: where it came from (`at`: its record's index in the chunk) and what
    storing needs of it."""

    at: int
    contact_id: str
    month: int
    """contact_events' partition: toYYYYMM(occurred_at) in UTC."""
    channel: str
    occurred_at: float
    """Seconds since the epoch."""


class Refused(NamedTuple):
    at: int
    code: str
    reason: str
    contact_id: str | None


class PreparedRows(NamedTuple):
    rows: list[list[Any]]
    """One contact_events row per accepted event, in the order of `accepted`."""
    accepted: list[Accepted]
    refused: list[Refused]


class Task(NamedTuple):
    """One call's input."""

    channels: dict[str, str]
    """raw topic -> channel"""
    items: Sequence[Item]
    base: int
    """Index of items[0] in its chunk."""
    not_after: datetime
    """Events with a later time are refused (the clock plus the allowed skew)."""
    salt: bytes
    limits: Limits
    parse: Parser = parse_events


def latest_allowed(skew_seconds: float, now: datetime | None = None) -> datetime:
    """The latest event time accepted now: the clock (or `now`) plus the allowed skew
    (Settings.max_future_skew_seconds)."""
    return (now or datetime.now(UTC)) + timedelta(seconds=skew_seconds)


def verdicts(
    parse: Parser, channel: str, payloads: Sequence[bytes], limits: Limits, not_after: datetime
) -> list[ContactEvent | Rejection]:
    """The pipeline's verdict on each payload of `channel`'s raw topic: validation, then the
    future-time check. The worker and `contactstream schemas validate` both decide here, so a
    producer's CI and the pipeline cannot disagree."""
    return [
        too_far_ahead(parsed, not_after) or parsed if isinstance(parsed, ContactEvent) else parsed
        for parsed in parse(channel, payloads, limits)
    ]


def prepare(task: Task) -> PreparedRows:
    """Parse, check and encode every item; never raises for bad input."""
    by_topic: dict[str, list[int]] = {}
    for position, item in enumerate(task.items):
        by_topic.setdefault(item.topic, []).append(position)
    rows: list[list[Any]] = []
    accepted: list[Accepted] = []
    refused: list[Refused] = []
    items, base, salt = task.items, task.base, task.salt
    for topic, positions in by_topic.items():
        channel = task.channels[topic]
        payloads = [items[p].value for p in positions]
        results = verdicts(task.parse, channel, payloads, task.limits, task.not_after)
        for position, result in zip(positions, results, strict=True):
            if isinstance(result, Rejection):
                refused.append(Refused(base + position, *result[:3]))
                continue
            item = items[position]
            rows.append(event_row(result, Origin(topic, item.partition, item.offset), salt))
            occurred = result.occurred_at
            accepted.append(
                Accepted(
                    base + position,
                    result.contact_id,
                    occurred.year * 100 + occurred.month,
                    result.channel,
                    occurred.timestamp(),
                )
            )
    return PreparedRows(rows, accepted, refused)
