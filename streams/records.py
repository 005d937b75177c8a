"""The one shape of a raw Kafka record the pipeline works on, whoever consumed it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

Headers = tuple[tuple[str, bytes], ...]


class RawRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    """Kafka's record timestamp, milliseconds since the epoch."""
    key: bytes | None
    value: bytes
    headers: Headers = ()

    @property
    def size(self) -> int:
        """Bytes of key, value and headers: what the record costs in memory and on the wire."""
        size = len(self.key or b"") + len(self.value)
        if self.headers:  # (most raw records have none: skip the generator)
            size += sum(len(k) + len(v) for k, v in self.headers)
        return size


def from_faust(message: Any) -> RawRecord:
    """A faust Message (timestamp in seconds) as a RawRecord."""
    stamp = message.timestamp
    return RawRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(stamp * 1000) if stamp else None,
        key=message.key,
        value=message.value or b"",
        headers=headers_of(message.headers),
    )


def headers_without(
    headers: Iterable[tuple[str, bytes]], prefixes: tuple[str, ...]
) -> list[tuple[str, bytes]]:
    """`headers` without those whose names start with one of `prefixes`: the pipeline's own,
    which a producer must not be able to set on what the pipeline writes."""
    return [(name, value) for name, value in headers if not name.startswith(prefixes)]


def headers_of(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> Headers:
    """A client's record headers (pairs or a mapping, values maybe None) as ours."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)


class Span(NamedTuple):
    """What a batch holds of one partition."""

    first: int
    last: int
    oldest_ms: int
    """The earliest Kafka timestamp among its records; 0 when one of them has none."""


def partition_spans(records: Iterable[RawRecord]) -> dict[tuple[str, int], Span]:
    """Per (topic, partition) of `records`: first and last offset and oldest timestamp, the one
    pass that batch tokens, commits and the DLQ replay check each need."""
    spans: dict[tuple[str, int], Span] = {}
    for record in records:
        key = (record.topic, record.partition)
        stamp = record.timestamp_ms or 0
        span = spans.get(key)
        if span is None:
            spans[key] = Span(record.offset, record.offset, stamp)
        else:
            oldest = 0 if not (stamp and span.oldest_ms) else min(span.oldest_ms, stamp)
            spans[key] = Span(min(span.first, record.offset), max(span.last, record.offset), oldest)
    return spans
