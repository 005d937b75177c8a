"""Dead letters sent back to their raw topic (docs/dead-letters.md), pure parts: the headers a
redriven record carries, which of them the worker must store without personal data, and the
letters a redrive chooses.

A letter is named by its DLQ partition and offset, `P:O`. Redriving twice is harmless in effect
(stored events are deduplicated by identity and the contact aggregates are idempotent); the
`redriven` actions on `<prefix>.dlq-actions` keep a second run from sending anything again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from schemas.control import DLQ_HEADER_PREFIX, DeadLetter
from streams.ingest.rows import subject_key_of
from streams.kafka.records import Headers, RawRecord, headers_without

_REDRIVE_PREFIX = "contactstream.redrive."
LETTER_HEADER = _REDRIVE_PREFIX + "letter"
"""`P:O` of the dead letter a raw record was redriven from."""
ORIGINAL_TIMESTAMP_HEADER = _REDRIVE_PREFIX + "original_timestamp"
"""The refused record's own Kafka timestamp (ms): erasures after it win over the redrive."""


def letter_name(partition: int, offset: int) -> str:
    return f"{partition}:{offset}"


def parse_letter_name(text: str) -> tuple[int, int]:
    """`P:O` -> (partition, offset); ValueError with a one-line reason otherwise."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{text!r} is not PARTITION:OFFSET (two whole numbers, e.g. 3:1520)")
    return int(partition), int(offset)


def redrive_headers(
    original: Headers, letter: DeadLetter, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """A redriven record's headers: the original's own (without the error context and the
    marks of an earlier redrive), then the marks of this one."""
    return [
        *headers_without(original, (DLQ_HEADER_PREFIX, _REDRIVE_PREFIX)),
        (LETTER_HEADER, letter_name(partition, offset).encode()),
        (ORIGINAL_TIMESTAMP_HEADER, str(letter.timestamp or 0).encode()),
    ]


def redriven_at(headers: Headers) -> int | None:
    """The original timestamp (ms) of a redriven record; None for an ordinary record.

    Anyone may set these headers: they only ever add a check, so a forged or unreadable value
    counts as the oldest possible time (every erasure is after it)."""
    marked = False
    stamp = 0
    for name, value in headers:
        if name == LETTER_HEADER:
            marked = True
        elif name == ORIGINAL_TIMESTAMP_HEADER and value.isdigit():
            stamp = int(value)
    return stamp if marked else None


def redriven_subjects(
    rows: Sequence[list[Any]], records: Sequence[RawRecord], record_of_row: Sequence[int]
) -> dict[int, tuple[str, int]]:
    """Row index -> (subject_key, original timestamp ms) for the rows of redriven records that
    hold a subject (a phone number or an email address)."""
    found: dict[int, tuple[str, int]] = {}
    for index, row in enumerate(rows):
        record = records[record_of_row[index]]
        if not record.headers:
            continue
        stamp = redriven_at(record.headers)
        key = subject_key_of(row)
        if stamp is not None and key:
            found[index] = (key, stamp)
    return found


def erased_after_refusal(
    redriven: dict[int, tuple[str, int]], erased: dict[str, datetime]
) -> set[int]:
    """The rows whose subject was erased after their record was first refused."""
    return {
        index
        for index, (key, stamp) in redriven.items()
        if key in erased and erased[key].timestamp() * 1000 >= stamp
    }


class Filters(NamedTuple):
    """Which letters a command takes; None is any."""

    channel: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    letter: tuple[int, int] | None = None

    def take(self, letter: DeadLetter, channel: str | None, partition: int, offset: int) -> bool:
        if self.letter is not None and self.letter != (partition, offset):
            return False
        if self.channel is not None and channel != self.channel:
            return False
        if self.reason is not None and letter.error_code != self.reason:
            return False
        if self.since is not None and letter.failed_at < self.since:
            return False
        return self.until is None or letter.failed_at < self.until

    def described(self) -> dict[str, str]:
        """The filters set, as text (for the audit record)."""
        shown = {
            "channel": self.channel,
            "reason": self.reason,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "offset": letter_name(*self.letter) if self.letter else None,
        }
        return {name: value for name, value in shown.items() if value is not None}


def channel_of(topic: str, prefix: str) -> str | None:
    """`<prefix>.raw.<channel>` -> channel; None for a topic of no channel of ours."""
    head = f"{prefix}.raw."
    return topic.removeprefix(head) if topic.startswith(head) else None
