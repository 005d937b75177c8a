"""docs/architecture.md matches the code: every module it names exists, every symbol it names
for a step is defined in that step's module, and its package table lists exactly the packages
of streams/ (the folder list it explains)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]  # (tests/unit/ -> the repository)
DOC = (REPO / "docs" / "architecture.md").read_text()
_MODULE = re.compile(r"\b((?:streams|schemas)/[\w/]+\.py)\b")
# In the steps table: `path/module.py` (`Symbol` or `Class.method`, ...)
_STEP_SYMBOL = re.compile(r"`((?:streams|schemas)/[\w/]+\.py)` \(`([\w.]+)`")


def _section(title: str) -> str:
    start = DOC.index(f"## {title}")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end != -1 else len(DOC)]


def test_every_module_the_page_names_exists() -> None:
    named = sorted(set(_MODULE.findall(DOC)))
    assert len(named) >= 20
    missing = [path for path in named if not (REPO / path).is_file()]
    assert missing == []


@pytest.mark.parametrize(
    ("path", "symbol"), sorted(set(_STEP_SYMBOL.findall(DOC))), ids=str
)
def test_each_step_names_what_its_module_defines(path: str, symbol: str) -> None:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    target: object = module
    for part in symbol.split("."):
        assert hasattr(target, part), f"{path} has no {symbol}"
        target = getattr(target, part)


def test_the_steps_cover_the_way_of_an_event() -> None:
    steps = _section("The steps")
    for step in (
        "raw record",
        "parsed event",
        "row",
        "stored",
        "invalid → dead letter",
        "due → tombstone",
        "tombstone → redaction",
    ):
        assert f"| {step} |" in steps


def test_the_package_table_is_the_folder_list() -> None:
    table = _section("The rest of the folder list")
    listed = set(re.findall(r"^\| `streams/(\w+)/` \|", table, re.MULTILINE))
    packages = {
        path.parent.name
        for path in (REPO / "streams").glob("*/__init__.py")
    }
    assert listed == packages
    top_level = {path.name for path in (REPO / "streams").glob("*.py")} - {
        "__init__.py",
        "__main__.py",
    }
    row = next(line for line in table.splitlines() if line.startswith("| top level |"))
    assert set(re.findall(r"`(\w+\.py)`", row)) == top_level
