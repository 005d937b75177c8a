"""SQL of retention and redaction, built from the one declaration of personal fields.

Redaction is a batched `ALTER TABLE ... UPDATE` per table (ClickHouse's own guidance for
compliance deletes): when the mutation finishes, no active part holds the values any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.rows import PERSONAL_COLUMNS

# Mutations carry the ids inline; allow large id lists (10,000 ids is ~0.5 MB of SQL).
MUTATION_SETTINGS = {"mutations_sync": 2, "max_query_size": 16 * 1024 * 1024}
REDACTABLE_TABLES = ("contact_events", "contacts")


def holds_personal_sql() -> str:
    """A WHERE condition: the row still holds some personal value."""
    return "(" + " OR ".join(f"{c} IS NOT NULL" for c in PERSONAL_COLUMNS) + ")"


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def id_list(ids: Iterable[str]) -> str:
    return "(" + ",".join(quote(i) for i in ids) + ")"


def redaction_sql(table: str, ids: Sequence[str], reason: str, at: datetime) -> str:
    """The mutation that clears every personal column of these contacts (pure; unit-tested).

    On `contacts` it also marks the row redacted (a redaction never un-marks: the reason and
    time of the first redaction stay).
    """
    assignments = [f"{column} = NULL" for column in PERSONAL_COLUMNS]
    if table == "contacts":
        stamp = quote(at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
        assignments += [
            f"redacted_at = coalesce(redacted_at, toDateTime64({stamp}, 3, 'UTC'))",
            f"redaction_reason = coalesce(redaction_reason, {quote(reason)})",
        ]
    return f"ALTER TABLE {table} UPDATE {', '.join(assignments)} WHERE contact_id IN {id_list(ids)}"


def due_contacts_sql(limit: int) -> str:
    return f"""
SELECT contact_id, addMonths(retention_clock_at, {{months:UInt16}}) AS due_at
FROM contacts_merged
WHERE due_at <= {{now:DateTime64(3, 'UTC')}} AND {holds_personal_sql()}
ORDER BY due_at
LIMIT {int(limit)}"""


def due_contacts(
    client: Client, now: datetime, months: int, limit: int
) -> list[tuple[str, datetime]]:
    """Contacts whose retention clock ran out and that still hold personal data, oldest first."""
    rows = client.query(due_contacts_sql(limit), parameters={"months": months, "now": now})
    return [(str(r[0]), r[1]) for r in rows.result_rows]


def retention_counts(client: Client, now: datetime, months: int) -> tuple[int, int]:
    """(overdue contacts holding personal data, contacts falling due in the next 30 days)."""
    sql = f"""
SELECT countIf(due_at <= {{now:DateTime64(3, 'UTC')}}),
       countIf(due_at > {{now:DateTime64(3, 'UTC')}}
               AND due_at <= {{now:DateTime64(3, 'UTC')}} + INTERVAL 30 DAY)
FROM (SELECT addMonths(retention_clock_at, {{months:UInt16}}) AS due_at
      FROM contacts_merged WHERE {holds_personal_sql()})"""
    row = client.query(sql, parameters={"months": months, "now": now}).result_rows[0]
    return int(row[0]), int(row[1])


def needing_redaction(client: Client, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Of these contacts, those that still hold personal data in any table or are not yet marked
    redacted, with their channel and recording reference (read before it is cleared)."""
    if not ids:
        return {}
    sql = f"""
SELECT contact_id, any(channel), max(recording_ref)
FROM contact_events
WHERE contact_id IN {{ids:Array(String)}} AND {holds_personal_sql()}
GROUP BY contact_id
UNION ALL
SELECT contact_id, channel, recording_ref FROM contacts_merged
WHERE contact_id IN {{ids:Array(String)}} AND (redacted_at IS NULL OR {holds_personal_sql()})"""
    found: dict[str, dict[str, Any]] = {}
    for contact_id, channel, recording in client.query(
        sql, parameters={"ids": list(ids)}
    ).result_rows:
        entry = found.setdefault(str(contact_id), {"channel": channel, "recording_ref": None})
        entry["recording_ref"] = entry["recording_ref"] or recording
    return found


# The analyst views' snapshot stays in use through a redaction (0007_analyst_store.sql) because
# the contacts it changes are noted as changed, before and after the mutations: the redacted
# ones and every contact that shares a subject key with them (their repeat flags change with the
# key's removal; read before it is removed).
_SHARING_A_KEY_SQL = """
SELECT DISTINCT contact_id
FROM contacts
WHERE contact_id IN {ids:Array(String)}
   OR subject_key IN (
        SELECT subject_key FROM contacts
        WHERE contact_id IN {ids:Array(String)} AND subject_key IS NOT NULL
   )"""
_NOTE_CHANGED_SQL = (
    "INSERT INTO contact_changes (ingested_at, contact_id) "
    "SELECT now64(3), arrayJoin({ids:Array(String)})"
)


def redact(client: Client, ids: Sequence[str], reason: str, at: datetime) -> None:
    """Clear the personal columns of `ids` in every table; returns when the mutations finished."""
    rows = client.query(_SHARING_A_KEY_SQL, parameters={"ids": list(ids)}).result_rows
    changed = {"ids": sorted({*ids, *(str(row[0]) for row in rows)})}
    client.command(_NOTE_CHANGED_SQL, parameters=changed)
    for table in REDACTABLE_TABLES:
        client.command(redaction_sql(table, ids, reason, at), settings=MUTATION_SETTINGS)
    client.command(_NOTE_CHANGED_SQL, parameters=changed)


def redaction_totals(client: Client) -> dict[str, int]:
    """Contacts redacted so far, by reason (the audit table's count)."""
    rows = client.query(
        "SELECT reason, count() FROM redaction_log GROUP BY reason ORDER BY reason"
    ).result_rows
    return {str(reason): int(count) for reason, count in rows}


def remaining_personal(client: Client, ids: Sequence[str]) -> int:
    """How many rows of these contacts still hold a personal value (0 after a redaction)."""
    total = 0
    for table in REDACTABLE_TABLES:
        sql = (
            f"SELECT count() FROM {table} WHERE contact_id IN {{ids:Array(String)}} "
            f"AND {holds_personal_sql()}"
        )
        total += int(client.query(sql, parameters={"ids": list(ids)}).result_rows[0][0])
    return total
