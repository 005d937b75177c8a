"""Messages of the pipeline's own topics: tombstones, subject requests and results, dead
letters and recording deletions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas import (
    DLQ_HEADER_PREFIX,
    Correction,
    DeadLetter,
    RecordingDeletion,
    Rejection,
    SubjectRequest,
    SubjectResult,
    Tombstone,
    parse_event,
    parse_model,
    personal_fields,
)

NOW = datetime(2025, 5, 12, 10, 0, tzinfo=UTC)


REQUEST_ID = "0f6b3a52-8d0e-4c57-9a61-3c2f7a9e1b44"


def request(**overrides: Any) -> dict[str, Any]:
    return {
        "request_id": REQUEST_ID,
        "kind": "access",
        "phone": "050 123 4567",
        "verified_by": "dpo@kaleva.example",
        "deployment": {"topic_prefix": "contacts", "app_id": "contactstream"},
        "verified_at": "2025-05-12T12:55:00+03:00",
        "requested_at": "2025-05-12T13:00:00+03:00",
        "expires_at": "2025-05-13T13:00:00+03:00",
        **overrides,
    }


def test_tombstones_round_trip_and_hold_no_personal_data() -> None:
    tombstone = Tombstone(
        contact_id="c-1", channel="sms", reason="retention", issued_at=NOW, due_at=NOW
    )
    assert Tombstone.from_json(tombstone.to_json()) == tombstone
    assert orjson.loads(tombstone.to_json()) == {
        "contact_id": "c-1",
        "channel": "sms",
        "reason": "retention",
        "issued_at": "2025-05-12T10:00:00Z",
        "due_at": "2025-05-12T10:00:00Z",
        "request_id": None,
    }
    assert personal_fields(Tombstone) == frozenset()
    with pytest.raises(ValidationError):
        Tombstone(contact_id="c-1", reason="whim", issued_at=NOW)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Tombstone(contact_id="", reason="erasure", issued_at=NOW)
    with pytest.raises(ValidationError):
        Tombstone(contact_id="c-1", channel="fax", reason="erasure", issued_at=NOW)  # type: ignore[arg-type]
    # Written before contacts had channels: it names every channel's contact of the id.
    assert (
        Tombstone.from_json(
            b'{"contact_id":"c-1","reason":"erasure","issued_at":"2025-05-12T10:00:00Z"}'
        ).channel
        is None
    )
    with pytest.raises(ValidationError):
        Tombstone.from_json(
            b'{"contact_id": "c", "reason": "erasure", "issued_at": "2025-05-12T10:00:00"}'
        )


def test_a_subject_request_normalizes_its_identifier() -> None:
    by_phone = SubjectRequest.model_validate(request())
    assert by_phone.phone == "+358501234567"
    assert by_phone.requested_at == datetime(2025, 5, 12, 10, tzinfo=UTC)
    by_email = SubjectRequest.model_validate(request(phone=None, email=" Matti@Example.FI "))
    assert by_email.email == "Matti@example.fi"
    assert SubjectRequest.from_json(by_email.to_json()) == by_email
    assert personal_fields(SubjectRequest) == {"phone", "email"}


@pytest.mark.parametrize(
    "overrides",
    [
        {"phone": None},
        {"email": "matti@example.fi"},
        {"kind": "rectification"},
        {"correction": {"field": "phone", "value": "050 765 4321"}},
        {"verified_by": ""},
        {"verified_by": "v" * 129},
        {"request_id": " "},
        {"request_id": "../../etc/x"},
        {"request_id": "req-1"},
        {"kind": "delete-everything"},
        {"expires_at": "2025-05-12T12:00:00+03:00"},
        {"verified_at": "2025-05-12T14:00:00+03:00"},
        {"requested_at": "2025-05-12T13:00:00"},
        {"phone": "12"},
    ],
)
def test_malformed_subject_requests_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SubjectRequest.model_validate(request(**overrides))


def test_rectification_carries_a_normalized_correction() -> None:
    correction = {"field": "phone", "value": "050 765 4321", "contact_id": "c-9"}
    rectify = SubjectRequest.model_validate(request(kind="rectification", correction=correction))
    assert rectify.correction == Correction(field="phone", value="+358507654321", contact_id="c-9")
    email = Correction.model_validate({"field": "email", "value": "Uusi@Example.FI"})
    assert (email.value, email.contact_id) == ("Uusi@example.fi", None)
    assert SubjectRequest.from_json(rectify.to_json()) == rectify
    for bad in ({"field": "phone", "value": "nope"}, {"field": "email", "value": "nope"}):
        with pytest.raises(ValidationError):
            SubjectRequest.model_validate(request(kind="rectification", correction=bad))
    with pytest.raises(ValidationError):
        Correction.model_validate({"field": "content", "value": "x"})


def test_parse_model_rejects_requests_without_quoting_them() -> None:
    payload = orjson.dumps(
        request(kind="rectification", correction={"field": "phone", "value": "+358 40 99"})
    )
    result = parse_model(SubjectRequest, payload)
    assert isinstance(result, Rejection)
    assert result.code == "invalid_phone"
    assert "40 99" not in result.reason
    assert "+358" not in result.reason
    both = parse_model(SubjectRequest, orjson.dumps(request(email="salainen@example.fi")))
    assert isinstance(both, Rejection)
    assert "salainen" not in both.reason
    assert isinstance(parse_model(SubjectRequest, orjson.dumps(request())), SubjectRequest)


def test_subject_results_round_trip() -> None:
    result = SubjectResult(
        request_id=REQUEST_ID, kind="access", status="done", contacts=3, completed_at=NOW
    )
    assert (result.export_path, result.detail) == (None, "")
    assert SubjectResult.from_json(result.to_json()) == result
    with pytest.raises(ValidationError):
        SubjectResult(request_id="r", kind="access", status="done", contacts=-1, completed_at=NOW)
    with pytest.raises(ValidationError):
        SubjectResult(request_id="r", kind="access", status="maybe", contacts=0, completed_at=NOW)  # type: ignore[arg-type]


def test_a_dead_letter_context_travels_as_text_headers() -> None:
    letter = DeadLetter(
        topic="contacts.raw.phone",
        partition=3,
        offset=1234,
        timestamp=1_747_033_080_000,
        contact_id="c-1",
        error_code="invalid_json",
        reason="payload is not valid UTF-8 JSON",
        failed_at=NOW,
    )
    headers = letter.headers()
    assert all(name.startswith(DLQ_HEADER_PREFIX) for name, _ in headers)
    assert dict(headers)["contactstream.error.offset"] == b"1234"
    assert DeadLetter.from_headers([("traceparent", b"00-ab"), *headers]) == letter
    assert personal_fields(DeadLetter) == set()  # the personal bytes are the record's own
    # A header model validates like any other message: the JSON Schema is exact.
    document = {name: value.decode() for name, value in headers}
    assert DeadLetter.model_validate_json(orjson.dumps(document)) == letter
    with pytest.raises(ValidationError):
        DeadLetter.from_headers([*headers, ("contactstream.error.partition", b"-1")])
    with pytest.raises(ValidationError):
        DeadLetter.from_headers([(n, v) for n, v in headers if not n.endswith("error_code")])


def test_a_dead_letter_records_a_rejection() -> None:
    payload = b'{"event_id": "e-1", "contact_id": "c-1", "channel": "sms"}'
    rejection = parse_event("sms", payload)
    assert isinstance(rejection, Rejection)
    letter = DeadLetter.from_rejection(
        rejection, topic="contacts.raw.sms", partition=0, offset=7, timestamp=5
    )
    assert (letter.contact_id, letter.error_code) == ("c-1", "missing_field")
    assert letter.reason == rejection.reason
    assert letter.failed_at.tzinfo is UTC
    without_time = DeadLetter.from_rejection(
        rejection, topic="t", partition=0, offset=0, failed_at=NOW
    )
    assert (without_time.timestamp, without_time.failed_at) == (None, NOW)
    assert "contactstream.error.timestamp" not in dict(without_time.headers())


def test_recording_deletions_round_trip() -> None:
    deletion = RecordingDeletion(
        contact_id="c-1", recording_ref="rec://acd/c-1.opus", reason="erasure", requested_at=NOW
    )
    assert RecordingDeletion.from_json(deletion.to_json()) == deletion
    assert personal_fields(RecordingDeletion) == {"recording_ref"}
    with pytest.raises(ValidationError):
        RecordingDeletion(contact_id="c-1", recording_ref="", reason="erasure", requested_at=NOW)
