"""SQL for data-subject requests: find a person's contacts, export them, rectify a field, erase
their rows where a contact also holds another person's.

A request acts on the rows that carry the subject's identifier, never on other rows of the same
contact: a contact is its channel and its id, and even then its events may carry more than one
phone number or email address (an update from the channel system, or a producer that reuses
ids)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, NamedTuple

from clickhouse_connect.driver.client import Client

from streams.errors import StorageUnavailable
from streams.ingest.rows import PERSONAL_COLUMNS
from streams.privacy.sql import (
    IN_KEYS,
    MUTATION_SETTINGS,
    NOTED_MARK,
    ContactKey,
    clear_personal_sql,
    noting_changes,
)

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


class SubjectContact(NamedTuple):
    """A contact holding rows with the subject's identifier."""

    key: ContactKey
    shared: bool
    """Some of its rows carry another phone number or email address: its contact-level
    personal fields may come from another person, so only the subject's rows are theirs."""


def _matches(client: Client, field: Identifier, handle_param: str = "h") -> str:
    """A condition: the row carries the held identifier (emails compare case-insensitively:
    mail systems treat the local part so; idx_email is on lower(email))."""
    wanted = _held(client, "value", handle_param)
    if field == "phone":
        return f"ifNull(phone = {wanted}, 0)"
    return f"ifNull(lower(email) = lower({wanted}), 0)"


def subject_contacts(client: Client, field: Identifier, value: str) -> list[SubjectContact]:
    """Every contact with a row that carries this phone number or email address, and whether
    it also has rows of another identifier. The value reaches ClickHouse as data
    (held_values), never in the query's text."""
    matched = _matches(client, field)
    with held_values(client, value) as handle:
        rows = client.query(
            f"""
SELECT contact_id, channel,
       countIf(NOT matched AND (phone IS NOT NULL OR email IS NOT NULL)) > 0 AS shared
FROM (
    SELECT contact_id, channel, phone, email, {matched} AS matched
    FROM contact_events
    WHERE (contact_id, channel) IN (
        SELECT contact_id, channel FROM contact_events WHERE {matched}
    )
)
GROUP BY contact_id, channel
ORDER BY contact_id, channel""",
            parameters={"h": handle},
        ).result_rows
    return [SubjectContact(ContactKey(str(r[0]), str(r[1])), bool(r[2])) for r in rows]


