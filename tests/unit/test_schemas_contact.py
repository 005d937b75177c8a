"""ContactEvent: the personal-field marks (DESIGN P1), personal_values, subject_key, and the
fast constructor's equality with full validation."""

from __future__ import annotations

import hashlib
import hmac
import pickle
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import (
    PERSONAL_FIELDS,
    ContactEvent,
    parse_event,
    personal_fields,
    personal_values,
    subject_key,
)
from schemas.examples import EVENT_TYPES, raw_payload
from schemas.validate import CHANNEL_MODELS

ALL_EXAMPLES = [(channel, kind) for channel, kinds in EVENT_TYPES.items() for kind in kinds]


def example(channel: str, kind: str | None = None) -> ContactEvent:
    event = parse_event(channel, raw_payload(channel, kind))
    assert isinstance(event, ContactEvent)
    return event


def test_personal_fields_are_exactly_the_p1_list() -> None:
    assert {
        "phone",
        "email",
        "subject",
        "content",
        "form_fields",
        "recording_ref",
        "subject_key",
    } == PERSONAL_FIELDS
    assert isinstance(PERSONAL_FIELDS, frozenset)
    assert personal_fields(ContactEvent) is PERSONAL_FIELDS


def test_contact_data_is_not_personal() -> None:
    for name in ("channel", "occurred_at", "reason", "queue", "advisor_id", "contact_id"):
        assert name not in PERSONAL_FIELDS


def test_field_names_are_the_agreed_contract() -> None:
    assert list(ContactEvent.model_fields) == [
        "event_id", "contact_id", "channel", "event_type", "occurred_at", "schema_version",
        "source", "advisor_id", "queue", "reason", "arrived_at", "handling_started_at",
        "handled_at", "phone", "email", "subject", "content", "form_fields", "recording_ref",
        "subject_key",
    ]  # fmt: skip


@pytest.mark.parametrize("channel", list(EVENT_TYPES))
def test_raw_models_mark_what_becomes_personal(channel: str) -> None:
    raw = CHANNEL_MODELS[channel].from_json(raw_payload(channel, "complete"))
    event = raw.to_contact_event()
    assert set(personal_values(raw)) >= set(personal_values(event)) - {event.phone, event.email}
    assert len(personal_values(raw)) == len(personal_values(event))
    for name in personal_fields(type(raw)):
        assert getattr(raw, name) is not None


def test_personal_values_lists_every_non_empty_personal_string() -> None:
    form = example("form")
    assert sorted(personal_values(form)) == sorted(
        [
            "+358501234567",
            "matti.meikalainen@example.fi",
            "Muutan ensi kuussa.",
            "Osoitteenmuutos",
            "Esimerkkitie 1, Oulu",
        ]
    )
    keyed = form.model_copy(update={"subject_key": "a" * 64, "form_fields": {"x": ""}})
    assert "a" * 64 in personal_values(keyed)
    assert "" not in personal_values(keyed)
    phone = example("phone")
    assert personal_values(phone) == ["+358501234567", "rec://acd/2025/05/12/c-1.opus"]
    assert personal_values(example("phone", "answered")) == [
        "+358501234567",
        "rec://acd/2025/05/12/c-1.opus",
    ]


@pytest.mark.parametrize(("channel", "kind"), ALL_EXAMPLES)
def test_personal_values_stay_out_of_repr(channel: str, kind: str) -> None:
    event = example(channel, kind)
    raw = CHANNEL_MODELS[channel].from_json(raw_payload(channel, kind))
    for value in personal_values(event) + personal_values(raw):
        assert value not in repr(event)
        assert value not in repr(raw)


@given(st.binary(max_size=200), st.text(max_size=80))
def test_subject_key_equals_hmac_sha256_for_any_salt_and_identifier(
    salt: bytes, identifier: str
) -> None:
    # Salts longer than SHA-256's 64-byte block are hashed first (RFC 2104): both sides covered.
    expected = hmac.new(salt, identifier.encode(), hashlib.sha256).hexdigest()
    assert subject_key(identifier, salt) == expected


def test_subject_key_is_a_salted_hmac_of_the_identifier() -> None:
    salt = b"pepper"
    key = subject_key("+358501234567", salt)
    assert key == hmac.new(salt, b"+358501234567", hashlib.sha256).hexdigest()
    assert len(key) == 64
    assert key != subject_key("+358501234567", b"other")
    assert key != subject_key("+358501234568", salt)
    event = example("sms").model_copy(update={"subject_key": key})
    assert ContactEvent.model_validate(event.model_dump()).subject_key == key
    with pytest.raises(ValidationError):
        ContactEvent.model_validate({**event.model_dump(), "subject_key": "not-hex"})


@pytest.mark.parametrize(("channel", "kind"), ALL_EXAMPLES)
def test_the_fast_constructor_equals_full_validation(channel: str, kind: str) -> None:
    event = example(channel, kind)
    validated = ContactEvent.model_validate(event.model_dump())
    assert validated == event
    assert list(validated.__dict__) == list(event.__dict__)
    assert event.model_fields_set == set(ContactEvent.model_fields)
    assert event.model_dump_json() == validated.model_dump_json()


def test_contact_event_validates_what_it_is_given() -> None:
    data = example("phone").model_dump()
    assert ContactEvent.model_validate({**data, "phone": "050 765 4321"}).phone == "+358507654321"
    helsinki = datetime.fromisoformat("2025-05-12T12:00:00+03:00")
    utc = ContactEvent.model_validate({**data, "occurred_at": helsinki}).occurred_at
    assert utc == datetime(2025, 5, 12, 9, tzinfo=UTC)
    assert utc.tzinfo is UTC
    for bad in (
        {"occurred_at": datetime(2025, 5, 12)},
        {"extra": 1},
        {"channel": "fax"},
        {"email": "nobody"},
    ):
        with pytest.raises(ValidationError):
            ContactEvent.model_validate({**data, **bad})


def test_events_are_frozen() -> None:
    event = example("sms")
    with pytest.raises(ValidationError):
        event.phone = None  # type: ignore[misc]
    assert hash(event.event_id)


def test_validation_errors_do_not_quote_inputs() -> None:
    data = example("phone").model_dump()
    with pytest.raises(ValidationError) as caught:
        ContactEvent.model_validate({**data, "email": "Salainen@", "subject_key": "Salainen"})
    assert "Salainen" not in str(caught.value)


def test_copies_leave_the_shared_fields_set_alone() -> None:
    first, second = example("sms"), example("email")
    keyed = first.model_copy(update={"subject_key": "f" * 64})
    assert (keyed.subject_key, first.subject_key) == ("f" * 64, None)
    deep = first.model_copy(deep=True)
    assert deep == first
    with pytest.raises(ValidationError):
        first.advisor_id = "adv-1"  # type: ignore[misc]
    everything = set(ContactEvent.model_fields)
    for event in (first, second, keyed, deep, pickle.loads(pickle.dumps(first))):  # noqa: S301
        assert event.model_fields_set == everything
    assert pickle.loads(pickle.dumps(first)) == first  # noqa: S301
