"""Field types shared by every model: identifiers, UTC timestamps, phone, email, bounded text.

Validators raise `PydanticCustomError` whose type is the rejection code and whose message names
the rule only: an input value must never reach a reason text, a log line or an exception.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    StrictInt,
    StringConstraints,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from schemas.limits import MAX_FORM_FIELDS, limits_of
from schemas.normalize import (
    MAX_EMAIL_CHARS,
    MAX_PHONE_CHARS,
    normalize_email,
    normalize_phone,
    text_fits,
)

SCHEMA_VERSION: Final = 1
"""The newest (and so far only) schema version of the raw events."""

Channel = Literal["phone", "sms", "email", "form"]
CHANNELS: Final[tuple[Channel, ...]] = ("phone", "sms", "email", "form")
PhoneEventType = Literal["queued", "answered", "ended", "updated", "complete"]
CallerPresentation = Literal["allowed", "restricted", "unavailable"]
"""Whether the network presented the caller's number (the usual telephony terms)."""
MessageEventType = Literal["received", "handling_started", "handled", "updated", "complete"]
EventType = Literal[
    "queued", "answered", "ended", "received", "handling_started", "handled", "updated", "complete"
]

PERSONAL: Final[dict[str, Any]] = {"personal": True}
"""`json_schema_extra` of a personal field (DESIGN P1); `schemas.contact` derives lists from it."""

# Timestamps outside these years are typos or epoch mix-ups and would not fit ClickHouse's
# DateTime64 either; rejecting them keeps such an event from poisoning a batch insert.
FIRST_YEAR: Final = 1970
LAST_YEAR: Final = 2099


PRINTABLE_PATTERN: Final = (
    r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    r"\ufeff\ufff9-\ufffb]*$"
)
"""No control characters (C0, DEL, C1) and no invisible or bidirectional format characters.

Identifiers and labels are printed by the CLI, written to logs and headers, and shown in
dashboards: a newline or an ANSI escape would forge lines on a terminal, and a bidi override
would make one id look like another. Written with \\xHH and \\uHHHH escapes only, which the
worker's engine (Rust regex), Python's `re` and JSON Schema (ECMA 262) all read alike."""
PRINTABLE: Final = re.compile(PRINTABLE_PATTERN)


def _stripped(max_length: int, min_length: int = 0) -> StringConstraints:
    return StringConstraints(
        strip_whitespace=True,
        min_length=min_length,
        max_length=max_length,
        pattern=PRINTABLE_PATTERN,
    )


Identifier = Annotated[str, _stripped(128, 1)]
"""event_id, contact_id, request_id: 1 to 128 printable characters after stripping."""
Source = Annotated[str, _stripped(64, 1)]
Label64 = Annotated[str, _stripped(64)]
Label128 = Annotated[str, _stripped(128)]
RecordingRef = Annotated[str, _stripped(1024, 1)]
SchemaVersion = Annotated[StrictInt, Field(ge=1, le=SCHEMA_VERSION)]


def _to_utc(value: datetime) -> datetime:
    # The year as written is checked, not the UTC one: comparing aware datetimes costs ~0.6 µs
    # each, and astimezone() would overflow on year 1 with a positive offset.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "invalid_field",
            "year must be {first} to {last}",
            {"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""RFC 3339 timestamp with an offset (naive ones are rejected), stored in UTC."""


def _phone(value: str, info: ValidationInfo) -> str:
    normalized = normalize_phone(value, limits_of(info.context).default_region)
    if normalized is None:
        raise PydanticCustomError("invalid_phone", "not a possible phone number")
    return normalized


def _email(value: str) -> str:
    normalized = normalize_email(value)
    if normalized is None:
        raise PydanticCustomError("invalid_email", "not a valid email address")
    return normalized


PhoneNumber = Annotated[str, Field(max_length=MAX_PHONE_CHARS), AfterValidator(_phone)]
"""Any written form of a phone number; stored as E.164 (+358501234567)."""
EmailAddress = Annotated[str, Field(max_length=MAX_EMAIL_CHARS), AfterValidator(_email)]
"""An email address; stored trimmed with its domain lower-cased."""


def _too_large(limit: int) -> PydanticCustomError:
    return PydanticCustomError(
        "too_large", "larger than {max_bytes} bytes of UTF-8", {"max_bytes": limit}
    )


def _text(value: str, info: ValidationInfo) -> str:
    limit = limits_of(info.context).max_text_bytes
    if not text_fits(value, limit):
        raise _too_large(limit)
    return value


def _form_fields(value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
    if len(value) > MAX_FORM_FIELDS:
        raise PydanticCustomError(
            "too_large", "more than {max_fields} fields", {"max_fields": MAX_FORM_FIELDS}
        )
    limit = limits_of(info.context).max_text_bytes
    if not all(text_fits(text, limit) for text in value.values()):
        raise _too_large(limit)
    return value


Text = Annotated[str, AfterValidator(_text)]
"""Free text (content, subject): at most Limits.max_text_bytes bytes of UTF-8."""
FormFieldName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
FormFields = Annotated[
    dict[FormFieldName, str],
    AfterValidator(_form_fields),
    Field(json_schema_extra={"maxProperties": MAX_FORM_FIELDS}),
]
"""A form's free-text fields: at most 50, each value at most Limits.max_text_bytes bytes."""
