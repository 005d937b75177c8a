"""SQL for data-subject requests: find a person's contacts, export them, rectify a field."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, NamedTuple

from clickhouse_connect.driver.client import Client

from streams.errors import StorageUnavailable
from streams.storage.redaction import MUTATION_SETTINGS, REDACTABLE_TABLES

Identifier = Literal["phone", "email"]


@contextmanager
def held_values(client: Client, value: str, key: str = "") -> Iterator[str]:
    """Put a personal value (and a subject key) into subject_values under a one-off key, as
    data rather than SQL text; yield the key to read them with joinGet; delete them after."""
    handle = uuid.uuid4().hex
    client.insert(
        "subject_values", [[handle, value, key]], column_names=["key", "value", "subject_key"]
    )
    try:
        yield handle
    finally:
        client.command(
            "ALTER TABLE subject_values DELETE WHERE key = {k:String}",
            parameters={"k": handle},
            settings={"mutations_sync": 2},
        )


def subject_contacts(client: Client, field: Identifier, value: str) -> list[str]:
    """Every contact of the person with this normalized phone number or email address.

    Email addresses match case-insensitively: mail systems treat the local part so, and a
    subject request must not miss a contact because of capitals (idx_email is on lower(email)).
    The value reaches ClickHouse as data (held_values), never in the query's text.
    """
    wanted = _held(client, "value")
    condition = {"phone": f"phone = {wanted}", "email": f"lower(email) = lower({wanted})"}
    with held_values(client, value) as handle:
        rows = client.query(
            f"SELECT DISTINCT contact_id FROM contact_events WHERE {condition[field]} "
            "ORDER BY contact_id",
            parameters={"h": handle},
        ).result_rows
    return [str(r[0]) for r in rows]


def _records(client: Client, sql: str, ids: Sequence[str]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters={"ids": list(ids)})
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def export_data(client: Client, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Everything held about these contacts: merged contacts, every event, redaction state."""
    return {
        "contacts": _records(
            client,
            "SELECT * EXCEPT retention_clock_at FROM contacts_merged "
            "WHERE contact_id IN {ids:Array(String)} ORDER BY contact_id",
            ids,
        ),
        "events": _records(
            client,
            "SELECT * EXCEPT (kafka_topic, kafka_partition, kafka_offset) "
            "FROM contact_events FINAL WHERE contact_id IN {ids:Array(String)} "
            "ORDER BY contact_id, occurred_at, event_id",
            ids,
        ),
        "redactions": _records(
            client,
            "SELECT contact_id, reason, redacted_at FROM redaction_log "
            "WHERE contact_id IN {ids:Array(String)} ORDER BY contact_id",
            ids,
        ),
    }


def _held(client: Client, column: str) -> str:
    """joinGet of a held value; qualified, since a mutation runs without a current database
    (the name is validated by Settings: letters, digits and underscores only)."""
    return f"joinGet('{client.database}.subject_values', '{column}', {{h:String}})"


def rectification_sql(table: str, field: Identifier, value: str, key: str) -> str:
    """Set the corrected identifier and, where it is the one keyed, the subject key, both
    expressions reading subject_values (pure). The statement holds no personal value: ClickHouse
    keeps mutation texts (system.mutations, mutation_N.txt) long after the data is redacted."""
    if field == "phone":
        assignments = f"phone = {value}, subject_key = {key}"
    else:  # the key is derived from the phone number when there is one
        assignments = f"email = {value}, subject_key = if(phone IS NULL, {key}, subject_key)"
    return (
        f"ALTER TABLE {table} UPDATE {assignments} "
        f"WHERE contact_id IN {{ids:Array(String)}} AND {field} IS NOT NULL"
    )


def rectify(client: Client, ids: Sequence[str], field: Identifier, value: str, key: str) -> None:
    """Correct `field` on these contacts; checked before the held value is deleted (joinGet of
    a deleted key would write an empty string)."""
    with held_values(client, value, key) as handle:
        parameters = {"h": handle, "ids": list(ids)}
        held_value, held_key = _held(client, "value"), _held(client, "subject_key")
        try:
            for table in REDACTABLE_TABLES:
                client.command(
                    rectification_sql(table, field, held_value, held_key),
                    parameters=parameters,
                    settings=MUTATION_SETTINGS,
                )
        except Exception:
            # A failed mutation is retried by the engine for ever and blocks the table's later
            # mutations (redaction too): take it back. The handle is a random hex string.
            client.command(
                f"KILL MUTATION WHERE database = currentDatabase() AND command LIKE '%{handle}%'"
            )
            raise
        wrong = client.query(
            f"SELECT count() FROM contact_events WHERE contact_id IN {{ids:Array(String)}} "
            f"AND {field} IS NOT NULL AND {field} != {held_value}",
            parameters=parameters,
        ).result_rows[0][0]
    if wrong:
        raise StorageUnavailable(f"rectification left {wrong} rows unchanged; will retry")


def audit_request(client: Client, row: Sequence[Any]) -> None:
    client.insert(
        "subject_request_log",
        [list(row)],
        column_names=[
            "request_id",
            "kind",
            "status",
            "contacts",
            "verified_by",
            "requested_at",
            "completed_at",
            "detail",
            "source_offset",
        ],
    )


class Executed(NamedTuple):
    status: str
    contacts: int
    detail: str
    completed_at: datetime
    source_offset: int


def finished_request(client: Client, request_id: str) -> Executed | None:
    """The recorded outcome of a request already executed (not refused), if any."""
    rows = client.query(
        "SELECT status, contacts, detail, completed_at, source_offset FROM subject_request_log "
        "WHERE request_id = {r:String} AND status != 'rejected' ORDER BY completed_at LIMIT 1",
        parameters={"r": request_id},
    ).result_rows
    if not rows:
        return None
    status, contacts, detail, completed_at, offset = rows[0]
    return Executed(str(status), int(contacts), str(detail), completed_at, int(offset))
