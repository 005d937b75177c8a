"""Pure mapping of normalized events to ClickHouse rows (and back to their personal columns)."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from schemas.contact import PERSONAL_FIELDS, ContactEvent, subject_key

# contact_events columns: the ContactEvent fields in declaration order, then where it came from.
_EVENT_FIELDS: tuple[str, ...] = tuple(ContactEvent.model_fields)
EVENT_COLUMNS: tuple[str, ...] = (*_EVENT_FIELDS, "kafka_topic", "kafka_partition", "kafka_offset")
# Derived from the one declaration in schemas.contact, never listed again by hand.
PERSONAL_COLUMNS: tuple[str, ...] = tuple(c for c in EVENT_COLUMNS if c in PERSONAL_FIELDS)
_PERSONAL_INDEXES = tuple(EVENT_COLUMNS.index(c) for c in PERSONAL_COLUMNS)
_FORM_FIELDS = EVENT_COLUMNS.index("form_fields")
_SUBJECT_KEY = EVENT_COLUMNS.index("subject_key")


class Origin(NamedTuple):
    topic: str
    partition: int
    offset: int


def event_row(event: ContactEvent, origin: Origin, salt: bytes) -> list[Any]:
    """One contact_events row; the subject key is the salted hash of the phone or email."""
    # The model's own field dict holds every field in declaration order (pydantic's validation
    # and ContactEvent.from_normalized both build it so; tests/unit check it per channel).
    values = event.__dict__
    row = list(values.values())
    form_fields = values["form_fields"]
    row[_FORM_FIELDS] = (
        orjson.dumps(form_fields, option=orjson.OPT_SORT_KEYS).decode() if form_fields else None
    )
    identifier = values["phone"] or values["email"]
    row[_SUBJECT_KEY] = subject_key(identifier, salt) if identifier else None
    row += origin
    return row


def subject_key_of(row: list[Any]) -> str | None:
    """The subject key of a contact_events row (None when it holds no phone or email)."""
    key: str | None = row[_SUBJECT_KEY]
    return key


def strip_personal(row: list[Any]) -> list[Any]:
    """The same row with every personal column empty (for contacts already redacted)."""
    stripped = list(row)
    for index in _PERSONAL_INDEXES:
        stripped[index] = None
    return stripped
