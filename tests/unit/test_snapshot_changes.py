"""The analyst snapshots' periods (streams/analyst/changes.py): which file a day goes to, and
which files a change of a day reaches."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from streams.analyst.changes import (
    Granule,
    affected_granules,
    granule_named,
    granule_of,
    ranges,
    regranuled,
)

DECEMBER = date(2026, 12, 1)


def test_days_of_the_current_month_and_later_have_files_of_their_own() -> None:
    assert granule_of(date(2026, 12, 5), DECEMBER) == Granule(date(2026, 12, 5), date(2026, 12, 6))
    assert granule_of(date(2027, 1, 2), DECEMBER).name == "20270102"
    assert granule_of(date(2026, 11, 30), DECEMBER) == Granule(date(2026, 11, 1), date(2026, 12, 1))
    assert granule_of(date(2025, 12, 31), DECEMBER).name == "202512"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)))
def test_a_granule_holds_its_day_and_is_named_back(day: date) -> None:
    granule = granule_of(day, DECEMBER)
    assert granule.first <= day < granule.end
    assert granule_named(granule.name) == granule


def test_a_change_reaches_the_seven_days_after_it() -> None:
    # A contact of 28 November changes the repeat flags of contacts up to 5 December.
    names = {g.name for g in affected_granules([date(2026, 11, 28)], DECEMBER)}
    assert names == {"202611", *(f"202612{d:02d}" for d in range(1, 6))}
    assert {g.name for g in affected_granules([date(2026, 10, 10)], DECEMBER)} == {"202610"}


def test_last_months_days_become_one_month_file() -> None:
    stale = regranuled(["20261130", "20261129", "202610", "20261201"], DECEMBER)
    assert stale == {Granule(date(2026, 11, 1), date(2026, 12, 1))}


def test_adjacent_granules_are_read_as_one_range() -> None:
    days = [granule_of(DECEMBER + timedelta(days=n), DECEMBER) for n in (0, 1, 3)]
    november = granule_of(date(2026, 11, 3), DECEMBER)
    assert ranges([*days, november]) == [
        (date(2026, 11, 1), date(2026, 12, 3)),
        (date(2026, 12, 4), date(2026, 12, 5)),
    ]