def _records(client: Client, sql: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
    result = client.query(sql, parameters=parameters)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


_CONTACT_PERSONAL = ", ".join(PERSONAL_COLUMNS)


def export_data(
    client: Client, found: Sequence[SubjectContact], field: Identifier, value: str
) -> dict[str, list[dict[str, Any]]]:
    """Everything held about the subject: the events that carry their identifier, the merged
    contacts (their personal fields only where every identified row is the subject's), and the
    contacts' redactions. Nothing of another person's rows."""
    own = [c.key for c in found if not c.shared]
    shared = [c.key for c in found if c.shared]
    every = own + shared
    contacts = _records(
        client,
        f"SELECT * EXCEPT retention_clock_at FROM contacts_merged WHERE {IN_KEYS} "
        "ORDER BY contact_id, channel",
        {"keys": own},
    ) + [
        {**row, "personal_fields_withheld": "the contact also holds another identifier"}
        for row in _records(
            client,
            f"SELECT * EXCEPT (retention_clock_at, {_CONTACT_PERSONAL}) FROM contacts_merged "
            f"WHERE {IN_KEYS} ORDER BY contact_id, channel",
            {"keys": shared},
        )
    ]
    with held_values(client, value) as handle:
        events = _records(
            client,
            "SELECT * EXCEPT (kafka_topic, kafka_partition, kafka_offset) "
            f"FROM contact_events FINAL WHERE {IN_KEYS} AND {_matches(client, field)} "
            "ORDER BY contact_id, channel, occurred_at, event_id",
            {"keys": every, "h": handle},
        )
    return {
        "contacts": contacts,
        "events": events,
        "redactions": _records(
            client,
            "SELECT contact_id, channel, reason, redacted_at FROM redaction_log "
            f"WHERE {IN_KEYS} ORDER BY contact_id, channel",
            {"keys": every},
        ),
    }


def _held(client: Client, column: str, handle_param: str = "h") -> str:
    """joinGet of a held value; qualified, since a mutation runs without a current database
    (the name is validated by Settings: letters, digits and underscores only)."""
    return f"joinGet('{client.database}.subject_values', '{column}', {{{handle_param}:String}})"


def rectification_sql(field: Identifier, value: str, key: str, rows: str) -> str:
    """Set the corrected identifier and, where it is the one keyed, the subject key, on the
    contact_events rows that match `rows`; every expression reads subject_values (pure). The
    statement holds no personal value: ClickHouse keeps mutation texts (system.mutations,
    mutation_N.txt) long after the data is redacted."""
    if field == "phone":
        assignments = f"phone = {value}, subject_key = {key}"
    else:  # the key is derived from the phone number when there is one
        assignments = f"email = {value}, subject_key = if(phone IS NULL, {key}, subject_key)"
    return (
        f"ALTER TABLE contact_events UPDATE {assignments} "
        f"WHERE {IN_KEYS} AND {rows} AND {field} IS NOT NULL"
    )


# The contact rows are aggregates of the events: after the events changed they are cleared
# (without leaving the old bytes) and aggregated again from the events as they are now. The
# aggregates are idempotent (min, max, argMax), so the new row merges with the cleared one
# exactly; the redaction marks of the cleared row stay (the reason is assigned to itself: the
# mark of a mutation made inside noting_changes, NOTED_MARK).
_CLEAR_CONTACT_ROWS_SQL = (
    f"ALTER TABLE contacts UPDATE {clear_personal_sql()}, {NOTED_MARK}NULL) WHERE {IN_KEYS}"
)
_AGGREGATE_AGAIN_SQL = f"""
INSERT INTO contacts (contact_id, channel, first_event_at, last_event_at, arrived_at,
    handling_started_at, handled_at, advisor_id, queue, reason, {_CONTACT_PERSONAL})
SELECT contact_id, channel, min(occurred_at), max(occurred_at), min(arrived_at),
    min(handling_started_at), max(handled_at),
    argMaxState(advisor_id, (occurred_at, event_id)), argMaxState(queue, (occurred_at, event_id)),
    argMaxState(reason, (occurred_at, event_id)),
    {", ".join(f"max({c})" for c in PERSONAL_COLUMNS)}
FROM contact_events
WHERE {IN_KEYS}
GROUP BY contact_id, channel"""


def _rebuild_contact_rows(client: Client, keys: Sequence[ContactKey]) -> None:
    parameters = {"keys": list(keys)}
    client.command(_CLEAR_CONTACT_ROWS_SQL, parameters=parameters, settings=MUTATION_SETTINGS)
    client.command(_AGGREGATE_AGAIN_SQL, parameters=parameters)


@contextmanager
def _taken_back_on_failure(client: Client, handle: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        # A failed mutation is retried by the engine for ever and blocks the table's later
        # mutations (redaction too): take it back. The handle is a random hex string.
        client.command(
            f"KILL MUTATION WHERE database = currentDatabase() AND command LIKE '%{handle}%'"
        )
        raise


def rectify(
    client: Client,
    keys: Sequence[ContactKey],
    subject: tuple[Identifier, str],
    field: Identifier,
    correction: tuple[str, str],
) -> None:
    """Correct `field` on the rows of these contacts that carry the subject's identifier
    (`subject`: its field and value), to `correction` (the value and its subject key), then
    rebuild the contact rows. Checked before the held values are deleted (joinGet of a
    deleted key would write an empty string)."""
    value, key = correction
    by, identifier = subject
    with (
        held_values(client, identifier) as handle,
        held_values(client, value, key) as fix,
        noting_changes(client, keys),  # the subject key changes: repeat flags may too
    ):
        parameters = {"h": handle, "fix": fix, "keys": list(keys)}
        rows = _matches(client, by)
        held_value, held_key = _held(client, "value", "fix"), _held(client, "subject_key", "fix")
        with _taken_back_on_failure(client, fix):
            client.command(
                rectification_sql(field, held_value, held_key, rows),
                parameters=parameters,
                settings=MUTATION_SETTINGS,
            )
        _rebuild_contact_rows(client, keys)
        wrong = client.query(
            f"SELECT count() FROM contact_events WHERE {IN_KEYS} AND {rows} "
            f"AND {field} IS NOT NULL AND {field} != {held_value}",
            parameters=parameters,
        ).result_rows[0][0]
    if wrong:
        raise StorageUnavailable(f"rectification left {wrong} rows unchanged; will retry")


def recordings_of(client: Client, keys: Sequence[ContactKey]) -> dict[ContactKey, str]:
    """The call recordings of these contacts (read before their rows are cleared)."""
    rows = client.query(
        "SELECT contact_id, channel, max(recording_ref) FROM contact_events "
        f"WHERE {IN_KEYS} AND channel = 'phone' GROUP BY contact_id, channel",
        parameters={"keys": list(keys)},
    ).result_rows
    return {ContactKey(str(r[0]), str(r[1])): str(r[2]) for r in rows if r[2] is not None}


def erase_rows(client: Client, keys: Sequence[ContactKey], field: Identifier, value: str) -> None:
    """Clear every personal column of the rows of these contacts that carry the subject's
    identifier, then rebuild the contact rows from what is left (another person's rows)."""
    rows = _matches(client, field)
    with held_values(client, value) as handle, noting_changes(client, keys):
        parameters = {"h": handle, "keys": list(keys)}
        with _taken_back_on_failure(client, handle):
            client.command(
                f"ALTER TABLE contact_events UPDATE {clear_personal_sql()} "
                f"WHERE {IN_KEYS} AND {rows}",
                parameters=parameters,
                settings=MUTATION_SETTINGS,
            )
        _rebuild_contact_rows(client, keys)
        left = client.query(
            f"SELECT count() FROM contact_events WHERE {IN_KEYS} AND {rows}",
            parameters=parameters,
        ).result_rows[0][0]
    if left:
        raise StorageUnavailable(f"erasure left {left} rows of the subject; will retry")


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One row of subject_request_log: what a request asked, what became of it, and when. It
    names no identifier of the subject (the request id and kind, never the phone or address)."""

    request_id: str
    kind: str
    status: str
    contacts: int
    verified_by: str
    requested_at: datetime
    completed_at: datetime
    detail: str
    source_offset: int


_AUDIT_COLUMNS = [field.name for field in fields(AuditRow)]


def audit_request(client: Client, row: AuditRow) -> None:
    client.insert(
        "subject_request_log",
        [[getattr(row, name) for name in _AUDIT_COLUMNS]],
        column_names=_AUDIT_COLUMNS,
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
