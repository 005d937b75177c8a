"""SQL of retention and redaction, built from the one declaration of personal fields.

Redaction is a batched `ALTER TABLE ... UPDATE` per table (ClickHouse's own guidance for
compliance deletes): when the mutation finishes, no active part holds the values any more, and
the parts it replaced are deleted `old_parts_seconds` later (60 s), within the tables' cleanup
period (5 s; streams/storage/migrations.py, replaced_parts_settings).

A contact is its channel and its id (channel systems issue ids independently): every statement
here names contacts as (contact_id, channel) pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Final, NamedTuple

from clickhouse_connect.driver.client import Client

from streams.ingest.rows import PERSONAL_COLUMNS

# Mutations carry the ids inline; allow large id lists (10,000 ids is ~0.5 MB of SQL).
MUTATION_SETTINGS = {"mutations_sync": 2, "max_query_size": 16 * 1024 * 1024}
REDACTABLE_TABLES = ("contact_events", "contacts")
TTL_BOUNDED_TABLES: Final = {"erased_subjects": 30}
"""Tables with a personal column that retention does not redact, and the days after which their
TTL removes a row: the keys of subjects erased recently, kept so that a dead letter of theirs
redriven later cannot bring their data back (docs/dead-letters.md)."""
PERSONAL_TABLES: Final = (*REDACTABLE_TABLES, *TTL_BOUNDED_TABLES)
# What a cleared personal column is set to. A constant `NULL` only sets the null map: the engine
# keeps the old string in the part's column file, and `assumeNotNull(col)` still returns it
# (ClickHouse issue #66167; measured on part files, tests/integration/test_forgetting.py). A
# materialized NULL column carries the type's default ('') under the null map instead.
CLEARED = "materialize(CAST(NULL, 'Nullable(String)'))"


NOTED_MARK: Final = "redaction_reason = coalesce(redaction_reason, "
"""In the text of every mutation of `contacts` made inside noting_changes (a redaction sets the
reason so; rectification and erasure assign it to itself the same way, a no-op). The analyst
store (0007_analyst_store.sql, analyst_store_current) and snapshots (streams/analyst/changes.py)
stay in use through those; any other mutation of `contacts` makes them compute everything."""
NOTED_MUTATION: Final = f"command LIKE '%{NOTED_MARK}%'"
"""The same as a condition on system.mutations."""


class ContactKey(NamedTuple):
    """One contact: channel systems issue ids independently, so an id alone names none."""

    contact_id: str
    channel: str


IN_KEYS = "(contact_id, channel) IN {keys:Array(Tuple(String, String))}"
"""A WHERE condition on the contacts bound as `keys` (a list of ContactKey)."""


def holds_personal_sql() -> str:
    """A WHERE condition: the row still holds some personal value."""
    return "(" + " OR ".join(f"{c} IS NOT NULL" for c in PERSONAL_COLUMNS) + ")"


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def key_list(keys: Iterable[ContactKey]) -> str:
    """A literal list of (contact_id, channel) tuples for `(contact_id, channel) IN ...`."""
    return "(" + ",".join(f"({quote(k.contact_id)},{quote(k.channel)})" for k in keys) + ")"


def clear_personal_sql() -> str:
    """The assignments that clear every personal column so that no byte of it stays."""
    return ", ".join(f"{column} = {CLEARED}" for column in PERSONAL_COLUMNS)


def redaction_sql(table: str, keys: Sequence[ContactKey], reason: str, at: datetime) -> str:
    """The mutation that clears every personal column of these contacts (pure; unit-tested).

    On `contacts` it also marks the row redacted (a redaction never un-marks: the reason and
    time of the first redaction stay).
    """
    assignments = clear_personal_sql()
    if table == "contacts":
        stamp = quote(at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
        assignments += (
            f", redacted_at = coalesce(redacted_at, toDateTime64({stamp}, 3, 'UTC'))"
            f", {NOTED_MARK}{quote(reason)})"
        )
    return (
        f"ALTER TABLE {table} UPDATE {assignments} WHERE (contact_id, channel) IN {key_list(keys)}"
    )


def due_contacts_sql(limit: int) -> str:
    return f"""
SELECT contact_id, channel, addMonths(retention_clock_at, {{months:UInt16}}) AS due_at
FROM contacts_merged
WHERE due_at <= {{now:DateTime64(3, 'UTC')}} AND {holds_personal_sql()}
ORDER BY due_at
LIMIT {int(limit)}"""


def due_contacts(
    client: Client, now: datetime, months: int, limit: int
) -> list[tuple[ContactKey, datetime]]:
    """Contacts whose retention clock ran out and that still hold personal data, oldest first."""
    rows = client.query(due_contacts_sql(limit), parameters={"months": months, "now": now})
    return [(ContactKey(str(r[0]), str(r[1])), r[2]) for r in rows.result_rows]


class RetentionCounts(NamedTuple):
    overdue: int
    """Contacts past their due time that still hold personal data."""
    due_30d: int
    """Contacts falling due in the next 30 days."""
    oldest_overdue_seconds: float
    """How long the oldest overdue contact has been past due (0: none)."""


def retention_counts(client: Client, now: datetime, months: int) -> RetentionCounts:
    sql = f"""
