"""The analyst views' stored snapshot (streams/storage/sql/0007_analyst_store.sql): its refresh.

analyst_contacts is exact whether or not a snapshot exists (what changed since is computed
live), so refreshing only makes it cheap again: copy analyst_contacts into a new partition of
analyst_contacts_store, record the snapshot, drop the older partitions. Idempotent and safe to
overlap (a leadership move): each refresh writes its own partition and the views read the
newest recorded one.
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
INGEST_MARGIN: Final = timedelta(minutes=5)
"""Events ingested this long before a refresh began still count as changed after it: an insert
takes its `ingested_at` when it starts and may become visible after the refresh has read."""

_STORED_COLUMNS: Final = (
    "contact_id, channel, contact_at, first_event_at, last_event_at, arrived_at, "
    "handling_started_at, handled_at, advisor_id, queue, reason, repeat_eligible, "
    "is_repeat_7d, redacted"
)

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

# Calls of the snapshot neither answered nor ended whose last event is less than an hour older
# than the refresh's start: `abandoned` may turn 1 for them later (docs/kpis.md).
_UNSETTLED_HOURS: Final = (
    "SELECT groupUniqArray(toDateTime(toStartOfHour(contact_at), 'UTC')) "
    "FROM analyst_contacts_store WHERE snapshot = {snapshot:UInt64} "
    "AND channel = 'phone' AND arrived_at IS NOT NULL AND handling_started_at IS NULL "
    "AND handled_at IS NULL "
    "AND last_event_at >= fromUnixTimestamp64Milli({snapshot:Int64}, 'UTC') - INTERVAL 1 HOUR"
)


class Refresh(NamedTuple):
    snapshot: int
    contacts: int
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
    """A refresh costs a copy of every contact (140 MB written at 1.5 M contacts): it is worth
    it once the live part makes the views slow, or the snapshot nears the day after which the
    views stop using it (pure)."""
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
    """Take a new snapshot of analyst_contacts; None when a mutation of contacts is running."""
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
    snapshot = int(client.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows[0][0])
    if pending_mutations(client):
        return None
    parameters = {"snapshot": snapshot}
    client.command(
        f"INSERT INTO analyst_contacts_store (snapshot, {_STORED_COLUMNS}) "
        f"SELECT {{snapshot:UInt64}}, {_STORED_COLUMNS} FROM analyst_contacts",
        parameters=parameters,
    )
    for period in ("hourly", "daily"):
        client.command(
            f"INSERT INTO kpi_{period}_store "
            f"(snapshot, period_start, {_KEYS}, {_ADDITIVE_COLUMNS}) "
            f"SELECT snapshot, period_start, {_KEYS}, {_SUMS} FROM kpi_{period}_counts "
            f"WHERE snapshot = {{snapshot:UInt64}} "
            f"GROUP BY snapshot, period_start, {_KEYS}",
            parameters=parameters,
        )
    client.command(
        "INSERT INTO kpi_service_level_store "
        "(snapshot, period_start, queue, reason, offered_calls, answer_waits_ms) "
        "SELECT snapshot, period_start, queue, reason, sum(offered_calls), "
        "groupArrayArray(answer_waits_ms) FROM kpi_service_level_counts "
        "WHERE snapshot = {snapshot:UInt64} GROUP BY snapshot, period_start, queue, reason",
        parameters=parameters,
    )
    client.command(
        "INSERT INTO analyst_store_state "
        "(snapshot, ingest_watermark, started_at, completed_at, unsettled_hours) "
        "SELECT {snapshot:UInt64}, fromUnixTimestamp64Milli({snapshot:Int64}, 'UTC') "
        "- toIntervalSecond({margin:UInt32}), fromUnixTimestamp64Milli({snapshot:Int64}, 'UTC'), "
        f"now64(3), ({_UNSETTLED_HOURS})",
        parameters={**parameters, "margin": int(INGEST_MARGIN.total_seconds())},
    )
    drop_older_snapshots(client, snapshot)
    contacts = client.query(
        "SELECT count() FROM analyst_contacts_store WHERE snapshot = {snapshot:UInt64}",
        parameters=parameters,
    ).result_rows[0][0]
    return Refresh(snapshot, int(contacts), datetime.fromtimestamp(snapshot / 1000, UTC))


def drop_older_snapshots(client: Client, snapshot: int) -> None:
    """Drop the store partitions of snapshots older than `snapshot` (a newer one is kept)."""
    for table in STORE_TABLES:
        rows = client.query(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() "
            "AND table = {table:String} AND active AND toUInt64(partition) < {snapshot:UInt64}",
            parameters={"table": table, "snapshot": snapshot},
        ).result_rows
        for (partition_id,) in rows:
            if str(partition_id).isdigit():  # a UInt64 partition's id is its number
                client.command(f"ALTER TABLE {table} DROP PARTITION ID '{partition_id}'")
