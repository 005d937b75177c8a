"""Raw phone-call events from the telephony system (ACD), topic contacts.raw.phone."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from schemas.envelope import RawEvent
from schemas.types import (
    PERSONAL,
    CallerPresentation,
    PhoneEventType,
    PhoneNumber,
    RecordingRef,
    UtcDatetime,
)


class PhoneCallEvent(RawEvent):
    """A call's lifecycle: queued, answered, ended, updated, or one complete record."""

    lifecycle_fields: ClassVar = ("queued_at", "answered_at", "ended_at")
    lifecycle_steps: ClassVar = {"queued": 0, "answered": 1, "ended": 2}
    identifier_fields: ClassVar = ("caller_phone",)

    channel: Literal["phone"]
    event_type: PhoneEventType
    caller_phone: PhoneNumber | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The caller's number, any usual written form (E.164 preferred; national numbers are
    read as Finnish); required on queued and complete events unless the number was not
    presented (caller_presentation)."""
    caller_presentation: CallerPresentation = "allowed"
    """'allowed' (the default): the number was presented; 'restricted': the caller withheld it;
    'unavailable': the network did not deliver it. With restricted or unavailable no
    caller_phone is required; the call counts in every KPI like any other (not stored itself)."""
    queued_at: UtcDatetime | None = None
    """When the call entered the queue; defaults to occurred_at on a queued event."""
    answered_at: UtcDatetime | None = None
    """When an advisor answered; defaults to occurred_at on an answered event."""
    ended_at: UtcDatetime | None = None
    """When the call ended; defaults to occurred_at on an ended event."""
    recording_ref: RecordingRef | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """Reference (URI) to the call recording in the recording store; never the audio."""

    def _check_identified(self) -> None:
        if self.caller_presentation == "allowed":
            super()._check_identified()

    def _personal_data(self) -> dict[str, Any]:
        return {"phone": self.caller_phone, "recording_ref": self.recording_ref}
