"""What SMS, email and form events share: the lifecycle of a received message."""

from __future__ import annotations

from typing import ClassVar

from schemas.envelope import RawEvent
from schemas.types import MessageEventType, UtcDatetime


class MessageEvent(RawEvent):
    """A message's lifecycle: received, handling_started, handled, updated, or complete."""

    lifecycle_fields: ClassVar = ("received_at", "handling_started_at", "handled_at")
    lifecycle_steps: ClassVar = {"received": 0, "handling_started": 1, "handled": 2}

    event_type: MessageEventType
    received_at: UtcDatetime | None = None
    """When the message arrived; defaults to occurred_at on a received event."""
    handling_started_at: UtcDatetime | None = None
    """When an advisor started handling it; defaults to occurred_at on handling_started."""
    handled_at: UtcDatetime | None = None
    """When handling ended; defaults to occurred_at on a handled event."""
