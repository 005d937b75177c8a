"""Messages of the pipeline's own topics: tombstones, subject requests and results, DLQ, and
recording-deletion requests."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.base import JsonModel
from schemas.limits import limits_of
from schemas.normalize import MAX_EMAIL_CHARS, normalize_email, normalize_phone
from schemas.reasons import MAX_REASON_CHARS
from schemas.types import (
    PERSONAL,
    EmailAddress,
    Identifier,
    PhoneNumber,
    RecordingRef,
    UtcDatetime,
)
from schemas.validate import Rejection

RedactionReason = Literal["retention", "erasure"]
RequestKind = Literal["access", "portability", "erasure", "rectification"]
Detail = Annotated[str, Field(max_length=MAX_REASON_CHARS)]
ErrorCode = Annotated[str, Field(min_length=1, max_length=64)]


class Tombstone(JsonModel):
    """Order to redact one contact's personal data everywhere (DESIGN P4); key = contact_id."""

    contact_id: Identifier
    reason: RedactionReason
    issued_at: UtcDatetime
    due_at: UtcDatetime | None = None
    """When retention ran out (retention tombstones)."""
    request_id: Identifier | None = None
    """The erasure request that caused it (erasure tombstones)."""


class Correction(JsonModel):
    """The corrected identifier of a rectification request."""

    field: Literal["phone", "email"]
    value: str = Field(max_length=MAX_EMAIL_CHARS, json_schema_extra=PERSONAL, repr=False)
    """The correct phone number or email address; normalized like the raw events'."""
    contact_id: Identifier | None = None
    """Correct only this contact; all of the subject's contacts when absent."""

    @model_validator(mode="after")
    def _normalize_value(self, info: ValidationInfo) -> Self:
        if self.field == "phone":
            value = normalize_phone(self.value, limits_of(info.context).default_region)
            error = PydanticCustomError("invalid_phone", "'value' is not a possible phone number")
        else:
            value = normalize_email(self.value)
            error = PydanticCustomError("invalid_email", "'value' is not a valid email address")
        if value is None:
            raise error
        return self if value == self.value else self.model_copy(update={"value": value})


class SubjectRequest(JsonModel):
    """A verified data-subject request (DESIGN P5) naming the subject by phone or email."""

    request_id: Identifier
    kind: RequestKind
    phone: PhoneNumber | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    email: EmailAddress | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    correction: Correction | None = None
    """Required when kind is rectification, refused otherwise."""
    verified_by: Identifier
    """Who verified the requester's identity (outside this system)."""
    requested_at: UtcDatetime

    @model_validator(mode="after")
    def _check_shape(self) -> Self:
        if (self.phone is None) == (self.email is None):
            raise PydanticCustomError(
                "invalid_field", "exactly one of 'phone' or 'email' is required"
            )
        if self.kind == "rectification" and self.correction is None:
            raise PydanticCustomError("missing_field", "'correction' is required for rectification")
        if self.kind != "rectification" and self.correction is not None:
            raise PydanticCustomError("invalid_field", "'correction' is only for rectification")
        return self


class SubjectResult(JsonModel):
    """Outcome of a SubjectRequest; the identifier is deliberately not repeated."""

    request_id: Identifier
    kind: RequestKind
    status: Literal["done", "failed"]
    contacts: int = Field(ge=0)
    """How many contacts the request touched."""
    export_path: str | None = Field(None, max_length=1024)
    """Where an access or portability export was written."""
    detail: Detail = ""
    """Free text for the DPO; never personal data."""
    completed_at: UtcDatetime


def _from_base64(value: Any, info: ValidationInfo) -> Any:
    # Only JSON carries base64; Python callers hand over the raw bytes themselves.
    if info.mode != "json" or not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise PydanticCustomError("invalid_field", "must be standard base64") from None


def _to_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


Base64Bytes = Annotated[
    bytes,
    BeforeValidator(_from_base64),
    PlainSerializer(_to_base64, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]


class DeadLetter(JsonModel):
    """An event the pipeline could not take, with where it came from and why; key = contact_id."""

    original: Base64Bytes = Field(json_schema_extra=PERSONAL, repr=False)
    """The record's value exactly as read (standard base64 in JSON)."""
    topic: str = Field(min_length=1, max_length=249)
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None = None
    """The record's key as text (unbounded: it is whatever the producer sent)."""
    contact_id: Identifier | None = None
    error_code: ErrorCode
    """A rejection code (docs/producers.md) or a processing error's code."""
    reason: Detail
    """Which field broke which rule; never a value from the record."""
    failed_at: UtcDatetime

    @classmethod
    def from_rejection(
        cls,
        rejection: Rejection,
        *,
        original: bytes,
        topic: str,
        partition: int,
        offset: int,
        key: str | None = None,
        failed_at: datetime | None = None,
    ) -> Self:
        """The DLQ record of a payload `parse_event` rejected."""
        return cls(
            original=original,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            contact_id=rejection.contact_id,
            error_code=rejection.code,
            reason=rejection.reason,
            failed_at=failed_at or datetime.now(UTC),
        )


class RecordingDeletion(JsonModel):
    """Request to the recording store to delete one call recording; key = contact_id."""

    contact_id: Identifier
    recording_ref: RecordingRef = Field(json_schema_extra=PERSONAL, repr=False)
    reason: RedactionReason
    requested_at: UtcDatetime
