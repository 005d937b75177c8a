"""Redrive's pure parts: letter names, filters, the marks a redriven record carries and which
redriven rows the worker strips (docs/dead-letters.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.control import DeadLetter
from streams.cli.dlq import summarize
from streams.config import Settings
from streams.deadletters.letters import Stored
from streams.deadletters.redrive import (
    LETTER_HEADER,
    ORIGINAL_TIMESTAMP_HEADER,
    Filters,
    erased_after_refusal,
    parse_letter_name,
    redrive_headers,
    redriven_at,
)

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


def letter(code: str = "too_large", topic: str = "contacts.raw.sms", **extra: object) -> DeadLetter:
    fields: dict[str, object] = {
        "topic": topic,
        "partition": 1,
        "offset": 7,
        "timestamp": 1_764_576_000_000,
        "error_code": code,
        "reason": "field 'content': larger than 1024 bytes of UTF-8",
        "failed_at": T0,
    }
    return DeadLetter(**(fields | extra))


@pytest.mark.parametrize("text", ["3", "3:", ":5", "a:1", "1:-2", "1:2:3", " 1:2", ""])
def test_a_letter_is_named_partition_colon_offset(text: str) -> None:
    assert parse_letter_name("3:1520") == (3, 1520)
    with pytest.raises(ValueError, match="is not PARTITION:OFFSET"):
        parse_letter_name(text)


def test_filters_take_what_they_name() -> None:
    one = letter()
    assert Filters().take(one, "sms", 0, 1)
    assert Filters(channel="sms", reason="too_large").take(one, "sms", 0, 1)
    assert not Filters(channel="email").take(one, "sms", 0, 1)
    assert not Filters(reason="invalid_phone").take(one, "sms", 0, 1)
    assert Filters(since=T0).take(one, "sms", 0, 1)
    assert not Filters(since=T0 + timedelta(seconds=1)).take(one, "sms", 0, 1)
    assert not Filters(until=T0).take(one, "sms", 0, 1)
    assert Filters(letter=(0, 1)).take(one, "sms", 0, 1)
    assert not Filters(letter=(0, 2)).take(one, "sms", 0, 1)
    assert Filters(channel="sms", letter=(0, 1)).described() == {"channel": "sms", "offset": "0:1"}


def test_a_redriven_record_carries_its_marks_once_and_no_error_context() -> None:
    original = (
        ("traceparent", b"00-abc"),
        ("contactstream.error.error_code", b"too_large"),
        (LETTER_HEADER, b"0:1"),  # from an earlier redrive of the same event
    )
    headers = redrive_headers(original, letter(), 2, 40)
    assert headers == [
        ("traceparent", b"00-abc"),
        (LETTER_HEADER, b"2:40"),
        (ORIGINAL_TIMESTAMP_HEADER, b"1764576000000"),
    ]
    assert redriven_at(tuple(headers)) == 1_764_576_000_000
    assert redriven_at((("traceparent", b"x"),)) is None
    # A forged or unreadable time counts as the oldest: every erasure is after it.
    assert redriven_at(((LETTER_HEADER, b"0:1"), (ORIGINAL_TIMESTAMP_HEADER, b"soon"))) == 0


def test_only_rows_of_subjects_erased_after_the_refusal_are_stripped() -> None:
    refused_ms = int(T0.timestamp() * 1000)
    redriven = {0: ("a" * 64, refused_ms), 1: ("b" * 64, refused_ms), 2: ("c" * 64, refused_ms)}
    erased = {"a" * 64: T0 + timedelta(hours=1), "b" * 64: T0 - timedelta(hours=1)}
    assert erased_after_refusal(redriven, erased) == {0}


def test_the_summary_counts_and_finds_the_oldest_unhandled_letter() -> None:
    settings = Settings()
    now = T0 + timedelta(days=2)

    def stored(offset: int, age: timedelta, code: str, topic: str = "contacts.raw.sms") -> Stored:
        stamp = int((now - age).timestamp() * 1000)
        return Stored(0, offset, stamp, b"k", b"{}", (), letter(code, topic))

    found = [
        stored(0, timedelta(days=2), "too_large"),
        stored(1, timedelta(hours=30), "invalid_phone"),
        stored(2, timedelta(minutes=5), "invalid_phone", "contacts.raw.email"),
        Stored(0, 3, int(now.timestamp() * 1000), None, b"", (), None),
    ]
    document = summarize(found, {"0:0"}, settings, now)
    assert (document["letters"], document["redriven"], document["unhandled"]) == (4, 1, 3)
    assert document["by_channel_and_reason"] == [
        {"channel": "email", "reason": "invalid_phone", "letters": 1},
        {"channel": "sms", "reason": "invalid_phone", "letters": 1},
        {"channel": "sms", "reason": "too_large", "letters": 1},
        {"channel": "unknown", "reason": "unreadable_letter", "letters": 1},
    ]
    assert document["by_age"] == {"< 1 h": 2, "< 3 d": 2}
    assert document["oldest_unhandled"] == {
        "letter": "0:1",
        "age_seconds": 30 * 3600.0,
        "expires_in_seconds": 7 * 86_400 - 30 * 3600.0,
    }
