"""Which month a refresh rewrites though nothing noted a change (streams.analyst.store)."""

from __future__ import annotations

from streams.analyst.store import ROLL_AFTER, stale_month

DAY_MS = int(ROLL_AFTER.total_seconds() * 1000)


def test_the_oldest_generation_is_rewritten_once_older_than_roll_after() -> None:
    now = 10 * DAY_MS
    current = {202501: now - DAY_MS - 1, 202502: now - 3 * DAY_MS, 202612: now - 5}
    assert stale_month(current, now) == [202502]


def test_no_month_while_every_generation_is_younger_than_roll_after() -> None:
    now = 10 * DAY_MS
    assert stale_month({202501: now - DAY_MS, 202612: now - 5}, now) == []
