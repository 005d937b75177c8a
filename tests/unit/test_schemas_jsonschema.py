"""The producers' JSON Schemas: one per topic, stable, and the committed copies up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import SCHEMA_VERSION, TOPIC_MODELS, export_json_schemas, personal_fields
from schemas.jsonschema import COMMITTED_DIR, json_schema
from streams.config import Settings
from streams.kafka.topics import declared_topics

# Every topic the pipeline declares, after its prefix.
TOPICS = {
    spec.name.removeprefix(f"{Settings().topic_prefix}.") for spec in declared_topics(Settings())
}


def test_every_topic_has_a_model() -> None:
    assert set(TOPIC_MODELS) == TOPICS


def test_the_committed_schemas_match_the_models(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path / "json")
    names = sorted(path.name for path in written)
    assert names == sorted(f"{topic}.schema.json" for topic in TOPICS)
    committed = sorted(path.name for path in COMMITTED_DIR.glob("*.json"))
    assert committed == names, "run: .venv/bin/python -m schemas"
    for path in written:
        assert (COMMITTED_DIR / path.name).read_text("utf-8") == path.read_text("utf-8"), (
            f"{path.name} drifted from the models; run: .venv/bin/python -m schemas"
        )


def test_export_is_stable(tmp_path: Path) -> None:
    first = [path.read_bytes() for path in export_json_schemas(tmp_path / "a")]
    second = [path.read_bytes() for path in export_json_schemas(tmp_path / "b")]
    assert first == second


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_schema_text_is_sorted_versioned_and_newline_terminated(topic: str) -> None:
    text = (COMMITTED_DIR / f"{topic}.schema.json").read_text("utf-8")
    schema = json.loads(text)
    assert text.endswith("}\n")
    assert text == json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert schema["$id"] == f"urn:contactstream:schema:{topic}:v{SCHEMA_VERSION}"
    assert f"schema version {SCHEMA_VERSION}" in schema["title"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_personal_fields_are_marked_for_producers(topic: str) -> None:
    properties = json_schema(topic)["properties"]
    marked = {name for name, spec in properties.items() if spec.get("personal")}
    assert marked == personal_fields(TOPIC_MODELS[topic])


def test_raw_schemas_allow_unknown_fields_and_require_the_envelope() -> None:
    for topic in ("raw.phone", "raw.sms", "raw.email", "raw.form"):
        schema = json_schema(topic)
        assert schema.get("additionalProperties", True) is not False
        assert set(schema["required"]) == {
            "event_id",
            "contact_id",
            "channel",
            "event_type",
            "occurred_at",
            "schema_version",
            "source",
        }
        assert schema["properties"]["schema_version"]["maximum"] == SCHEMA_VERSION
