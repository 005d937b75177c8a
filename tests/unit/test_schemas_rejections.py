"""Rejections: codes, ids read safely, batch behaviour, and reasons free of personal data."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas import REJECTION_CODES, ContactEvent, Rejection, parse_event, parse_events
from schemas.examples import EVENT_TYPES, raw_payload
from schemas.reasons import MAX_REASON_CHARS
from tests.support.rejection_cases import (
    EMAIL,
    HIDDEN_KEY,
    MANY_ERRORS,
    MOST_DECISIVE,
    NOT_OBJECTS,
    PHONE,
    PLANTED,
    PRINTABLE_FIELDS,
    SECRET,
    TIME_ORDER,
    UNDECODABLE,
    UNPRINTABLE,
    UNSAFE_IDS,
    WRONG_CHANNEL,
)


def reject(channel: str, payload: bytes) -> Rejection:
    result = parse_event(channel, payload)
    assert isinstance(result, Rejection), result
    assert result.code in REJECTION_CODES
    assert len(result.reason) <= MAX_REASON_CHARS
    return result


@pytest.mark.parametrize("payload", UNDECODABLE)
def test_undecodable_payloads_are_invalid_json(payload: bytes) -> None:
    result = reject("sms", payload)
    assert result == Rejection("invalid_json", "payload is not valid UTF-8 JSON", None, None)


@pytest.mark.parametrize("payload", NOT_OBJECTS)
def test_json_that_is_no_object_is_not_an_object(payload: bytes) -> None:
    assert reject("phone", payload).code == "not_an_object"


def test_ids_are_reported_when_they_can_be_read_safely() -> None:
    result = reject("sms", raw_payload("sms", sender_phone="12"))
    assert (result.contact_id, result.event_id) == ("sms-c-1", "sms-c-1-received")
    stripped = reject("sms", raw_payload("sms", sender_phone="12", contact_id="  c-7 "))
    assert stripped.contact_id == "c-7"
    for unsafe in UNSAFE_IDS:
        result = reject("sms", raw_payload("sms", contact_id=unsafe, event_id=unsafe))
        assert (result.contact_id, result.event_id) == (None, None)
    assert reject("sms", b'{"contact_id": "c-1"').contact_id is None


@pytest.mark.parametrize("unprintable", UNPRINTABLE)
def test_identifiers_and_labels_hold_printable_characters_only(unprintable: str) -> None:
    for field, code in PRINTABLE_FIELDS:
        result = reject("phone", raw_payload("phone", **{field: unprintable}))
        assert result.code == code, field
        assert result.reason == (
            f"field '{field}': must hold printable characters only (no control or format "
            "characters)"
        )
    # Nor does the dead letter's contactstream.error.contact_id header carry it.
    result = reject("sms", raw_payload("sms", sender_phone="12", contact_id=unprintable))
    assert result.contact_id is None


def test_the_most_decisive_code_wins_and_every_error_is_listed() -> None:
    result = reject("phone", orjson.dumps(MOST_DECISIVE))
    assert result.code == "unknown_schema_version"
    assert "'channel'" in result.reason
    assert "'caller_phone'" in result.reason
    wrong = reject("phone", orjson.dumps(WRONG_CHANNEL))
    assert wrong.code == "wrong_channel"


def test_many_errors_are_summarized() -> None:
    result = reject("email", orjson.dumps(MANY_ERRORS))
    assert result.reason.endswith("more")
    assert result.reason.count(";") == 5


def test_parse_events_returns_one_result_per_payload_in_order() -> None:
    payloads = [
        raw_payload("sms", "received"),
        b"garbage",
        raw_payload("sms", "handled", event_id="e-3"),
        raw_payload("sms", sender_phone="1"),
    ]
    results = parse_events("sms", payloads)
    assert [type(result) for result in results] == [
        ContactEvent,
        Rejection,
        ContactEvent,
        Rejection,
    ]
    assert isinstance(results[2], ContactEvent)
    assert results[2].event_id == "e-3"
    assert parse_events("sms", []) == []


@pytest.mark.parametrize("channel", ["", "voice", "Phone", "raw.phone"])
def test_an_unknown_channel_is_a_programming_error(channel: str) -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        parse_events(channel, [raw_payload("phone")])
    with pytest.raises(ValueError, match="unknown channel"):
        parse_event(channel, raw_payload("phone"))


def test_every_channel_parses_its_own_topic_only() -> None:
    for channel in EVENT_TYPES:
        for other in EVENT_TYPES:
            result = parse_event(other, raw_payload(channel))
            assert isinstance(result, ContactEvent) == (channel == other)


# --- no personal data in reasons (DESIGN P6) ------------------------------------------------

@pytest.mark.parametrize(("channel", "overrides"), PLANTED)
def test_reasons_never_hold_a_value_of_the_payload(channel: str, overrides: dict[str, Any]) -> None:
    result = reject(channel, raw_payload(channel, **overrides))
    for value in (PHONE, EMAIL, SECRET, "Henkil", "010101", "987", "Salainen", "Example"):
        assert value not in result.reason
    assert "input" not in result.reason


def test_a_key_named_like_a_field_is_still_hidden() -> None:
    result = reject("form", orjson.dumps(HIDDEN_KEY))
    assert "fields[*]" in result.reason
    assert SECRET not in result.reason


def test_a_time_order_reason_names_fields_not_times() -> None:
    result = reject("phone", orjson.dumps(TIME_ORDER))
    assert result.reason == "'answered_at' is before 'queued_at'"
