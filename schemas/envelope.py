"""The envelope every raw channel event shares, and the lifecycle rules checked on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Final, Self

from pydantic import ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from schemas.base import JsonModel
from schemas.contact import PERSONAL_FIELDS, ContactEvent
from schemas.types import Identifier, Label64, Label128, SchemaVersion, Source, UtcDatetime

# Events that open or summarize a contact must say who made it.
IDENTIFIED_EVENTS: Final = frozenset({"queued", "received", "complete"})
# In ContactEvent field order, so that every event's __dict__ (and repr) has one order.
_NO_PERSONAL_DATA: Final = {
    name: None for name in ContactEvent.model_fields if name in PERSONAL_FIELDS
}

Times = tuple[datetime | None, datetime | None, datetime | None]


class RawEvent(JsonModel):
    """Fields and checks common to the raw events of every channel (see docs/producers.md).

    Extra fields are ignored and not stored: an unvetted new field could carry personal data,
    so a field becomes stored only with a new schema_version.
    """

    # strict: JSON types must match exactly (no "1" for 1, no epoch numbers for timestamps).
    model_config = ConfigDict(strict=True)

    lifecycle_fields: ClassVar[tuple[str, str, str]]
    """The channel's (arrival, handling start, handling end) fields."""
    lifecycle_steps: ClassVar[dict[str, int]]
    """event_type -> the position of the step it reports; that field defaults to occurred_at."""
    identifier_fields: ClassVar[tuple[str, ...]]
    """Fields naming who made the contact; one of them is required on IDENTIFIED_EVENTS."""

    event_id: Identifier
    """Unique id of this event; a resent event keeps its id."""
    contact_id: Identifier
    """Id of the contact (call, message, form) this event belongs to; also the Kafka key."""
    channel: str
    event_type: str
    occurred_at: UtcDatetime
    """When the reported step happened, RFC 3339 with an offset."""
    schema_version: SchemaVersion
    """Version of this contract the event follows; 1 is the only one so far."""
    source: Source
    """The producing system, e.g. acd-prod-1."""
    advisor_id: Label64 | None = None
    """The customer-service advisor handling the contact."""
    reason: Label128 | None = None
    """Contact reason as classified by the source or the advisor."""
    queue: Label64 | None = None
    """Queue or inbox the contact arrived in."""

    @model_validator(mode="after")
    def _check_lifecycle(self) -> Self:
        if self.event_type in IDENTIFIED_EVENTS:
            self._check_identified()
        arrived, started, ended = self.lifecycle_times()
        if started is not None and arrived is not None and started < arrived:
            raise self._order_error(later=1, earlier=0)
        if ended is not None:
            # With a start present, start <= end and arrival <= start cover arrival <= end.
            if started is not None and ended < started:
                raise self._order_error(later=2, earlier=1)
            if started is None and arrived is not None and ended < arrived:
                raise self._order_error(later=2, earlier=0)
        return self

    def lifecycle_times(self) -> Times:
        """Arrival, handling start and end; the step this event reports defaults to occurred_at."""
        first, second, third = self.lifecycle_fields
        values = self.__dict__
        times = [values[first], values[second], values[third]]
        step = self.lifecycle_steps.get(self.event_type)
        if step is not None and times[step] is None:
            times[step] = self.occurred_at
        return times[0], times[1], times[2]

    def _check_identified(self) -> None:
        values = self.__dict__
        for name in self.identifier_fields:
            if values[name] is not None:
                return
        raise PydanticCustomError(
            "missing_field",
            "{fields} required when event_type is queued, received or complete",
            {"fields": " or ".join(f"'{name}'" for name in self.identifier_fields)},
        )

    def _order_error(self, later: int, earlier: int) -> PydanticCustomError:
        return PydanticCustomError(
            "time_order",
            "'{later}' is before '{earlier}'",
            {"later": self.lifecycle_fields[later], "earlier": self.lifecycle_fields[earlier]},
        )

    def to_contact_event(self) -> ContactEvent:
        """The normalized event (subject_key left None for the caller to fill)."""
        arrived, started, handled = self.lifecycle_times()
        return ContactEvent.from_normalized(
            {
                "event_id": self.event_id,
                "contact_id": self.contact_id,
                "channel": self.channel,
                "event_type": self.event_type,
                "occurred_at": self.occurred_at,
                "schema_version": self.schema_version,
                "source": self.source,
                "advisor_id": self.advisor_id or None,
                "queue": self.queue or None,
                "reason": self.reason or None,
                "arrived_at": arrived,
                "handling_started_at": started,
                "handled_at": handled,
                **_NO_PERSONAL_DATA,
                **self._personal_data(),
            }
        )

    def _personal_data(self) -> dict[str, Any]:
        """This channel's personal fields under their ContactEvent names; empty texts as None."""
        raise NotImplementedError
