"""Raw records of one chunk -> contact_events rows ready to insert, and the refusals (pure).

This is the CPU-heavy half of ingestion (decode, validate, normalize, key, encode: about 50 µs
of Python per event). It runs either inline on the event loop or in a parse process
(streams.parsepool), so its input and output are plain picklable values, small to send back:
each accepted event is one encoded row (a JSONCompactEachRow line, ClickHouse parses it in C++
without the GIL) plus the few facts the storing side needs about it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

import orjson

from schemas.contact import ContactEvent
from schemas.limits import Limits
from schemas.normalize import clear_caches
from schemas.validate import Rejection, parse_events, too_far_ahead
from streams.rows import EVENT_COLUMNS, PERSONAL_COLUMNS, Origin, event_row

_PERSONAL_INDEXES = tuple(EVENT_COLUMNS.index(c) for c in PERSONAL_COLUMNS)

Parser = Callable[[str, Sequence[bytes], Limits], list[ContactEvent | Rejection]]


class Item(NamedTuple):
    """What preparation needs of a raw record."""

    topic: str
    partition: int
    offset: int
    value: bytes


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
    lines: list[bytes]
    """One encoded row per accepted event, in the order of `accepted`."""
    accepted: list[Accepted]
    refused: list[Refused]


class Task(NamedTuple):
    """One call's input (sent to a parse process as is)."""

    channels: dict[str, str]
    """raw topic -> channel"""
    items: list[Item]
    base: int
    """Index of items[0] in its chunk."""
    not_after: datetime
    """Events with a later time are refused (the clock plus the allowed skew)."""
    salt: bytes
    limits: Limits
    forget_after: float
    """Seconds between emptyings of the normalization caches (personal data, DESIGN P3)."""
    parse: Parser = parse_events


def encode_row(row: Sequence[object]) -> bytes:
    """One row as a JSONCompactEachRow line (times as RFC 3339 with their offset)."""
    return orjson.dumps(row)


def strip_line(line: bytes) -> bytes:
    """The same encoded row with every personal column null (for contacts already redacted)."""
    row = orjson.loads(line)
    for index in _PERSONAL_INDEXES:
        row[index] = None
    return orjson.dumps(row)


def prepare(task: Task) -> PreparedRows:
    """Parse, check and encode every item; never raises for bad input."""
    _forget_now_and_then(task.forget_after)
    by_topic: dict[str, list[int]] = {}
    for position, item in enumerate(task.items):
        by_topic.setdefault(item.topic, []).append(position)
    lines: list[bytes] = []
    accepted: list[Accepted] = []
    refused: list[Refused] = []
    items, base, salt = task.items, task.base, task.salt
    for topic, positions in by_topic.items():
        channel = task.channels[topic]
        results = task.parse(channel, [items[p].value for p in positions], task.limits)
        for position, parsed in zip(positions, results, strict=True):
            result = (
                too_far_ahead(parsed, task.not_after) or parsed
                if isinstance(parsed, ContactEvent)
                else parsed
            )
            if isinstance(result, Rejection):
                refused.append(Refused(base + position, *result[:3]))
                continue
            item = items[position]
            lines.append(
                encode_row(event_row(result, Origin(topic, item.partition, item.offset), salt))
            )
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
    return PreparedRows(lines, accepted, refused)


class _Forgetting:
    last = time.monotonic()


def _forget_now_and_then(interval: float) -> None:
    # A parse process holds its own normalization caches (phone numbers, addresses): they are
    # emptied on the same interval as the worker's, by the process that holds them.
    now = time.monotonic()
    if now - _Forgetting.last >= interval:
        clear_caches()
        _Forgetting.last = now
