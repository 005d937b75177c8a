"""Raw web-form events from the web forms, topic contacts.raw.form."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from schemas.message import MessageEvent
from schemas.types import PERSONAL, EmailAddress, FormFields, Label64, PhoneNumber, Text


class FormEvent(MessageEvent):
    """A submitted web form and its handling; the sender leaves an email address or a number.

    form_id is validated but not carried into ContactEvent, which has no field for it.
    """

    identifier_fields: ClassVar = ("sender_email", "sender_phone")

    channel: Literal["form"]
    sender_email: EmailAddress | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The sender's address; this or sender_phone is required on received and complete."""
    sender_phone: PhoneNumber | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The sender's number; this or sender_email is required on received and complete."""
    form_id: Label64 | None = None
    """Which form was used."""
    fields: FormFields | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The form's free-text fields by name: at most 50, names of 1 to 64 characters, each
    value at most 65,536 bytes of UTF-8 unless the deployment sets another limit."""
    content: Text | None = Field(None, json_schema_extra=PERSONAL, repr=False)
    """The form's main message text, at most 65,536 bytes of UTF-8 unless the deployment
    sets another limit."""

    def _personal_data(self) -> dict[str, Any]:
        return {
            "phone": self.sender_phone,
            "email": self.sender_email,
            "form_fields": self.fields or None,
            "content": self.content or None,
        }
