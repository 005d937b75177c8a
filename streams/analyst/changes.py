"""Which periods of the analyst snapshots changed since the last round
(streams/analyst/snapshots.py).

A snapshot view with a time column is kept as one Parquet file per period ("granule"): a UTC
day in the current month (and later), a month before it. A round rewrites the granules that
may hold a changed row and links the others from the previous round. Why it cannot miss one:

- Every row of an analyst view is computed from `contacts`, and every change of `contacts` is
  noted in contact_changes (contact id and time): an insert through contact_events_mv (the same
  insert), and the product's redaction, erasure and rectification (noting_changes, before and
  after their mutations). Any other mutation of `contacts` since the last round makes this
  round rewrite everything, as does a last round older than a day (contact_changes keeps two
  days) or a schema migration since.
- A changed contact's `contact_at` (where its rows and KPI periods sit) is the time of one of
  its events (coalesce(min(arrived_at), min(occurred_at))), before and after the change; events
  are never deleted. So the days of its events' `occurred_at` and `arrived_at` hold every place
  it was and is.
- A contact's repeat flag counts the contacts of its subject key in the 7 days before it: a
  change of contact X may change the flags of contacts up to 7 days after X. So each of those
  days is extended by the 7 days after it.
- `abandoned` and `in_queue` follow the clock: a call waiting at the last round is abandoned an
  hour after its last event. Calls with an event since an hour before the last round are
  counted as changed.
- An insert takes its ingested_at when it starts and may become visible later. A round notes
  how many contact_changes rows it saw in the 5 minutes before it began (INGEST_MARGIN, the
  store's bound on an insert's duration); the next round looks back from that round's start if
  that count did not change, else from 5 minutes earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Final, NamedTuple

from clickhouse_connect.driver.client import Client

from streams.analyst.store import INGEST_MARGIN
from streams.privacy.sql import NOTED_MUTATION

REPEAT_WINDOW_DAYS: Final = 7
_FULL_ROUND_AFTER_MS: Final = 86_400_000
"""A round a day after the last one rewrites everything (contact_changes keeps two days)."""


class Granule(NamedTuple):
    """A file's period: [first, end) in UTC days; named YYYYMM (a month) or YYYYMMDD (a day)."""

    first: date
    end: date

    @property
    def name(self) -> str:
        if self.end - self.first == timedelta(days=1):
            return self.first.strftime("%Y%m%d")
        return self.first.strftime("%Y%m")


class Clock(NamedTuple):
    """What a round notes about itself for the next one (the manifest keeps it)."""

    started_ms: int
    window_rows: int
    schema: int


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (month_start(day) + timedelta(days=32)).replace(day=1)


def granule_of(day: date, current_month: date) -> Granule:
    """The file a day's rows go to: the day itself from the current month on, else its month."""
    if day >= current_month:
        return Granule(day, day + timedelta(days=1))
    return Granule(month_start(day), next_month(day))


def granule_named(name: str) -> Granule:
    """The inverse of Granule.name."""
    if len(name) == 8:
        day = date(int(name[:4]), int(name[4:6]), int(name[6:]))
        return Granule(day, day + timedelta(days=1))
    first = date(int(name[:4]), int(name[4:6]), 1)
    return Granule(first, next_month(first))


def affected_granules(days: Iterable[date], current_month: date) -> set[Granule]:
    """The granules of these days and of the REPEAT_WINDOW_DAYS after each (pure)."""
    return {
        granule_of(day + timedelta(days=n), current_month)
        for day in days
        for n in range(REPEAT_WINDOW_DAYS + 1)
    }


def regranuled(names: Iterable[str], current_month: date) -> set[Granule]:
    """Of the previous round's granules, those the current month changed the shape of (the
    last month's days become one month file), as the granules to write now (pure)."""
    stale: set[Granule] = set()
    for name in names:
        granule = granule_named(name)
        if granule_of(granule.first, current_month) != granule:
            days = range((granule.end - granule.first).days)
            stale |= {granule_of(granule.first + timedelta(days=n), current_month) for n in days}
    return stale


def ranges(granules: Iterable[Granule]) -> list[tuple[date, date]]:
    """The granules as few [first, end) day ranges, adjacent ones joined (pure)."""
    joined: list[tuple[date, date]] = []
    for first, end in sorted(granules):
        if joined and joined[-1][1] >= first:
            joined[-1] = (joined[-1][0], max(end, joined[-1][1]))
        else:
            joined.append((first, end))
    return joined


_CLOCK_SQL = """
SELECT toUnixTimestamp64Milli(now64(3)), (SELECT max(version) FROM schema_migrations)"""

# The contact_changes rows of the INGEST_MARGIN before a round's start (ms).
_WINDOW_ROWS_SQL = """
SELECT count() FROM contact_changes
WHERE ingested_at >= fromUnixTimestamp64Milli({ms:Int64}, 'UTC') - toIntervalSecond({m:UInt32})
  AND ingested_at < fromUnixTimestamp64Milli({ms:Int64}, 'UTC')"""

_OTHER_MUTATIONS_SQL = f"""
SELECT count() FROM system.mutations
WHERE database = currentDatabase() AND table = 'contacts'
  AND create_time >= toDateTime(intDiv({{ms:Int64}}, 1000), 'UTC') AND NOT {NOTED_MUTATION}"""

# The days of every event of the contacts changed since `since`, and of the calls with an event
# since `settling` (waiting calls become abandoned with the clock).
_CHANGED_DAYS_SQL = """
SELECT DISTINCT toDate(arrayJoin([occurred_at, ifNull(arrived_at, occurred_at)]))
FROM contact_events
WHERE contact_id IN (
    SELECT contact_id FROM contact_changes
    WHERE ingested_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')
    UNION ALL
    SELECT contact_id FROM contact_events
    WHERE channel = 'phone' AND occurred_at >= fromUnixTimestamp64Milli({settling:Int64}, 'UTC')
)"""


def window_rows(client: Client, started_ms: int) -> int:
    margin = int(INGEST_MARGIN.total_seconds())
    rows = client.query(_WINDOW_ROWS_SQL, parameters={"ms": started_ms, "m": margin})
    return int(rows.result_rows[0][0])


def round_clock(client: Client) -> Clock:
    """This round's start (server time, ms), the contact_changes rows of the margin before it,
    and the schema's version: read before the round reads the views."""
    started_ms, schema = client.query(_CLOCK_SQL).result_rows[0]
    return Clock(int(started_ms), window_rows(client, int(started_ms)), int(schema))


def changed_days(client: Client, last: Clock, now: Clock) -> list[date] | None:
    """The days of the events of every contact that may have changed since the round `last`;
    None when everything must be written again."""
    if now.schema != last.schema or now.started_ms - last.started_ms > _FULL_ROUND_AFTER_MS:
        return None
    others = client.query(_OTHER_MUTATIONS_SQL, parameters={"ms": last.started_ms})
    if int(others.result_rows[0][0]):
        return None
    since = last.started_ms
    if window_rows(client, last.started_ms) != last.window_rows:  # an insert became visible late
        since -= int(INGEST_MARGIN.total_seconds() * 1000)
    settling = last.started_ms - 3_600_000  # a call quiet for an hour is abandoned
    rows = client.query(_CHANGED_DAYS_SQL, parameters={"since": since, "settling": settling})
    return [row[0] for row in rows.result_rows]
