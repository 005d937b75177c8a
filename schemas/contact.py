"""The normalized contact event every channel turns into, and what in it is personal."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Annotated, Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.base import JsonModel
from schemas.types import (
    PERSONAL,
    Channel,
    EmailAddress,
    EventType,
    Identifier,
    Label64,
    Label128,
    PhoneNumber,
    Source,
    UtcDatetime,
)

SubjectKey = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ContactEvent(JsonModel):
    """One lifecycle event of one contact, in the same shape for every channel.

    Times are UTC. `arrived_at` is a call's queue start or a message's arrival,
    `handling_started_at` a call's answer or the start of handling a message, and `handled_at`
    a call's end or the end of handling. Empty optional texts are stored as None.
    """

    # forbid: it is our own normalized shape, so an unknown field is a bug, not a newer producer.
    model_config = ConfigDict(extra="forbid")

    event_id: Identifier
    contact_id: Identifier
    channel: Channel
    event_type: EventType
    occurred_at: UtcDatetime
    schema_version: Annotated[int, Field(ge=1)]
    source: Source
    advisor_id: Label64 | None = None
    queue: Label64 | None = None
    reason: Label128 | None = None
    arrived_at: UtcDatetime | None = None
    handling_started_at: UtcDatetime | None = None
    handled_at: UtcDatetime | None = None
    # DESIGN P1: the personal fields are marked here and only here; PERSONAL_FIELDS, redaction,
    # exports, log scrubbing and analyst views all derive from these marks.
    phone: PhoneNumber | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    email: EmailAddress | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    subject: str | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    content: str | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    form_fields: dict[str, str] | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    recording_ref: str | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    subject_key: SubjectKey | None = Field(None, json_schema_extra=PERSONAL, repr=False)

    @classmethod
    def from_normalized(cls, values: dict[str, Any]) -> Self:
        """An event from values a raw model has validated and normalized already.

        What model_construct does, minus its per-field default and alias handling, which costs
        about 5 µs: half the per-event budget. `values` must hold every field; unit tests check
        that such events equal fully validated ones.

        Every such event shares one fields-set: a set per event made the garbage collector's
        work grow with each retained event (13 % of batch throughput, measured). Sharing is
        safe because pydantic mutates a fields-set only in __setattr__, which frozen models
        refuse, and in model_copy, after copying it.
        """
        event = cls.__new__(cls)
        _set(event, "__dict__", values)
        _set(event, "__pydantic_fields_set__", _ALL_FIELDS_SET)
        _set(event, "__pydantic_extra__", None)
        _set(event, "__pydantic_private__", None)
        return event


_ALL_FIELDS_SET: Final = set(ContactEvent.model_fields)
_set = object.__setattr__


@cache
def personal_fields(model: type[BaseModel]) -> frozenset[str]:
    """Names of the fields of `model` marked personal."""
    return frozenset(
        name
        for name, field in model.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("personal")
    )


PERSONAL_FIELDS: Final = personal_fields(ContactEvent)
"""phone, email, subject, content, form_fields, recording_ref, subject_key."""


def personal_values(event: BaseModel) -> list[str]:
    """Every non-empty personal string in `event` (form field values included), for scrubbing."""
    values: list[str] = []
    for name in sorted(personal_fields(type(event))):
        value = getattr(event, name)
        if isinstance(value, dict):
            values.extend(text for text in value.values() if text)
        elif isinstance(value, str) and value:
            values.append(value)
    return values


def subject_key(identifier: str, salt: bytes) -> str:
    """Salted key of a normalized phone number or email address (HMAC-SHA256, hex).

    It links a person's repeat contacts without storing the identifier in analysts' reach; it is
    itself personal (derived from an identifier) and redacted with the rest.
    """
    inner, outer = _hmac_sha256_pads(salt)
    # HMAC (RFC 2104) from the salt's two padded SHA-256 states, computed once per salt: each
    # key then costs two state copies and two short updates, about 40 % of hmac.new()'s cost
    # (whose set-up repeats per call). tests/unit check it against hmac.new.
    digest = inner.copy()
    digest.update(identifier.encode("utf-8"))
    result = outer.copy()
    result.update(digest.digest())
    return result.hexdigest()


@cache
def _hmac_sha256_pads(salt: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    block = 64  # SHA-256's block size
    key = hashlib.sha256(salt).digest() if len(salt) > block else salt
    key = key.ljust(block, b"\0")
    return (
        hashlib.sha256(bytes(b ^ 0x36 for b in key)),
        hashlib.sha256(bytes(b ^ 0x5C for b in key)),
    )
