"""Properties over generated events: valid ones survive normalization and JSON round trips
unchanged; invalid ones are rejected with reasons free of their personal values; the fast
normalization paths agree with phonenumbers and email_validator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import ContactEvent, Limits, Rejection, parse_event, personal_values
from schemas.examples import EVENT_TYPES
from schemas.normalize import _parse_phone, normalize_email, normalize_phone
from schemas.validate import CHANNEL_MODELS
from tests.support.rejection_cases import corrupt

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHANNELS = tuple(EVENT_TYPES)
ZONES = [
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=3)),
    timezone(-timedelta(hours=5, minutes=30)),
]
IDENTIFIED = {"queued", "received", "complete"}
SMALL = Limits(max_text_bytes=512)

# Identifiers and labels are printable: no control, format or line/paragraph separator characters.
ids = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Zs", "Cc", "Cf", "Zl", "Zp"]),
    min_size=1,
    max_size=40,
)
labels = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cf", "Zl", "Zp"]), max_size=60
)
texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=8, max_size=120)
moments = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2098, 1, 1))


@st.composite
def phones(draw: st.DrawFn) -> str:
    digits = f"{draw(st.integers(0, 9_999_999)):07d}"
    styles = [
        f"+35850{digits}",
        f"+358 50 {digits[:3]} {digits[3:]}",
        f"050-{digits}",
        f"050{digits}",
    ]
    return draw(st.sampled_from(styles))


@st.composite
def emails(draw: st.DrawFn) -> str:
    words = st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-", min_size=1, max_size=12
    )
    local = ".".join(draw(st.lists(words, min_size=1, max_size=3)))
    domain = draw(
        st.sampled_from(["example.fi", "Example.FI", "esimerkki.example.com", "EXAMPLE.org"])
    )
    return (
        draw(st.sampled_from(["", " "])) + f"{local}@{domain}" + draw(st.sampled_from(["", "  "]))
    )


def identity(channel: str, draw: st.DrawFn, required: bool) -> dict[str, Any]:
    optional = st.none() if required else st.one_of(st.none(), st.just(None))
    present = required or draw(st.booleans())
    if channel == "phone":
        return {
            "caller_phone": draw(phones()) if present else draw(optional),
            "recording_ref": draw(st.none() | labels.map(str.strip).filter(bool)),
        }
    if channel == "sms":
        return {
            "sender_phone": draw(phones()) if present else None,
            "content": draw(st.none() | texts),
        }
    if channel == "email":
        return {
            "sender_email": draw(emails()) if present else None,
            "subject": draw(st.none() | texts),
            "content": draw(st.none() | texts),
        }
    which = draw(st.sampled_from(["email", "phone", "both"])) if present else "none"
    fields = draw(st.none() | st.dictionaries(st.text(min_size=1, max_size=20), texts, max_size=4))
    return {
        "sender_email": draw(emails()) if which in ("email", "both") else None,
        "sender_phone": draw(phones()) if which in ("phone", "both") else None,
        "fields": fields,
        "content": draw(st.none() | texts),
    }


@st.composite
def valid_events(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    channel = draw(st.sampled_from(CHANNELS))
    kind = draw(st.sampled_from(EVENT_TYPES[channel]))
    model = CHANNEL_MODELS[channel]
    zone = draw(st.sampled_from(ZONES))
    start = draw(moments).replace(tzinfo=zone)
    gaps = draw(st.lists(st.integers(0, 7200), min_size=2, max_size=2))
    times = [start, start + timedelta(seconds=gaps[0]), start + timedelta(seconds=sum(gaps))]
    step = model.lifecycle_steps.get(kind)
    event: dict[str, Any] = {
        "event_id": draw(ids),
        "contact_id": draw(ids),
        "channel": channel,
        "event_type": kind,
        "occurred_at": (times[step] if step is not None else times[2]).isoformat(),
        "schema_version": 1,
        "source": draw(ids),
        "advisor_id": draw(st.none() | labels),
        "queue": draw(st.none() | labels),
        "reason": draw(st.none() | labels),
        **identity(channel, draw, kind in IDENTIFIED),
    }
    for position, name in enumerate(model.lifecycle_fields):
        if draw(st.booleans()):
            event[name] = times[position].isoformat()
    return channel, event


def as_raw(event: ContactEvent) -> dict[str, Any]:
    """The raw event a producer would send for a normalized one (lifecycle times explicit)."""
    model = CHANNEL_MODELS[event.channel]
    names = {
        "phone": "caller_phone" if event.channel == "phone" else "sender_phone",
        "email": "sender_email",
        "form_fields": "fields",
    }
    data = event.model_dump(mode="json", exclude={"subject_key"}, exclude_none=True)
    times = ("arrived_at", "handling_started_at", "handled_at")
    for common, raw in zip(times, model.lifecycle_fields, strict=True):
        if common in data:
            data[raw] = data.pop(common)
    return {names.get(key, key): value for key, value in data.items()}


def parse(channel: str, event: dict[str, Any], limits: Limits = SMALL) -> ContactEvent | Rejection:
    return parse_event(channel, orjson.dumps(event), limits)


@SETTINGS
@given(valid_events())
def test_valid_events_are_accepted_and_normalizing_twice_changes_nothing(
    case: tuple[str, dict[str, Any]],
) -> None:
    channel, raw = case
    event = parse(channel, raw, Limits())
    assert isinstance(event, ContactEvent), event
    assert parse(channel, as_raw(event), Limits()) == event
    assert ContactEvent.model_validate(event.model_dump()) == event  # the fast constructor is exact


@SETTINGS
@given(valid_events())
def test_valid_events_survive_json_round_trips(case: tuple[str, dict[str, Any]]) -> None:
    channel, raw = case
    event = parse(channel, raw, Limits())
    assert isinstance(event, ContactEvent)
    assert ContactEvent.model_validate_json(event.model_dump_json()) == event
    assert ContactEvent.from_json(event.to_json()) == event
    model = CHANNEL_MODELS[channel]
    validated = model.from_json(orjson.dumps(raw))
    assert model.from_json(validated.model_dump_json()) == validated
    assert validated.to_contact_event() == event


@SETTINGS
@given(valid_events(), st.integers(0, 20), texts.filter(lambda text: text.strip() == text))
def test_invalid_events_never_carry_personal_values_into_reasons(
    case: tuple[str, dict[str, Any]], how: int, secret: str
) -> None:
    channel, raw = case
    broken = corrupt(channel, raw, how, "§" + secret)
    result = parse(channel, broken)
    assert isinstance(result, Rejection), (how, result)
    valid = parse(channel, raw, Limits())
    assert isinstance(valid, ContactEvent)
    planted = [secret, *personal_values(valid), *(raw.get("fields") or {})]
    # A reason names the schema's fields ('occurred_at'); a generated value may spell one.
    reason = result.reason
    for name in CHANNEL_MODELS[channel].model_fields:
        reason = reason.replace(f"'{name}'", "")
    for value in planted:
        if len(value) >= 8:
            assert value not in reason
    assert "§" not in result.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)


@SETTINGS
@given(
    st.sampled_from(CHANNELS),
    st.one_of(st.binary(max_size=200), json_values.map(lambda value: json.dumps(value).encode())),
)
def test_arbitrary_payloads_never_raise(channel: str, payload: bytes) -> None:
    assert isinstance(parse_event(channel, payload), ContactEvent | Rejection)


# --- the fast paths equal the libraries ---------------------------------------------------------

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@st.composite
def international_numbers(draw: st.DrawFn) -> str:
    digits = str(draw(st.sampled_from(COUNTRY_CODES))) + draw(st.text("0123456789", max_size=15))
    separated = "".join(draw(st.sampled_from(["", "", " ", "-"])) + digit for digit in digits)
    return "+" + separated.lstrip(" -")


@settings(max_examples=600, deadline=None)
@given(international_numbers(), st.sampled_from(["FI", "SE", "US", "AR", "IT"]))
def test_the_phone_fast_path_equals_phonenumbers(number: str, region: str) -> None:
    assert normalize_phone.__wrapped__(number, region) == _parse_phone(number, region)


def library_email(address: str) -> str | None:
    try:
        return str(validate_email(address.strip(), check_deliverability=False).normalized)
    except EmailNotValidError:
        return None


local_parts = st.text("aZ09._+-!#ä", min_size=0, max_size=70)
labels_ = st.text("aZ09-", min_size=0, max_size=66)
tlds = st.sampled_from(["fi", "FI", "com", "x", "123", "test", "localhost", "arpa", "onion", "c0m"])


@settings(max_examples=600, deadline=None)
@given(
    local_parts,
    st.lists(labels_, min_size=0, max_size=4),
    tlds,
    st.sampled_from(["", "info", "Support"]),
)
def test_the_email_fast_path_equals_email_validator(
    local: str, labels: list[str], tld: str, role: str
) -> None:
    address = f"{role or local}@{'.'.join([*labels, tld])}"
    assert normalize_email.__wrapped__(address) == library_email(address)
