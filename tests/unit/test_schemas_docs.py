"""docs/producers.md: every JSON example is valid, every lifecycle step has one, and its
tables agree with the models on fields, personal data and error codes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schemas import REJECTION_CODES, TOPIC_MODELS, ContactEvent, DeadLetter, Rejection, parse_event
from schemas.contact import personal_fields
from schemas.examples import EVENT_TYPES
from schemas.validate import CHANNEL_MODELS

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "producers.md"
BLOCK = re.compile(r"^```json (\S+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
TABLES = {"Envelope": None, "Phone": "phone", "SMS": "sms", "Email": "email", "Web form": "form"}


def examples() -> list[tuple[str, bytes]]:
    text = GUIDE.read_text("utf-8")
    found = [(topic, body.encode()) for topic, body in BLOCK.findall(text)]
    assert len(found) == text.count("```json"), "every JSON block names its topic: ```json raw.sms"
    return found


def test_the_guide_has_examples() -> None:
    assert len(examples()) >= 21


@pytest.mark.parametrize(("topic", "payload"), examples())
def test_every_example_is_valid(topic: str, payload: bytes) -> None:
    assert topic in TOPIC_MODELS
    if topic.startswith("raw."):
        result = parse_event(topic.removeprefix("raw."), payload)
        assert isinstance(result, ContactEvent), result
    else:
        TOPIC_MODELS[topic].model_validate_json(payload)


def test_every_channel_and_step_has_an_example() -> None:
    seen: dict[str, set[str]] = {channel: set() for channel in EVENT_TYPES}
    for topic, payload in examples():
        if topic.startswith("raw."):
            event = parse_event(topic.removeprefix("raw."), payload)
            assert isinstance(event, ContactEvent)
            seen[event.channel].add(event.event_type)
    assert seen == {channel: set(kinds) for channel, kinds in EVENT_TYPES.items()}


def test_the_dead_letter_example_is_what_the_pipeline_would_write() -> None:
    [(_, payload)] = [example for example in examples() if example[0] == "dlq"]
    letter = DeadLetter.model_validate_json(payload)
    [original] = re.findall(r"^```text dlq-value\n(.*?)\n```$", GUIDE.read_text("utf-8"), re.M)
    rejection = parse_event(letter.topic.rsplit(".", 1)[-1], original.encode())
    assert isinstance(rejection, Rejection)
    assert (rejection.code, rejection.reason) == (letter.error_code, letter.reason)
    assert rejection.contact_id == letter.contact_id


def table(heading: str) -> dict[str, str]:
    """field -> personal column of the table under `### heading`."""
    section = GUIDE.read_text("utf-8").split(f"### {heading}", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|.*\| (yes|no) \|$", section, re.MULTILINE)
    return dict(rows)


@pytest.mark.parametrize("heading", list(TABLES))
def test_field_tables_match_the_models(heading: str) -> None:
    envelope = set(table("Envelope"))
    channel = TABLES[heading]
    rows = table(heading)
    if channel is None:
        assert rows
        assert all(personal == "no" for personal in rows.values())
        return
    model = CHANNEL_MODELS[channel]
    assert set(rows) | envelope == set(model.model_fields)
    assert {name for name, personal in rows.items() if personal == "yes"} == personal_fields(model)


def test_every_rejection_code_is_explained() -> None:
    text = GUIDE.read_text("utf-8")
    for code in REJECTION_CODES:
        assert f"| `{code}` |" in text


def test_the_dlq_section_names_the_real_headers() -> None:
    section = GUIDE.read_text("utf-8").split("## 5. Invalid events", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(contactstream\.error\.\w+)` \|", section, re.MULTILINE))
    aliases = {field.alias for field in DeadLetter.model_fields.values()}
    assert listed == aliases
    assert "not Connect's `__connect.errors.*`" in " ".join(section.split())
