"""SQL for data-subject requests: find a person's contacts, export them, rectify a field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from clickhouse_connect.driver.client import Client

from streams.storage.redaction import MUTATION_SETTINGS, REDACTABLE_TABLES, id_list, quote

Identifier = Literal["phone", "email"]


def subject_contacts(client: Client, field: Identifier, value: str) -> list[str]:
    """Every contact of the person with this normalized phone number or email address.

    Email addresses match case-insensitively: mail systems treat the local part so, and a
    subject request must not miss a contact because of capitals (idx_email is on lower(email)).
    """
    condition = {"phone": "phone = {v:String}", "email": "lower(email) = lower({v:String})"}
    rows = client.query(
        f"SELECT DISTINCT contact_id FROM contact_events WHERE {condition[field]} "
        "ORDER BY contact_id",
        parameters={"v": value},
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


def rectification_sql(
    table: str, ids: Sequence[str], field: Identifier, value: str, key: str
) -> str:
    """Set the corrected identifier and, where it is the one keyed, the subject key (pure)."""
    if field == "phone":
        assignments = f"phone = {quote(value)}, subject_key = {quote(key)}"
    else:  # the key is derived from the phone number when there is one
        assignments = (
            f"email = {quote(value)}, subject_key = if(phone IS NULL, {quote(key)}, subject_key)"
        )
    return (
        f"ALTER TABLE {table} UPDATE {assignments} "
        f"WHERE contact_id IN {id_list(ids)} AND {field} IS NOT NULL"
    )


def rectify(client: Client, ids: Sequence[str], field: Identifier, value: str, key: str) -> None:
    for table in REDACTABLE_TABLES:
        client.command(
            rectification_sql(table, ids, field, value, key), settings=MUTATION_SETTINGS
        )


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
        ],
    )


def finished_request(client: Client, request_id: str) -> tuple[str, int, str, datetime] | None:
    """(status, contacts, detail, completed_at) of a request already executed, if any."""
    rows = client.query(
        "SELECT status, contacts, detail, completed_at FROM subject_request_log "
        "WHERE request_id = {r:String} ORDER BY completed_at LIMIT 1",
        parameters={"r": request_id},
    ).result_rows
    return (str(rows[0][0]), int(rows[0][1]), str(rows[0][2]), rows[0][3]) if rows else None
