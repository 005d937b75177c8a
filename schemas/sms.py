"""Raw SMS events from the SMS gateway, topic contacts.raw.sms."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from schemas.message import MessageEvent
from schemas.types import PERSONAL, PhoneNumber, Text


class SmsEvent(MessageEvent):
    """An SMS and its handling."""

    identifier_fields: ClassVar = ("sender_phone",)

    channel: Literal["sms"]
    sender_phone: PhoneNumber | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The sender's number; required on received and complete events."""
    content: Text | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The message text, at most 65,536 bytes of UTF-8 unless the deployment sets another limit."""

    def _personal_data(self) -> dict[str, Any]:
        return {"phone": self.sender_phone, "content": self.content or None}
