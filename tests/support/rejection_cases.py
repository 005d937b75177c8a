"""Payloads the pipeline refuses, shared by the tests of validation (test_schemas_rejections,
test_schemas_properties) and of `contactstream schemas validate` (test_schemas_validate),
so that the command is checked on every rejection case validation is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from schemas.examples import EVENT_TYPES, raw_event, raw_payload
from schemas.validate import CHANNEL_MODELS

GUIDE: Final = Path(__file__).resolve().parents[2] / "docs" / "producers.md"
FUTURE: Final = (datetime.now(UTC) + timedelta(days=3)).isoformat()
"""Beyond the pipeline's default skew of one day."""

PHONE: Final = "+358 40 987 6543"
EMAIL: Final = "Salainen.Henkilo@Example.FI"
SECRET: Final = "Henkilötunnukseni on 010101-123A"

UNDECODABLE: Final = [b"", b"{", b"not json", b'{"a": 1,}', b"\xff\xfe{}", b'{"content": "\xe4"}']
NOT_OBJECTS: Final = [b"[]", b"[1, 2]", b'"event"', b"42", b"null", b"true"]

UNPRINTABLE: Final = [
    "c-1\nretention: all contacts redacted",  # a forged line on a terminal or in a log
    "c-1\x1b[2K\x1b[1Gc-2",  # ANSI: erase the line, print another id
    "c-\u202e1-c",  # bidi override: shows as another id
    "c-\u200b1",  # zero-width space: two ids that look alike
    "c-1\x00",
    "c-\x851",  # C1 next line (at either end it is whitespace and stripped)
    "c-\u20281",
]
# Fields that must be printable, and the code a non-printable value of each gets.
PRINTABLE_FIELDS: Final = [
    ("contact_id", "invalid_id"),
    ("event_id", "invalid_id"),
    ("source", "invalid_field"),
    ("advisor_id", "invalid_field"),
    ("queue", "invalid_field"),
    ("reason", "invalid_field"),
]
UNSAFE_IDS: Final[list[Any]] = ["x" * 129, 17, None, {"id": 1}, "   "]

PLANTED: Final[list[tuple[str, dict[str, Any]]]] = [
    ("phone", {"caller_phone": PHONE + "0000000"}),
    ("phone", {"caller_phone": EMAIL}),
    ("phone", {"recording_ref": SECRET * 40}),
    ("phone", {"caller_phone": [PHONE]}),
    ("phone", {"queued_at": PHONE}),
    ("phone", {"occurred_at": SECRET}),
    ("phone", {"event_type": SECRET}),
    ("phone", {"channel": EMAIL}),
    ("phone", {"schema_version": PHONE}),
    ("phone", {"advisor_id": SECRET * 3}),
    ("phone", {"reason": {"text": SECRET}}),
    ("sms", {"sender_phone": "+358 " + SECRET}),
    ("sms", {"content": SECRET * 5000}),
    ("sms", {"content": [SECRET]}),
    ("email", {"sender_email": SECRET + "@" + EMAIL}),
    ("email", {"sender_email": PHONE}),
    ("email", {"subject": SECRET * 5000}),
    ("email", {"content": {"html": SECRET}}),
    ("form", {"sender_email": EMAIL + ".", "sender_phone": PHONE + "x"}),
    ("form", {"fields": {SECRET: 5}}),
    ("form", {"fields": {"k" * 65 + SECRET: "x"}}),
    ("form", {"fields": {f"{SECRET}{i}": SECRET for i in range(51)}}),
    ("form", {"fields": {"viesti": SECRET * 5000}}),
    ("form", {"form_id": SECRET * 3}),
]

# Single cases of test_schemas_rejections, by what they show.
MOST_DECISIVE: Final = raw_event("phone", schema_version=2, channel="sms", caller_phone="12")
WRONG_CHANNEL: Final = raw_event("phone", channel="sms", event_id="")
MANY_ERRORS: Final = {name: 5 for name in raw_event("email", "complete")}
HIDDEN_KEY: Final = raw_event("form", fields={"content": 1, SECRET: 2})
TIME_ORDER: Final = raw_event(
    "phone",
    "updated",
    queued_at="2025-05-12T10:00:00+03:00",
    answered_at="2025-05-12T09:00:00+03:00",
)


