"""Cut a simulated contact into the raw lifecycle events upstream systems publish (the contract
of docs/producers.md), and make invalid events of known kinds for the DLQ path."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import orjson

from streams.dev.simulator.contacts import HELSINKI, SimContact

SOURCES: Final = {"phone": "acd", "sms": "sms-gateway", "email": "mail", "form": "web-forms"}
_IDENTIFIER: Final = {"phone": "caller_phone", "sms": "sender_phone"}


def _stamp(moment: datetime) -> str:
    # Upstream systems speak local time with an offset; the pipeline stores UTC.
    return moment.astimezone(HELSINKI).isoformat(timespec="milliseconds")


def _envelope(contact: SimContact, step: str, at: datetime, n: int) -> dict[str, Any]:
    return {
        "event_id": f"{contact.contact_id}-{n}-{step}",
        "contact_id": contact.contact_id,
        "channel": contact.channel,
        "event_type": step,
        "occurred_at": _stamp(at),
        "schema_version": 1,
        "source": SOURCES[contact.channel],
    }


def _identity(contact: SimContact) -> dict[str, Any]:
    if contact.channel in _IDENTIFIER:
        return {_IDENTIFIER[contact.channel]: _local_format(contact.phone)}
    fields: dict[str, Any] = {}
    if contact.phone:
        fields["sender_phone"] = _local_format(contact.phone)
    if contact.email:
        fields["sender_email"] = contact.email
    return fields


def _local_format(phone: str | None) -> str | None:
    """Half the systems send numbers as dialled locally (050 1234567); the pipeline normalizes."""
    if phone and phone.startswith("+358") and int(phone[-1]) % 2 == 0:
        return "0" + phone[4:6] + " " + phone[6:]
    return phone


def _payload(contact: SimContact) -> dict[str, Any]:
    fields: dict[str, Any] = {"reason": contact.reason, "queue": contact.queue}
    if contact.content is not None:
        fields["content"] = contact.content
    if contact.subject is not None:
        fields["subject"] = contact.subject
    if contact.form_fields is not None:
        fields["fields"] = contact.form_fields
        fields["form_id"] = "contact-us"
    return fields


def lifecycle_events(contact: SimContact, rng: random.Random) -> list[dict[str, Any]]:
    """Raw events for one contact: one complete record (some systems) or one per step."""
    names = (
        (("queued", "queued_at"), ("answered", "answered_at"), ("ended", "ended_at"))
        if contact.channel == "phone"
        else (
            ("received", "received_at"),
            ("handling_started", "handling_started_at"),
            ("handled", "handled_at"),
        )
    )
    times = (contact.arrived_at, contact.handling_started_at, contact.handled_at)
    if contact.handled_at is not None and rng.random() < 0.2:
        event = _envelope(contact, "complete", contact.handled_at, 0)
        event.update(_identity(contact), **_payload(contact), advisor_id=contact.advisor_id)
        event.update({field: _stamp(t) for (_, field), t in zip(names, times, strict=True) if t})
        if contact.recording_ref:
            event["recording_ref"] = contact.recording_ref
        return [_clean(event)]
    first = _envelope(contact, names[0][0], contact.arrived_at, 0)
    first.update(_identity(contact), **_payload(contact))
    events = [first]
    for n, ((step, _), moment) in enumerate(zip(names[1:], times[1:], strict=True), start=1):
        if moment is None:
            continue
        event = _envelope(contact, step, moment, n)
        event["advisor_id"] = contact.advisor_id
        if step == "ended" and contact.recording_ref:
            event["recording_ref"] = contact.recording_ref
        events.append(event)
    return [_clean(e) for e in events]


def _clean(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if v is not None}


def encode(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


# Invalid events: (kind, expected rejection code, how to spoil a valid event).
_SPOILERS: Final[tuple[tuple[str, str, Callable[[dict[str, Any]], bytes]], ...]] = (
    ("truncated", "invalid_json", lambda e: encode(e)[:-7]),
    (
        "naive_time",
        "naive_timestamp",
        lambda e: encode({**e, "occurred_at": e["occurred_at"][:19]}),
    ),
    ("future_version", "unknown_schema_version", lambda e: encode({**e, "schema_version": 99})),
    (
        "no_contact",
        "missing_field",
        lambda e: encode({k: v for k, v in e.items() if k != "contact_id"}),
    ),
    ("bad_phone", "invalid_phone", lambda e: encode({**e, **_bad_identity(e, "phone")})),
    ("bad_email", "invalid_email", lambda e: encode({**e, **_bad_identity(e, "email")})),
)


def _bad_identity(event: dict[str, Any], kind: str) -> dict[str, Any]:
    if kind == "phone":
        field = "caller_phone" if event["channel"] == "phone" else "sender_phone"
        return {field: "+358 12"}
    return {"sender_email": "asiakas at example.com"}


def spoil(event: dict[str, Any], rng: random.Random) -> tuple[bytes, str]:
    """An invalid version of `event` and the rejection code the pipeline must give it."""
    channel = event["channel"]
    choices = [
        s
        for s in _SPOILERS
        if not (s[0] == "bad_email" and channel in ("phone", "sms"))
        and not (s[0] == "bad_phone" and channel == "email")
    ]
    _, code, make = rng.choice(choices)
    return make(event), code
