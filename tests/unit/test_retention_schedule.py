"""Retention's batch schedule (streams.privacy.retention.release_now): due contacts go to
redaction together once the oldest has waited the batch interval, or a full batch is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from streams.privacy.retention import oldest_overdue_seconds, release_now
from streams.privacy.sql import ContactKey

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def due(*ages: timedelta) -> list[tuple[ContactKey, datetime]]:
    """Contacts due `ages` ago, oldest first, naive UTC as ClickHouse returns them."""
    times = sorted(NOW - age for age in ages)
    return [(ContactKey(f"c-{n}", "sms"), t.replace(tzinfo=None)) for n, t in enumerate(times)]


def test_nothing_due_releases_nothing() -> None:
    assert not release_now([], NOW, HOUR, 100)
    assert oldest_overdue_seconds([], NOW) == 0.0


def test_contacts_due_less_than_the_interval_wait_for_their_batch() -> None:
    waiting = due(timedelta(minutes=59), timedelta(minutes=2))
    assert not release_now(waiting, NOW, HOUR, 100)
    assert oldest_overdue_seconds(waiting, NOW) == 59 * 60


def test_the_batch_goes_once_its_oldest_has_waited_the_interval() -> None:
    assert release_now(due(HOUR, timedelta(seconds=5)), NOW, HOUR, 100)


def test_a_full_batch_goes_at_once() -> None:
    assert release_now(due(*[timedelta(seconds=n) for n in range(1, 101)]), NOW, HOUR, 100)


@given(st.lists(st.integers(min_value=0, max_value=6 * 3600), min_size=1, max_size=50))
def test_released_exactly_when_the_oldest_is_due_an_interval(ages: list[int]) -> None:
    contacts = due(*[timedelta(seconds=a) for a in ages])
    assert release_now(contacts, NOW, HOUR, 1_000) == (max(ages) >= 3600)