def corrupt(channel: str, event: dict[str, Any], how: int, secret: str) -> dict[str, Any]:
    """`event` broken in one of several ways, with `secret` inside the offending value."""
    model = CHANNEL_MODELS[channel]
    text_field = {"phone": "recording_ref", "sms": "content", "email": "subject", "form": "content"}
    identifier = model.identifier_fields[0]
    # phonenumbers reads a number out of surrounding text, so the planted number is too long.
    bad_identifier = "+" + "9" * 20 + secret if identifier.endswith("phone") else secret
    changes: list[dict[str, Any]] = [
        {identifier: bad_identifier},
        {text_field[channel]: secret * 600},
        {text_field[channel]: {"value": secret}},
        {"occurred_at": secret},
        {
            model.lifecycle_fields[1]: "2099-12-31T23:59:59Z",
            model.lifecycle_fields[2]: "2000-01-01T00:00:00Z",
        },
        {"event_type": secret},
        {"channel": secret},
        {"schema_version": 2, identifier: bad_identifier},
        {"event_id": secret * 20},
        {"advisor_id": secret * 10},
    ]
    if channel == "form":
        changes.append({"fields": {secret: 1}})
    return {**event, **changes[how % len(changes)]}


CORRUPTIONS: Final = 11
"""How many ways `corrupt` knows (forms have one more)."""


def rejection_cases() -> list[tuple[str, bytes]]:
    """(channel, payload) of every case above, each refused on that channel's raw topic."""
    cases = [(channel, payload) for channel in EVENT_TYPES for payload in UNDECODABLE]
    cases += [(channel, payload) for channel in EVENT_TYPES for payload in NOT_OBJECTS]
    cases += [
        (channel, raw_payload(channel, **{field: value}))
        for channel in ("phone", "sms")
        for value in UNPRINTABLE
        for field, _ in PRINTABLE_FIELDS
    ]
    cases += [("sms", raw_payload("sms", contact_id=v, event_id=v)) for v in UNSAFE_IDS]
    cases += [("sms", raw_payload("sms", sender_phone="12", contact_id="  c-7 "))]
    cases += [(channel, raw_payload(channel, **changes)) for channel, changes in PLANTED]
    cases += [
        ("phone", orjson.dumps(MOST_DECISIVE)),
        ("phone", orjson.dumps(WRONG_CHANNEL)),
        ("email", orjson.dumps(MANY_ERRORS)),
        ("form", orjson.dumps(HIDDEN_KEY)),
        ("phone", orjson.dumps(TIME_ORDER)),
    ]
    cases += [
        (channel, orjson.dumps(corrupt(channel, raw_event(channel, kind), how, "§" + SECRET)))
        for channel, kinds in EVENT_TYPES.items()
        for kind in kinds
        for how in range(CORRUPTIONS)
    ]
    return cases


def guide_examples() -> list[tuple[str, bytes]]:
    """(channel, compact payload) of every raw example of docs/producers.md, the dead
    letter's original too."""
    text = GUIDE.read_text("utf-8")
    found = re.findall(r"^```json raw\.(\w+)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    [letter] = re.findall(r"^```text dlq-value\n(.*?)\n```$", text, re.MULTILINE)
    return [(channel, orjson.dumps(orjson.loads(body))) for channel, body in found] + [
        ("sms", letter.encode())
    ]


def all_cases() -> list[tuple[str, bytes]]:
    """The guide's examples, every rejection case that can be a JSON line (an empty payload
    cannot: a blank line is no record) and an event of each channel dated too far ahead."""
    cases = [(ch, p) for ch, p in rejection_cases() if p.strip() and b"\n" not in p]
    future = [(ch, raw_payload(ch, occurred_at=FUTURE)) for ch in EVENT_TYPES]
    return guide_examples() + cases + future
