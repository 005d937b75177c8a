"""Raw email events from the mail system, topic contacts.raw.email."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from schemas.message import MessageEvent
from schemas.types import PERSONAL, EmailAddress, Text


class EmailEvent(MessageEvent):
    """An email and its handling."""

    identifier_fields: ClassVar = ("sender_email",)

    channel: Literal["email"]
    sender_email: EmailAddress | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The sender's address; required on received and complete events."""
    subject: Text | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The subject line, at most 65,536 bytes of UTF-8 unless the deployment sets another limit."""
    content: Text | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The message body as plain text, at most 65,536 bytes of UTF-8 unless the
    deployment sets another limit."""

    def _personal_data(self) -> dict[str, Any]:
        return {
            "email": self.sender_email,
            "subject": self.subject or None,
            "content": self.content or None,
        }
