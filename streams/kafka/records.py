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
    # Mutable [first, last, oldest] per partition, made Spans once at the end: a Span per record
    # cost 1 µs a record, three times per batch, on the event loop.
    spans: dict[tuple[str, int], list[int]] = {}
    for record in records:
        topic, partition, offset, stamp = record[:4]
        span = spans.get((topic, partition))
        if span is None:
            spans[topic, partition] = [offset, offset, stamp or 0]
            continue
        if offset < span[0]:
            span[0] = offset
        elif offset > span[1]:
            span[1] = offset
        # A record without a timestamp makes the partition's oldest 0 (scan from the start).
        if span[2] and (not stamp or stamp < span[2]):
            span[2] = stamp or 0
    return {key: Span(*span) for key, span in spans.items()}
