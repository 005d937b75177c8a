"""`contactstream schemas validate` gives the worker's verdict: on every example of
docs/producers.md and on every rejection case of the validation tests, it refuses exactly what
the worker's preparation (streams.ingest.prepare.prepare) refuses, with the same code and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from schemas.examples import raw_event, raw_payload
from streams.cli.root import app
from streams.cli.schemas import named_channel
from streams.config import CHANNELS, Settings
from streams.ingest.prepare import Task, latest_allowed, prepare
from streams.kafka.records import RawRecord
from tests.support.cli import cli
from tests.support.rejection_cases import FUTURE, all_cases


def worker_verdicts(channel: str, payloads: list[bytes]) -> dict[int, tuple[str, str]]:
    """index -> (code, reason) of what the worker's preparation refuses on `channel`'s topic."""
    settings = Settings()
    topic = settings.topic(f"raw.{channel}")
    items = [RawRecord(topic, 0, n, None, None, p) for n, p in enumerate(payloads)]
    task = Task(
        channels={topic: channel},
        items=items,
        base=0,
        not_after=latest_allowed(settings.max_future_skew_seconds),
        salt=b"test",
        limits=settings.limits,
    )
    return {refused.at: (refused.code, refused.reason) for refused in prepare(task).refused}


def validate(*args: str, data: bytes) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["schemas", "validate", "--json", *args, "-"], input=data)
    return result.exit_code, orjson.loads(result.stdout)


def refused(document: dict[str, Any]) -> dict[int, tuple[str, str]]:
    return {r["index"]: (r["code"], r["reason"]) for r in document["refusals"]}


@pytest.mark.parametrize("channel", CHANNELS)
def test_the_command_refuses_what_the_worker_refuses(channel: str) -> None:
    payloads = [payload for ch, payload in all_cases() if ch == channel]
    expected = worker_verdicts(channel, payloads)
    assert 0 < len(expected) < len(payloads), "both verdicts are walked"
    code, document = validate("--channel", channel, data=b"\n".join(payloads))
    assert refused(document) == expected
    assert (code, document["records"]) == (1, len(payloads))
    assert sum(document["codes"].values()) == document["refused"] == len(expected)


def test_without_channel_each_record_is_judged_on_its_own_channel() -> None:
    cases = all_cases()
    expected: dict[int, tuple[str, str]] = {}
    for channel in CHANNELS:
        at = [n for n, (ch, _) in enumerate(cases) if ch == channel]
        verdicts = worker_verdicts(channel, [cases[n][1] for n in at])
        expected.update({at[k]: verdict for k, verdict in verdicts.items()})
    _, document = validate(data=b"\n".join(payload for _, payload in cases))
    found = refused(document)
    assert set(found) == set(expected), "the same records are refused"
    for index, (code, reason) in found.items():
        named = named_channel(cases[index][1])
        if named == cases[index][0] or code in ("invalid_json", "not_an_object"):
            assert (code, reason) == expected[index]
        elif code == "unknown_channel":
            assert named is None
            assert reason.startswith("field 'channel': missing or not one of phone, sms")
        else:  # it names another channel, whose topic refuses it too
            assert named in CHANNELS


def test_a_json_array_is_judged_like_json_lines() -> None:
    events = [raw_event("sms"), raw_event("sms", sender_phone="12"), [1], raw_event("email")]
    lines = b"\n".join(orjson.dumps(event) for event in events)
    array = orjson.dumps(events, option=orjson.OPT_INDENT_2)
    (lines_code, by_lines), (array_code, by_array) = validate(data=lines), validate(data=array)
    assert lines_code == array_code == 1
    assert (
        refused(by_lines)
        == refused(by_array)
        == {
            1: ("invalid_phone", "field 'sender_phone': not a possible phone number"),
            2: ("not_an_object", "must be a JSON object"),
        }
    )
    assert [r["line"] for r in by_lines["refusals"]] == [2, 3]
    assert [r["line"] for r in by_array["refusals"]] == [None, None]


def test_lines_are_numbered_and_blank_ones_skipped() -> None:
    data = b"\n" + raw_payload("sms") + b"\r\n\n  \nnot json\n" + raw_payload("sms") + b"\n"
    code, document = validate(data=data)
    assert code == 1
    assert document["refusals"] == [
        {
            "index": 1,
            "line": 5,
            "code": "invalid_json",
            "reason": "payload is not valid UTF-8 JSON",
            "event_id": None,
            "contact_id": None,
        }
    ]
    assert (document["records"], document["valid"]) == (3, 2)


def test_all_valid_exits_0_and_says_so() -> None:
    result = CliRunner().invoke(app, ["schemas", "validate", "-"], input=raw_payload("phone"))
    assert result.exit_code == 0
    assert result.stdout == "1 record(s): 1 valid, 0 refused\n"


def test_the_command_in_a_real_process(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        b"\n".join(
            [
                raw_payload("sms"),
                raw_payload("sms", "received", sender_phone="+358 12", event_id="sms-c-2-r"),
                raw_payload("sms", occurred_at=FUTURE, event_id="sms-c-3-r"),
            ]
        )
    )
    result = cli("schemas", "validate", "--channel", "sms", str(events), check=False)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "record 1 (line 2, event_id sms-c-2-r): invalid_phone: field 'sender_phone': "
        "not a possible phone number",
        "record 2 (line 3, event_id sms-c-3-r): future_timestamp: a timestamp is further in the "
        "future than the pipeline's clock allows",
        "3 record(s): 1 valid, 2 refused (future_timestamp 1, invalid_phone 1)",
    ]
    assert "+358" not in result.stdout, "no value of an event is printed"
    empty = cli("schemas", "validate", str(tmp_path / "missing.jsonl"), check=False)
    assert empty.returncode == 2
    assert len(empty.stderr.splitlines()) == 1, empty.stderr


def test_the_settings_limits_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = raw_payload("sms", content="x" * 300, occurred_at=FUTURE)
    assert validate(data=payload)[0] == 1
    monkeypatch.setenv("CONTACTSTREAM_MAX_FUTURE_SKEW_SECONDS", str(5 * 86_400))
    assert validate(data=payload)[0] == 0
    monkeypatch.setenv("CONTACTSTREAM_MAX_TEXT_BYTES", "256")
    code, document = validate(data=payload)
    assert (code, document["codes"]) == (1, {"too_large": 1})


def test_no_records_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["schemas", "validate", "-"], input=b"\n \n")
    assert result.exit_code == 2
