"""JSON Schemas of every topic's messages, for producers (committed under schemas/json/).

Regenerate after changing a model: `.venv/bin/python -m schemas` (a unit test fails while the
committed copies differ from the models).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from schemas.control import (
    DeadLetter,
    DlqAction,
    RecordingDeletion,
    SubjectRequest,
    SubjectResult,
    Tombstone,
)
from schemas.email import EmailEvent
from schemas.form import FormEvent
from schemas.phone import PhoneCallEvent
from schemas.sms import SmsEvent
from schemas.types import SCHEMA_VERSION

TOPIC_MODELS: Final[dict[str, type[BaseModel]]] = {
    "raw.phone": PhoneCallEvent,
    "raw.sms": SmsEvent,
    "raw.email": EmailEvent,
    "raw.form": FormEvent,
    "dlq": DeadLetter,
    "dlq-actions": DlqAction,
    "tombstones": Tombstone,
    "subject-requests": SubjectRequest,
    "subject-results": SubjectResult,
    "recording-deletions": RecordingDeletion,
}
"""Topic name after the configurable prefix (default `contacts.`) -> the model of its values."""

COMMITTED_DIR: Final = Path(__file__).parent / "json"
_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def json_schema(suffix: str) -> dict[str, Any]:
    """The JSON Schema of topic `suffix`'s values, with its schema version in `$id` and title."""
    model = TOPIC_MODELS[suffix]
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = _DIALECT
    schema["$id"] = f"urn:contactstream:schema:{suffix}:v{SCHEMA_VERSION}"
    schema["title"] = f"{model.__name__} (topic {suffix}, schema version {SCHEMA_VERSION})"
    return schema


def render(suffix: str) -> str:
    """Stable text of one schema: sorted keys, two-space indent, trailing newline."""
    return json.dumps(json_schema(suffix), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_json_schemas(directory: Path) -> list[Path]:
    """Write `<suffix>.schema.json` for every topic into `directory`; the paths, sorted."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in sorted(TOPIC_MODELS):
        path = directory / f"{suffix}.schema.json"
        path.write_text(render(suffix), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str]) -> None:
    """Regenerate the schemas into argv[0] (default: the committed copies)."""
    directory = Path(argv[0]) if argv else COMMITTED_DIR
    for path in export_json_schemas(directory):
        sys.stdout.write(f"{path}\n")
