"""Pure mapping of normalized events to ClickHouse rows (and back to their personal columns)."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from schemas.contact import PERSONAL_FIELDS, ContactEvent, subject_key

EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "contact_id",
    "channel",
    "event_type",
    "occurred_at",
    "schema_version",
    "source",
    "advisor_id",
    "queue",
    "reason",
    "arrived_at",
    "handling_started_at",
    "handled_at",
    "phone",
    "email",
    "subject",
    "content",
    "form_fields",
    "recording_ref",
    "subject_key",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)
# Derived from the one declaration in schemas.contact, never listed again by hand.
PERSONAL_COLUMNS: tuple[str, ...] = tuple(c for c in EVENT_COLUMNS if c in PERSONAL_FIELDS)
_PERSONAL_INDEXES = tuple(EVENT_COLUMNS.index(c) for c in PERSONAL_COLUMNS)
_CONTACT_ID = EVENT_COLUMNS.index("contact_id")


class Origin(NamedTuple):
    topic: str
    partition: int
    offset: int


def event_row(event: ContactEvent, origin: Origin, salt: bytes) -> list[Any]:
    """One contact_events row; the subject key is the salted hash of the phone or email."""
    identifier = event.phone or event.email
    form_fields = event.form_fields
    return [
        event.event_id,
        event.contact_id,
        event.channel,
        event.event_type,
        event.occurred_at,
        event.schema_version,
        event.source,
        event.advisor_id,
        event.queue,
        event.reason,
        event.arrived_at,
        event.handling_started_at,
        event.handled_at,
        event.phone,
        event.email,
        event.subject,
        event.content,
        orjson.dumps(form_fields, option=orjson.OPT_SORT_KEYS).decode() if form_fields else None,
        event.recording_ref,
        subject_key(identifier, salt) if identifier else None,
        origin.topic,
        origin.partition,
        origin.offset,
    ]


def row_contact_id(row: list[Any]) -> str:
    return str(row[_CONTACT_ID])


def strip_personal(row: list[Any]) -> list[Any]:
    """The same row with every personal column empty (for contacts already redacted)."""
    stripped = list(row)
    for index in _PERSONAL_INDEXES:
        stripped[index] = None
    return stripped
