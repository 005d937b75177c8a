"""Each rule of the raw channel events, valid and invalid, per channel (docs/producers.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from schemas import ContactEvent, Limits, Rejection, parse_event
from schemas.examples import EVENT_TYPES, FIRST_STEP, raw_event, raw_payload
from schemas.validate import CHANNEL_MODELS

CHANNELS = tuple(EVENT_TYPES)
IDENTIFIERS = {
    "phone": ("caller_phone",),
    "sms": ("sender_phone",),
    "email": ("sender_email",),
    "form": ("sender_email", "sender_phone"),
}
TEXT_FIELDS = {"sms": ("content",), "email": ("subject", "content"), "form": ("content",)}


def parse(channel: str, event: dict[str, Any], limits: Limits | None = None) -> Any:
    payload = orjson.dumps(event)
    return (
        parse_event(channel, payload) if limits is None else parse_event(channel, payload, limits)
    )


def accepted(channel: str, event: dict[str, Any], limits: Limits | None = None) -> ContactEvent:
    result = parse(channel, event, limits)
    assert isinstance(result, ContactEvent), result
    return result


def rejected(
    channel: str, event: dict[str, Any], code: str, limits: Limits | None = None
) -> Rejection:
    result = parse(channel, event, limits)
    assert isinstance(result, Rejection), result
    assert result.code == code, result
    return result


@pytest.mark.parametrize(
    ("channel", "event_type"),
    [(channel, kind) for channel, kinds in EVENT_TYPES.items() for kind in kinds],
)
def test_every_lifecycle_step_of_every_channel_is_accepted(channel: str, event_type: str) -> None:
    event = accepted(channel, raw_event(channel, event_type))
    assert (event.channel, event.event_type) == (channel, event_type)
    assert event.occurred_at.tzinfo is UTC
    assert event.schema_version == 1
    assert event.subject_key is None


# --- envelope -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("field", ["event_id", "contact_id"])
def test_ids_are_stripped_and_bounded(channel: str, field: str) -> None:
    assert getattr(accepted(channel, raw_event(channel, **{field: "  c-9  "})), field) == "c-9"
    assert getattr(accepted(channel, raw_event(channel, **{field: "x" * 128})), field) == "x" * 128
    for bad in ["", "   ", "x" * 129, 17, None, ["c-1"]]:
        rejected(channel, raw_event(channel, **{field: bad}), "invalid_id")
    rejected(channel, raw_event(channel, drop=[field]), "missing_field")


@pytest.mark.parametrize("channel", CHANNELS)
def test_channel_must_match_the_topic(channel: str) -> None:
    other = next(name for name in CHANNELS if name != channel)
    result = rejected(channel, raw_event(channel, channel=other), "wrong_channel")
    assert "'channel'" in result.reason
    rejected(channel, raw_event(channel, drop=["channel"]), "missing_field")


@pytest.mark.parametrize("channel", CHANNELS)
def test_event_type_must_be_one_of_the_channels(channel: str) -> None:
    foreign = "queued" if channel != "phone" else "received"
    rejected(channel, raw_event(channel, event_type=foreign), "invalid_field")
    rejected(channel, raw_event(channel, event_type="deleted"), "invalid_field")
    rejected(channel, raw_event(channel, drop=["event_type"]), "missing_field")


@pytest.mark.parametrize("channel", CHANNELS)
def test_occurred_at_must_be_aware_and_is_stored_in_utc(channel: str) -> None:
    event = accepted(channel, raw_event(channel, occurred_at="2025-01-31T23:30:00-02:00"))
    assert event.occurred_at == datetime(2025, 2, 1, 1, 30, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert accepted(channel, raw_event(channel, occurred_at="2025-02-01T01:30:00Z")) == event
    rejected(channel, raw_event(channel, occurred_at="2025-02-01T01:30:00"), "naive_timestamp")
    for bad in ["2025-02-01", "yesterday", 1738373400, "2025-13-01T00:00:00Z"]:
        rejected(channel, raw_event(channel, occurred_at=bad), "invalid_field")
    for implausible in [
        "1969-12-31T12:00:00Z",
        "2100-01-01T00:00:00Z",
        "0001-01-01T00:00:00+05:00",
    ]:
        rejected(channel, raw_event(channel, occurred_at=implausible), "invalid_field")


@pytest.mark.parametrize("channel", CHANNELS)
def test_only_schema_version_1_is_known(channel: str) -> None:
    for unknown in [0, 2, 99, -1]:
        result = rejected(
            channel, raw_event(channel, schema_version=unknown), "unknown_schema_version"
        )
        assert "schema_version" in result.reason
    for bad in ["1", 1.5, True]:
        rejected(channel, raw_event(channel, schema_version=bad), "invalid_field")
    rejected(channel, raw_event(channel, drop=["schema_version"]), "missing_field")


@pytest.mark.parametrize("channel", CHANNELS)
def test_source_advisor_reason_and_queue_are_bounded(channel: str) -> None:
    assert accepted(channel, raw_event(channel, source=" acd-1 ")).source == "acd-1"
    for bad in ["", " ", "s" * 65]:
        rejected(channel, raw_event(channel, source=bad), "invalid_field")
    for field, limit in [("advisor_id", 64), ("reason", 128), ("queue", 64)]:
        ok = accepted(channel, raw_event(channel, **{field: "a" * limit}))
        assert getattr(ok, field) == "a" * limit
        rejected(channel, raw_event(channel, **{field: "a" * (limit + 1)}), "invalid_field")
        rejected(channel, raw_event(channel, **{field: 5}), "invalid_field")
        for empty in ["", "  ", None]:
            assert getattr(accepted(channel, raw_event(channel, **{field: empty})), field) is None


@pytest.mark.parametrize("channel", CHANNELS)
def test_unknown_fields_are_ignored_and_not_stored(channel: str) -> None:
    extra = {"customer_ssn": "010101-123A", "caller_name": "Matti Meikäläinen"}
    raw = CHANNEL_MODELS[channel].from_json(raw_payload(channel, **extra))
    assert not set(extra) & set(raw.model_dump())
    event = accepted(channel, raw_event(channel, **extra))
    assert "010101-123A" not in event.model_dump_json()
    assert event == accepted(channel, raw_event(channel))


# --- lifecycle ----------------------------------------------------------------------------


def lifecycle_fields(channel: str) -> tuple[str, str, str]:
    return CHANNEL_MODELS[channel].lifecycle_fields


CONTACT_TIMES = ("arrived_at", "handling_started_at", "handled_at")


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_reported_step_defaults_to_occurred_at(channel: str) -> None:
    for position, kind in enumerate(EVENT_TYPES[channel][:3]):
        event = accepted(channel, raw_event(channel, kind, occurred_at="2025-05-12T10:00:00Z"))
        times = [getattr(event, name) for name in CONTACT_TIMES]
        expected: list[datetime | None] = [None, None, None]
        expected[position] = datetime(2025, 5, 12, 10, tzinfo=UTC)
        assert times == expected
        raw = CHANNEL_MODELS[channel].from_json(raw_payload(channel, kind))
        assert raw.lifecycle_times()[position] == raw.occurred_at


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_given_step_time_wins_over_occurred_at(channel: str) -> None:
    kind = EVENT_TYPES[channel][2]
    field = lifecycle_fields(channel)[2]
    event = accepted(channel, raw_event(channel, kind, **{field: "2025-05-12T07:00:00+00:00"}))
    assert event.handled_at == datetime(2025, 5, 12, 7, tzinfo=UTC)
    assert event.occurred_at != event.handled_at


@pytest.mark.parametrize("channel", CHANNELS)
def test_lifecycle_times_map_to_the_common_names(channel: str) -> None:
    event = accepted(channel, raw_event(channel, "complete"))
    assert event.arrived_at == datetime(2025, 5, 12, 6, 58, tzinfo=UTC)
    assert event.handling_started_at == datetime(2025, 5, 12, 7, 1, 30, tzinfo=UTC)
    assert event.handled_at == datetime(2025, 5, 12, 7, 9, 45, tzinfo=UTC)


@pytest.mark.parametrize("channel", CHANNELS)
def test_opening_and_complete_events_must_name_the_contact(channel: str) -> None:
    names = IDENTIFIERS[channel]
    for kind in (FIRST_STEP[channel], "complete"):
        result = rejected(channel, raw_event(channel, kind, drop=names), "missing_field")
        assert all(f"'{name}'" in result.reason for name in names)
        rejected(channel, raw_event(channel, kind, **dict.fromkeys(names)), "missing_field")
    for kind in EVENT_TYPES[channel][1:4]:
        event = accepted(channel, raw_event(channel, kind, drop=names))
        assert event.phone is None
        assert event.email is None


def test_a_form_needs_only_one_of_email_and_phone() -> None:
    only_phone = accepted("form", raw_event("form", drop=["sender_email"]))
    assert (only_phone.phone, only_phone.email) == ("+358501234567", None)
    only_email = accepted("form", raw_event("form", drop=["sender_phone"]))
    assert (only_email.phone, only_email.email) == (None, "matti.meikalainen@example.fi")


@pytest.mark.parametrize("channel", CHANNELS)
def test_time_order_within_an_event(channel: str) -> None:
    arrival, start, end = lifecycle_fields(channel)
    early, middle, late = "2025-05-12T10:00:00Z", "2025-05-12T10:05:00Z", "2025-05-12T10:10:00Z"
    base = raw_event(channel, "updated", drop=[arrival, start, end])
    accepted(channel, {**base, arrival: early, start: middle, end: late})
    accepted(channel, {**base, arrival: early, start: early, end: early})  # equal is fine
    for times in (
        {arrival: middle, start: early},
        {start: late, end: middle},
        {arrival: late, end: early},
        {arrival: early, start: late, end: middle},
    ):
        result = rejected(channel, {**base, **times}, "time_order")
        assert "is before" in result.reason


@pytest.mark.parametrize("channel", CHANNELS)
def test_time_order_counts_the_defaulted_step(channel: str) -> None:
    arrival = lifecycle_fields(channel)[0]
    kind = EVENT_TYPES[channel][1]  # answered / handling_started, dated by occurred_at
    event = raw_event(channel, kind, occurred_at="2025-05-12T10:00:00Z")
    rejected(channel, {**event, arrival: "2025-05-12T10:00:01Z"}, "time_order")
    accepted(channel, {**event, arrival: "2025-05-12T09:59:59Z"})


@pytest.mark.parametrize("channel", CHANNELS)
def test_lifecycle_times_must_be_aware(channel: str) -> None:
    field = lifecycle_fields(channel)[1]
    rejected(channel, raw_event(channel, **{field: "2025-05-12T10:00:00"}), "naive_timestamp")


# --- phone numbers and email addresses -------------------------------------------------------

PHONE_FIELDS = {"phone": "caller_phone", "sms": "sender_phone", "form": "sender_phone"}


@pytest.mark.parametrize("channel", list(PHONE_FIELDS))
@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+358501234567", "+358501234567"),
        ("+358 50 123 4567", "+358501234567"),
        ("050 123 4567", "+358501234567"),
        ("050-1234567", "+358501234567"),
        ("00358501234567", "+358501234567"),
        ("(09) 1234 567", "+35891234567"),
        ("+46 70 123 45 67", "+46701234567"),
        ("+1 202 555 0100", "+12025550100"),
    ],
)
def test_phone_numbers_become_e164(channel: str, written: str, e164: str) -> None:
    assert accepted(channel, raw_event(channel, **{PHONE_FIELDS[channel]: written})).phone == e164


@pytest.mark.parametrize("channel", list(PHONE_FIELDS))
@pytest.mark.parametrize("bad", ["12", "abc", "+999 123", "0" * 65, "", 358501234567])
def test_impossible_phone_numbers_are_rejected(channel: str, bad: object) -> None:
    result = rejected(channel, raw_event(channel, **{PHONE_FIELDS[channel]: bad}), "invalid_phone")
    assert PHONE_FIELDS[channel] in result.reason


def test_the_default_region_is_configurable() -> None:
    swedish = Limits(default_region="SE")
    event = accepted("sms", raw_event("sms", sender_phone="070 123 45 67"), swedish)
    assert event.phone == "+46701234567"
    assert accepted("sms", raw_event("sms", sender_phone="050 123 4567")).phone == "+358501234567"
    with pytest.raises(ValueError, match="default_region"):
        Limits(default_region="XX")


EMAIL_FIELDS = {"email": "sender_email", "form": "sender_email"}


@pytest.mark.parametrize("channel", list(EMAIL_FIELDS))
@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("  Matti.Meikalainen@Example.FI ", "Matti.Meikalainen@example.fi"),
        ("matti+lehti@EXAMPLE.fi", "matti+lehti@example.fi"),
        ("Äiti@Esimerkki.FI", "Äiti@esimerkki.fi"),
    ],
)
def test_email_addresses_are_trimmed_with_domain_lower_cased(
    channel: str, written: str, normalized: str
) -> None:
    assert (
        accepted(channel, raw_event(channel, **{EMAIL_FIELDS[channel]: written})).email
        == normalized
    )


@pytest.mark.parametrize("channel", list(EMAIL_FIELDS))
@pytest.mark.parametrize(
    "bad", ["matti", "matti@", "@example.fi", "a b@example.fi", "m@localhost", "m@x.test", 5, ""]
)
def test_invalid_email_addresses_are_rejected(channel: str, bad: object) -> None:
    result = rejected(channel, raw_event(channel, **{EMAIL_FIELDS[channel]: bad}), "invalid_email")
    assert "sender_email" in result.reason


# --- texts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "field"), [(c, f) for c, fields in TEXT_FIELDS.items() for f in fields]
)
def test_texts_are_limited_in_utf8_bytes(channel: str, field: str) -> None:
    limit = 65_536
    assert (
        getattr(accepted(channel, raw_event(channel, **{field: "a" * limit})), field) == "a" * limit
    )
    rejected(channel, raw_event(channel, **{field: "a" * (limit + 1)}), "too_large")
    two_byte = "ä" * (limit // 2)
    accepted(channel, raw_event(channel, **{field: two_byte}))
    result = rejected(channel, raw_event(channel, **{field: two_byte + "ä"}), "too_large")
    assert str(limit) in result.reason
    small = Limits(max_text_bytes=1000)
    rejected(channel, raw_event(channel, **{field: "ä" * 501}), "too_large", small)
    accepted(channel, raw_event(channel, **{field: "ä" * 500}), small)


@pytest.mark.parametrize(("channel", "field"), [("sms", "content"), ("email", "subject")])
def test_empty_texts_are_stored_as_none(channel: str, field: str) -> None:
    assert getattr(accepted(channel, raw_event(channel, **{field: ""})), field) is None


def test_content_is_kept_verbatim() -> None:
    text = "  Hei!\n\tLehti ei tullut. 😀  "
    assert accepted("sms", raw_event("sms", content=text)).content == text


def test_form_fields_are_limited_in_count_and_size() -> None:
    fields = {f"kentta_{i}": "arvo" for i in range(50)}
    assert accepted("form", raw_event("form", fields=fields)).form_fields == fields
    rejected("form", raw_event("form", fields={**fields, "yksi_liikaa": "x"}), "too_large")
    rejected("form", raw_event("form", fields={"viesti": "ä" * 32_769}), "too_large")
    small = Limits(max_text_bytes=256)
    rejected("form", raw_event("form", fields={"viesti": "x" * 257}), "too_large", small)
    rejected("form", raw_event("form", fields={"viesti": 5}), "invalid_field")
    rejected("form", raw_event("form", fields={"": "x"}), "invalid_field")
    rejected("form", raw_event("form", fields={"k" * 65: "x"}), "invalid_field")
    rejected("form", raw_event("form", fields=["x"]), "invalid_field")
    assert accepted("form", raw_event("form", fields={})).form_fields is None


def test_form_id_is_validated_but_not_carried() -> None:
    rejected("form", raw_event("form", form_id="f" * 65), "invalid_field")
    event = accepted("form", raw_event("form", form_id="palaute"))
    assert "palaute" not in event.model_dump_json()


# --- the normalized event -------------------------------------------------------------------


def test_phone_call_maps_to_contact_event() -> None:
    event = accepted("phone", raw_event("phone", "complete"))
    assert event.model_dump(
        exclude={"occurred_at", "arrived_at", "handling_started_at", "handled_at"}
    ) == {
        "event_id": "phone-c-1-complete",
        "contact_id": "phone-c-1",
        "channel": "phone",
        "event_type": "complete",
        "schema_version": 1,
        "source": "phone-gateway-1",
        "advisor_id": "adv-17",
        "queue": "laskutus",
        "reason": "lasku",
        "phone": "+358501234567",
        "email": None,
        "subject": None,
        "content": None,
        "form_fields": None,
        "recording_ref": "rec://acd/2025/05/12/c-1.opus",
        "subject_key": None,
    }


def test_message_channels_map_their_personal_fields() -> None:
    sms = accepted("sms", raw_event("sms"))
    assert (sms.phone, sms.content) == ("+358501234567", "Lehti ei tullut tänään.")
    email = accepted("email", raw_event("email"))
    assert (email.email, email.subject) == ("Matti.Meikalainen@example.fi", "Laskun eräpäivä")
    assert email.content == "Hei, voinko siirtää laskun eräpäivää viikolla?"
    form = accepted("form", raw_event("form"))
    assert form.form_fields == {"aihe": "Osoitteenmuutos", "uusi_osoite": "Esimerkkitie 1, Oulu"}
    assert (form.phone, form.content) == ("+358501234567", "Muutan ensi kuussa.")
    assert (sms.recording_ref, email.phone, form.subject) == (None, None, None)


@pytest.mark.parametrize("presentation", ["restricted", "unavailable"])
@pytest.mark.parametrize("event_type", ["queued", "complete"])
def test_a_call_whose_number_was_not_presented_needs_no_number(
    presentation: str, event_type: str
) -> None:
    payload = raw_payload("phone", event_type, drop=["caller_phone"],
                          caller_presentation=presentation)
    event = parse_event("phone", payload)
    assert isinstance(event, ContactEvent), event
    assert event.phone is None
    presented = parse_event("phone", raw_payload("phone", event_type, drop=["caller_phone"]))
    assert isinstance(presented, Rejection)
    assert presented.code == "missing_field"
    unknown = parse_event("phone", raw_payload("phone", caller_presentation="hidden"))
    assert isinstance(unknown, Rejection)
    assert unknown.code == "invalid_field"
