"""Valid example raw events with fake data, for tests (here and downstream) and the docs.

Numbers are in a Finnish mobile test-looking range (+358 50 ...) and addresses at example.fi.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, get_args

import orjson

from schemas.types import SCHEMA_VERSION
from schemas.validate import CHANNEL_MODELS

EVENT_TYPES: Final = {
    channel: get_args(model.model_fields["event_type"].annotation)
    for channel, model in CHANNEL_MODELS.items()
}
"""channel -> the event types its raw model accepts, lifecycle order."""
FIRST_STEP: Final = {channel: types[0] for channel, types in EVENT_TYPES.items()}
# The example contact's three lifecycle steps, in Finnish summer time as sources send them.
_TIMES: Final = (
    "2025-05-12T09:58:00+03:00",
    "2025-05-12T10:01:30+03:00",
    "2025-05-12T10:09:45+03:00",
)
_IDENTITY: Final[dict[str, dict[str, Any]]] = {
    "phone": {"caller_phone": "+358 50 123 4567", "recording_ref": "rec://acd/2025/05/12/c-1.opus"},
    "sms": {"sender_phone": "050 123 4567", "content": "Lehti ei tullut tänään."},
    "email": {
        "sender_email": "Matti.Meikalainen@Example.FI",
        "subject": "Laskun eräpäivä",
        "content": "Hei, voinko siirtää laskun eräpäivää viikolla?",
    },
    "form": {
        "sender_email": "matti.meikalainen@example.fi",
        "sender_phone": "0501234567",
        "form_id": "yhteydenotto",
        "fields": {"aihe": "Osoitteenmuutos", "uusi_osoite": "Esimerkkitie 1, Oulu"},
        "content": "Muutan ensi kuussa.",
    },
}


def raw_event(
    channel: str, event_type: str | None = None, /, *, drop: Iterable[str] = (), **overrides: Any
) -> dict[str, Any]:
    """A valid raw event of `channel` as a JSON-ready dict; `overrides` replace fields and
    `drop` removes them. A complete record carries all three lifecycle times."""
    kind = event_type or FIRST_STEP[channel]
    model = CHANNEL_MODELS[channel]
    step = model.lifecycle_steps.get(kind, 2)
    event: dict[str, Any] = {
        "event_id": f"{channel}-c-1-{kind}",
        "contact_id": f"{channel}-c-1",
        "channel": channel,
        "event_type": kind,
        "occurred_at": _TIMES[step],
        "schema_version": SCHEMA_VERSION,
        "source": f"{channel}-gateway-1",
        "queue": "laskutus",
        "reason": "lasku",
        **_IDENTITY[channel],
    }
    if kind != FIRST_STEP[channel]:
        event["advisor_id"] = "adv-17"
    if kind == "complete":
        event.update(zip(model.lifecycle_fields, _TIMES, strict=True))
    event.update(overrides)
    for name in drop:
        event.pop(name, None)
    return event


def raw_payload(
    channel: str, event_type: str | None = None, /, *, drop: Iterable[str] = (), **overrides: Any
) -> bytes:
    """`raw_event(...)` as the UTF-8 JSON bytes a producer puts on the topic."""
    return orjson.dumps(raw_event(channel, event_type, drop=drop, **overrides))
