"""Messages of the pipeline's own topics: tombstones, subject requests and results, DLQ, and
recording-deletion requests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, Self

from pydantic import ConfigDict, Field, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from schemas.base import JsonModel
from schemas.limits import limits_of
from schemas.normalize import MAX_EMAIL_CHARS, normalize_email, normalize_phone
from schemas.reasons import MAX_REASON_CHARS
from schemas.types import (
    PERSONAL,
    Channel,
    EmailAddress,
    Identifier,
    Label64,
    PhoneNumber,
    RecordingRef,
    UtcDatetime,
)
from schemas.validate import Rejection

RedactionReason = Literal["retention", "erasure"]
REQUEST_ID_PATTERN: Final = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
RequestId = Annotated[str, Field(pattern=f"^{REQUEST_ID_PATTERN}$")]
"""A subject request's id: a lowercase UUID (it names the export file, so nothing else)."""
RequestKind = Literal["access", "portability", "erasure", "rectification"]
Detail = Annotated[str, Field(max_length=MAX_REASON_CHARS)]
ErrorCode = Annotated[str, Field(min_length=1, max_length=64)]


class Tombstone(JsonModel):
    """Order to redact one contact's personal data everywhere (DESIGN P4); key = contact_id."""

    contact_id: Identifier
    channel: Channel | None = None
    """The contact's channel: a contact is its channel and its id (channel systems issue ids
    independently). Absent only in tombstones written before 2026-12, which meant every channel's
    contact of that id."""
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


class Deployment(JsonModel):
    """The deployment a subject request is for: the one whose workers have this topic prefix
    and app id. Signed with the request, so a request made for staging does nothing in
    production even where both trust the same DPO key."""

    topic_prefix: str = Field(min_length=1, max_length=249)
    app_id: str = Field(min_length=1, max_length=249)


class SubjectRequest(JsonModel):
    """A verified data-subject request (DESIGN P5) naming the subject by phone or email.

    Workers execute only requests signed by the DPO tool (header `contactstream.signature`:
    Ed25519 over the exact value bytes) for their own deployment, valid no longer than they
    allow, not expired and not executed before."""

    request_id: RequestId
    kind: RequestKind
    phone: PhoneNumber | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    email: EmailAddress | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    correction: Correction | None = None
    """Required when kind is rectification, refused otherwise."""
    verified_by: Identifier
    """Who verified the requester's identity (outside this system)."""
    deployment: Deployment
    """Which deployment may execute it; a worker refuses another's, and a request without it
    (signed by a DPO tool older than this field)."""
    verified_at: UtcDatetime
    """When the identity was verified."""
    requested_at: UtcDatetime
    expires_at: UtcDatetime
    """After this the request is refused (the DPO tool sets 24 h after requested_at; a worker
    refuses a request valid for longer than its CONTACTSTREAM_SUBJECT_REQUEST_TTL_SECONDS)."""

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
        if not self.verified_at <= self.requested_at < self.expires_at:
            raise PydanticCustomError(
                "time_order", "verified_at <= requested_at < expires_at is required"
            )
        return self


class SubjectResult(JsonModel):
    """Outcome of a SubjectRequest; the identifier is deliberately not repeated."""

    request_id: RequestId
    kind: RequestKind | None
    """None when a rejected request's kind could not be read."""
    status: Literal["done", "failed", "rejected"]
    contacts: int = Field(ge=0)
    """How many contacts the request touched."""
    export_path: str | None = Field(None, max_length=1024)
    """Where an access or portability export was written."""
    detail: Detail = ""
    """Free text for the DPO; never personal data."""
    completed_at: UtcDatetime


DLQ_HEADER_PREFIX: Final = "contactstream.error."
"""Every dead-letter header is named `contactstream.error.<field>`."""


def _header(field: str, **constraints: Any) -> Any:
    """A DeadLetter field travelling as the header `contactstream.error.<field>`."""
    return Field(alias=DLQ_HEADER_PREFIX + field, **constraints)


class DeadLetter(JsonModel):
    """Why a record went to the DLQ, carried in the dead letter's headers.

    A dead letter's key and value are the original record's key and value bytes, unchanged (as
    in a Kafka Connect dead letter), and its original headers are kept; this model is the error
    context added as headers named `contactstream.error.<field>` (not Connect's
    `__connect.errors.*`: docs/producers.md maps them), each value the UTF-8 text of
    the field (integers in decimal, times in RFC 3339). So a letter is never larger than its
    original plus a few hundred bytes of headers, and always fits the DLQ topic.
    """

    model_config = ConfigDict(populate_by_name=True)

    topic: str = _header("topic", min_length=1, max_length=249)
    """The raw topic the record was read from."""
    partition: int = _header("partition", ge=0)
    offset: int = _header("offset", ge=0)
    timestamp: int | None = _header("timestamp", default=None, ge=0)
    """The original record's Kafka timestamp, milliseconds since the epoch."""
    contact_id: Identifier | None = _header("contact_id", default=None)
    """The event's contact_id when it was a readable string of at most 128 characters."""
    error_code: ErrorCode = _header("error_code")
    """A rejection code (docs/producers.md) or a processing error's code."""
    reason: Detail = _header("reason")
    """Which field broke which rule; never a value from the record."""
    failed_at: UtcDatetime = _header("failed_at")

    def headers(self) -> list[tuple[str, bytes]]:
        """The error context as Kafka headers (absent fields are left out)."""
        document = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        return [(name, str(value).encode()) for name, value in document.items()]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | None]]) -> Self:
        """Read the context back from a dead letter's headers; raises ValidationError."""
        found = {
            name: value.decode("utf-8", "replace")
            for name, value in headers
            if name.startswith(DLQ_HEADER_PREFIX) and value is not None
        }
        return cls.model_validate(found)

    @classmethod
    def from_rejection(
        cls,
        rejection: Rejection,
        *,
        topic: str,
        partition: int,
        offset: int,
        timestamp: int | None = None,
        failed_at: datetime | None = None,
    ) -> Self:
        """The DLQ context of a payload `parse_event` rejected."""
        return cls(
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp=timestamp,
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


DlqActionKind = Literal["redriven", "redrive_run", "value_shown"]


class DlqAction(JsonModel):
    """What was done with dead letters (docs/dead-letters.md); key = the letter's `P:O`, or the
    kind for a run. Never an event's value: letters are named by position, runs by filters."""

    kind: DlqActionKind
    """`redriven`: one letter sent back to its raw topic; `redrive_run`: the audit record of a
    `dlq redrive` run; `value_shown`: a letter's original value was printed (`dlq show --value`)."""
    at: UtcDatetime
    by: Label64
    """Who: the Kafka principal, or the operating-system user on an unauthenticated broker."""
    letter: Label64 | None = None
    """`P:O` (DLQ partition and offset) of the letter, for `redriven` and `value_shown`."""
    filters: dict[Label64, Label64] | None = None
    """The run's filters (`channel`, `reason`, `since`, `until`, `offset`), for `redrive_run`."""
    counts: dict[Label64, int] | None = None
    """The run's counts (`redriven`, `still_invalid`, `already_redriven`, ...)."""
    dry_run: bool = False
