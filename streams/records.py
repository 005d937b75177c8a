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
        headers=_headers(message.headers),
    )


def _headers(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> Headers:
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), bytes(value or b"")) for name, value in pairs)