SELECT countIf(due_at <= {{now:DateTime64(3, 'UTC')}}),
       countIf(due_at > {{now:DateTime64(3, 'UTC')}}
               AND due_at <= {{now:DateTime64(3, 'UTC')}} + INTERVAL 30 DAY),
       if(countIf(due_at <= {{now:DateTime64(3, 'UTC')}}) = 0, 0,
          dateDiff('millisecond', min(due_at), {{now:DateTime64(3, 'UTC')}}) / 1000)
FROM (SELECT addMonths(retention_clock_at, {{months:UInt16}}) AS due_at
      FROM contacts_merged WHERE {holds_personal_sql()})"""
    row = client.query(sql, parameters={"months": months, "now": now}).result_rows[0]
    return RetentionCounts(int(row[0]), int(row[1]), max(0.0, float(row[2])))


def needing_redaction(client: Client, ids: Sequence[str]) -> dict[ContactKey, str | None]:
    """The contacts of these ids, on any channel, that still hold personal data in any table or
    are not yet marked redacted, with their recording reference (read before it is cleared).
    The caller keeps those of the channels its tombstones name."""
    if not ids:
        return {}
    sql = f"""
SELECT contact_id, channel, max(recording_ref)
FROM contact_events
WHERE contact_id IN {{ids:Array(String)}} AND {holds_personal_sql()}
GROUP BY contact_id, channel
UNION ALL
SELECT contact_id, channel, recording_ref FROM contacts_merged
WHERE contact_id IN {{ids:Array(String)}} AND (redacted_at IS NULL OR {holds_personal_sql()})"""
    found: dict[ContactKey, str | None] = {}
    for contact_id, channel, recording in client.query(
        sql, parameters={"ids": list(ids)}
    ).result_rows:
        key = ContactKey(str(contact_id), str(channel))
        found[key] = found.get(key) or recording
    return found


# The analyst views' snapshot stays in use through a redaction, an erasure or a rectification
# (0007_analyst_store.sql) because the contacts they change are noted as changed, before and
# after the mutations: the changed ones and the contacts whose repeat flag they may change,
# those sharing a subject key with them (read before it is changed or removed) whose contact
# time is 1 ms to 7 days after theirs (the repeat window; a contact's time and keys are those
# of all its rows). Noting every contact of the key would make the analyst snapshots rewrite
# the months of all of them (streams/analyst/changes.py). contact_changes holds ids: an id's
# every channel is recomputed live.
_SHARING_A_KEY_SQL = """
WITH
    changed AS (
        SELECT coalesce(min(arrived_at), min(first_event_at)) AS at,
               groupUniqArray(subject_key) AS keys
        FROM contacts WHERE contact_id IN {ids:Array(String)}
        GROUP BY contact_id, channel
    ),
    sharers AS (
        SELECT contact_id, coalesce(min(arrived_at), min(first_event_at)) AS at,
               groupUniqArray(subject_key) AS keys
        FROM contacts
        WHERE contact_id IN (
            SELECT contact_id FROM contacts
            WHERE subject_key IN (SELECT arrayJoin(keys) FROM changed)
        )
        GROUP BY contact_id, channel
    )
SELECT DISTINCT sharer.contact_id
FROM (SELECT contact_id, at, arrayJoin(keys) AS key FROM sharers) AS sharer
INNER JOIN (SELECT at, arrayJoin(keys) AS key FROM changed) AS source ON sharer.key = source.key
WHERE sharer.at > source.at AND sharer.at <= source.at + INTERVAL 7 DAY"""
_NOTE_CHANGED_SQL = (
    "INSERT INTO contact_changes (ingested_at, contact_id) "
    "SELECT now64(3), arrayJoin({ids:Array(String)})"
)


@contextmanager
def noting_changes(client: Client, keys: Sequence[ContactKey]) -> Iterator[None]:
    """Note these contacts, and every contact sharing a subject key with them (read now, before
    a key is changed or removed), in contact_changes before and after the block: whatever the
    block does to their rows in `contacts`, the analyst store and snapshots recompute them."""
    ids = sorted({key.contact_id for key in keys})
    rows = client.query(_SHARING_A_KEY_SQL, parameters={"ids": ids}).result_rows
    changed = {"ids": sorted({*ids, *(str(row[0]) for row in rows)})}
    client.command(_NOTE_CHANGED_SQL, parameters=changed)
    try:
        yield
    finally:  # a block that failed half-way may have changed some rows too
        client.command(_NOTE_CHANGED_SQL, parameters=changed)


def redact(client: Client, keys: Sequence[ContactKey], reason: str, at: datetime) -> None:
    """Clear the personal columns of these contacts in every table; returns when the mutations
    finished."""
    with noting_changes(client, keys):
        for table in REDACTABLE_TABLES:
            client.command(redaction_sql(table, keys, reason, at), settings=MUTATION_SETTINGS)


def redaction_totals(client: Client) -> dict[str, int]:
    """Contacts redacted so far, by reason (the audit table's count)."""
    rows = client.query(
        "SELECT reason, count() FROM redaction_log GROUP BY reason ORDER BY reason"
    ).result_rows
    return {str(reason): int(count) for reason, count in rows}


def remaining_personal(client: Client, keys: Sequence[ContactKey]) -> int:
    """How many rows of these contacts still hold a personal value (0 after a redaction)."""
    total = 0
    for table in REDACTABLE_TABLES:
        sql = f"SELECT count() FROM {table} WHERE {IN_KEYS} AND {holds_personal_sql()}"
        total += int(client.query(sql, parameters={"keys": list(keys)}).result_rows[0][0])
    return total
