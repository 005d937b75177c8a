"""The analyst views' stored snapshot (streams/storage/sql/0007_analyst_store.sql, 0011): its
refresh.

analyst_contacts and the KPI views are exact whether or not a snapshot exists (what changed since
is computed live and corrects the stored sums), so refreshing only makes them cheap again: copy
the months of analyst_contacts whose rows changed into new partitions of the store (a new
generation of those months), sum them, record which generation of each month is current, drop
the superseded partitions. Safe to overlap (a leadership move): each refresh writes partitions of
its own, the views read the newest recorded state, and a partition stays GRACE after it was
superseded.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

from clickhouse_connect.driver.client import Client

STORE_TABLES: Final = (
    "analyst_contacts_store",
    "kpi_hourly_store",
    "kpi_daily_store",
    "kpi_service_level_store",
)
GRACE: Final = timedelta(minutes=10)
"""A superseded store partition stays this long, and a refresh that took longer than half of it
is not recorded (another refresh may have dropped what it read)."""
ROLL_AFTER: Final = timedelta(days=1)
"""A month whose generation is older than this may be rewritten though nothing noted a change."""
INGEST_MARGIN: Final = timedelta(minutes=5)
"""Events ingested this long before a refresh began still count as changed after it: an insert
takes its `ingested_at` when it starts and may become visible after the refresh has read."""

_STORED_COLUMNS: Final = (
    "contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at, "
    "handling_started_at, handled_at, advisor_id, queue, reason, repeat_eligible, "
    "is_repeat_7d, redacted, abandoned, in_queue"
)
"""analyst_contacts' columns the store keeps: all but the derived ones, and the two flags that
depend on the time as the refresh computed them (0011: the views take the refresh's part of a
contact away exactly as it was counted)."""

_KEYS: Final = "channel, reason, queue, advisor_id"
ADDITIVE: Final = (
    "contacts",
    "offered_calls",
    "answered_calls",
    "abandoned_calls",
    "calls_in_queue",
    "answered_within_60s",
    "answer_wait_count",
    "answer_wait_seconds_sum",
    "handle_count",
    "handle_seconds_sum",
    "repeat_eligible_contacts",
    "repeat_contacts_7d",
)
_ADDITIVE_COLUMNS: Final = ", ".join(ADDITIVE)
_SUMS: Final = ", ".join(f"sum({c}) AS {c}" for c in ADDITIVE)


class Refresh(NamedTuple):
    snapshot: int
    contacts: int
    """Contacts in the store after the refresh (every month's current generation)."""
    months: int
    """Months the refresh rewrote (the others keep their generation)."""
    started_at: datetime


class StoreState(NamedTuple):
    in_use: bool
    """Whether the views use a stored snapshot (none yet, or a mutation they cannot see made
    it unusable: then every contact is computed live)."""
    age_seconds: float
    changed_contacts: int
    """Contacts changed since the snapshot began: the views compute them live, with the
    contacts sharing their subject keys, so the views' cost grows with it."""


def store_state(client: Client) -> StoreState:
    row = client.query(
        "SELECT snapshot != 0, dateDiff('millisecond', started_at, now64(3)) / 1000, "
        "(SELECT uniqExact(contact_id) FROM contact_changes WHERE ingested_at >= ("
        "SELECT started_at FROM analyst_store_current)) FROM analyst_store_current"
    ).result_rows[0]
    return StoreState(bool(row[0]), float(row[1]), int(row[2]))


def refresh_needed(state: StoreState, changed_contacts: int, max_age_seconds: float) -> bool:
    """A refresh rewrites the months whose rows changed (each about a 19th of the store at 18
    months of volume): it is worth it once the corrections make the views slower, or the snapshot
    nears the day after which the views stop using it (pure)."""
    return (
        not state.in_use
        or state.changed_contacts >= changed_contacts
        or state.age_seconds >= max_age_seconds
    )


def pending_mutations(client: Client) -> int:
    """Unfinished mutations of `contacts` (a refresh waits for them: its copy must hold them)."""
    sql = (
        "SELECT count() FROM system.mutations WHERE database = currentDatabase() "
        "AND table = 'contacts' AND NOT is_done"
    )
    return int(client.query(sql).result_rows[0][0])


def refresh_analyst_store(client: Client) -> Refresh | None:
    """Rewrite the months of the store whose rows changed (every month when no snapshot is
    usable) as a new generation, then switch to it; None when a mutation of contacts is running.
    """
    # The views use a snapshot only if every mutation of contacts was created in a second before
    # its start (system.mutations has whole seconds): not in this one.
    this_second = client.query(
        "SELECT (SELECT max(create_time) FROM system.mutations WHERE table = 'contacts') >= now()"
    ).result_rows[0][0]
    if this_second:
        time.sleep(1.0)
    # The snapshot's id is the server's time (ms) when the refresh began. A mutation created
    # before it must have finished, so that the copy below holds it; one created after it makes
    # the views ignore this snapshot.
    snapshot = _server_ms(client)
    if pending_mutations(client):
        return None
    current = dict(client.query("SELECT parts FROM analyst_store_current").result_rows[0][0])
    if current:
        months = sorted({*changed_months(client), *stale_month(current, snapshot)})
    else:
        months = all_months(client)
    parameters = {"snapshot": snapshot, "months": months}
    client.command(
        f"INSERT INTO analyst_contacts_store (snapshot, {_STORED_COLUMNS}) "
        f"SELECT {{snapshot:UInt64}}, {_STORED_COLUMNS} FROM analyst_contacts "
        "WHERE toYYYYMM(contact_at) IN {months:Array(UInt32)}",
        parameters=parameters,
    )
    for period in ("hourly", "daily"):
        client.command(
            f"INSERT INTO kpi_{period}_store "
            f"(snapshot, period_start, {_KEYS}, {_ADDITIVE_COLUMNS}) "
            f"SELECT snapshot, period_start, {_KEYS}, {_SUMS} "
            f"FROM kpi_{period}_counts(part = 'stored') WHERE snapshot = {{snapshot:UInt64}} "
            f"GROUP BY snapshot, period_start, {_KEYS}",
            parameters=parameters,
        )
    client.command(
        "INSERT INTO kpi_service_level_store "
        "(snapshot, period_start, queue, reason, queued_calls, offered_calls, answer_waits_ms) "
        "SELECT snapshot, period_start, queue, reason, sum(queued_calls), sum(offered_calls), "
        "groupArrayArray(answer_waits_ms) FROM kpi_service_level_counts(part = 'stored') "
        "WHERE snapshot = {snapshot:UInt64} "
        "GROUP BY snapshot, period_start, queue, reason",
        parameters=parameters,
    )
    generations = {**current, **dict.fromkeys(months, snapshot)}
    if _server_ms(client) - snapshot > GRACE.total_seconds() * 1000 / 2:
        return None  # its partitions are dropped as unreferenced once GRACE has passed
    client.command(
        "INSERT INTO analyst_store_state "
        "(snapshot, ingest_watermark, started_at, completed_at, generations) "
        "SELECT {snapshot:UInt64}, fromUnixTimestamp64Milli({snapshot:Int64}, 'UTC') "
        "- toIntervalSecond({margin:UInt32}), fromUnixTimestamp64Milli({snapshot:Int64}, 'UTC'), "
        "now64(3), mapFromArrays({keys:Array(UInt32)}, {values:Array(UInt64)})",
        parameters={
            **parameters,
            "margin": int(INGEST_MARGIN.total_seconds()),
            "keys": list(generations),
            "values": list(generations.values()),
        },
    )
    drop_superseded(client)
    contacts = client.query(
        "SELECT count() FROM analyst_contacts_store "
        "WHERE (toYYYYMM(contact_at), snapshot) IN {parts:Array(Tuple(UInt32, UInt64))}",
        parameters={"parts": list(generations.items())},
    ).result_rows[0][0]
    return Refresh(
        snapshot, int(contacts), len(months), datetime.fromtimestamp(snapshot / 1000, UTC)
    )


def all_months(client: Client) -> list[int]:
    """Every month (YYYYMM) that has contacts."""
    rows = client.query(
        "SELECT DISTINCT toYYYYMM(first_event_at) FROM contacts "
        "UNION DISTINCT SELECT DISTINCT toYYYYMM(arrived_at) FROM contacts "
        "WHERE arrived_at IS NOT NULL"
    ).result_rows
    return sorted(int(month) for (month,) in rows)


def stale_month(current: dict[int, int], snapshot: int) -> list[int]:
    """The month of the oldest generation if it is older than ROLL_AFTER, else none (pure).

    What removes rows without a note in contact_changes (the TTL backstop deleting contacts
    long past retention) changes no month's corrections; one such month rewritten per refresh
    bounds how long the store keeps what was removed (19 refreshes, about 5 days at 18 months)."""
    month, generation = min(current.items(), key=lambda item: item[1])
    return [month] if snapshot - generation > ROLL_AFTER.total_seconds() * 1000 else []


def changed_months(client: Client) -> list[int]:
    """The months holding a contact whose store row differs from its row now (where it was and
    where it is): those of analyst_store_corrections (pairs that cancel out are not in it)."""
    rows = client.query(
        "SELECT DISTINCT toYYYYMM(contact_at) FROM analyst_store_corrections"
    ).result_rows
    return sorted(int(month) for (month,) in rows)


def drop_superseded(client: Client, grace: timedelta = GRACE) -> None:
    """Drop the store partitions no view can read any more: neither current in the newest state
    nor in one recorded within GRACE, and written more than GRACE ago (a refresh running beside
    this one, during a leadership move, may still record the ones it read or wrote)."""
    keep = {
        (int(month), int(generation))
        for month, generation in client.query(
            "SELECT DISTINCT arrayJoin(mapKeys(generations)) AS month, generations[month] "
            "FROM analyst_store_state WHERE snapshot = (SELECT max(snapshot) FROM "
            "analyst_store_state) OR completed_at >= now64(3) - toIntervalSecond({grace:UInt32})",
            parameters={"grace": int(grace.total_seconds())},
        ).result_rows
    }
    # Generations are the refreshes' start times on the server's clock, in ms.
    written_before = _server_ms(client) - int(grace.total_seconds() * 1000)
    for table in STORE_TABLES:
        rows = client.query(
            "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() "
            "AND table = {table:String} AND active",
            parameters={"table": table},
        ).result_rows
        for (partition,) in rows:
            month, generation = _partition(str(partition))
            if (month, generation) not in keep and generation < written_before:
                client.command(f"ALTER TABLE {table} DROP PARTITION ({month}, {generation})")


def _server_ms(client: Client) -> int:
    return int(client.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows[0][0])


def _partition(text: str) -> tuple[int, int]:
    """(month, generation) from system.parts' `partition` of a store table, e.g. '(202612,17…)'
    (both whole numbers: nothing else reaches the DROP statement)."""
    month, generation = text.strip("()").split(",")
    return int(month), int(generation)
