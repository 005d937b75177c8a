"""The README and the guides (docs/*.md) say what the code does: every `contactstream` command
they show exists with the options they give it, every `make` target they name exists, the
README's settings table is streams/config.py's, and every link lands on a file and heading."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import click
import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from streams.cli.root import app
from streams.config import Settings
from tests.support.cli import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
SPAN = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")  # inline code, possibly wrapped once
SHELL_OPERATORS = {"&&", "||", "|", ";", ">", ">>", "2>", "<"}


class Shown(NamedTuple):
    """A command as a document shows it: where, and its words after `contactstream`."""

    where: str
    words: list[str]


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _spans(text: str) -> list[str]:
    """Inline code spans outside fenced blocks, whitespace collapsed."""
    return [" ".join(span.split()) for span in SPAN.findall(FENCE.sub("", text))]


def _fenced_commands(path: Path) -> Iterator[Shown]:
    """`contactstream ...` run as a command (after `$ `, variables or `&&`) in fenced blocks."""
    for block in FENCE.findall(_text(path)):
        for line in block.splitlines():
            if "contactstream " not in line:
                continue
            try:
                words = shlex.split(line.removeprefix("$ "), comments=True)
            except ValueError:
                continue  # prose or a diagram, not shell
            segment: list[str] = []
            for word in [*words, ";"]:
                if word not in SHELL_OPERATORS:
                    segment.append(word)
                    continue
                while segment and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", segment[0]):
                    segment.pop(0)
                if segment[:1] == ["contactstream"]:
                    yield Shown(f"{path.name} code block: {line.strip()}", segment[1:])
                segment = []


def _synopses(path: Path) -> Iterator[Shown]:
    """Inline `contactstream ...` spans, and `group command ...` spans such as `dlq show P:O`."""
    for span in _spans(_text(path)):
        words = span.split()
        if words[0] == "contactstream" and len(words) > 1:
            yield Shown(f"{path.name}: `{span}`", words[1:])
        elif isinstance(app.commands.get(words[0]), click.Group) and len(words) > 1:
            group = app.commands[words[0]]
            assert isinstance(group, click.Group)
            if _alternatives(words[1])[0] in group.commands:
                yield Shown(f"{path.name}: `{span}`", words)


def _alternatives(word: str) -> list[str]:
    """`export\\|erase` or `table|csv` -> its alternatives, brackets and quotes stripped."""
    clean = word.strip("[](),.;:'\"…")
    return [part for part in clean.replace("\\|", "|").split("|") if part]


def _option_names(command: click.Command) -> set[str]:
    names: set[str] = set()
    for param in command.get_params(click.Context(command)):
        names.update(param.opts)
        names.update(param.secondary_opts)
    return names


def check_synopsis(words: list[str]) -> list[str]:
    """What in `contactstream WORDS` the command line does not have (empty: all of it)."""
    problems = []
    commands: list[click.Command] = [app]
    on_path = True
    for word in words:
        choices = _alternatives(word)
        if not choices:
            continue
        if choices[0].startswith("-"):
            for option in (c.split("=")[0] for c in choices if c.startswith("-")):
                if not any(option in _option_names(command) for command in commands):
                    names = " / ".join(command.name or "contactstream" for command in commands)
                    problems.append(f"{names} has no option {option}")
            continue
        groups = [command for command in commands if isinstance(command, click.Group)]
        if on_path and groups and re.fullmatch(r"[a-z][a-z-]*", choices[0]):
            found = [group.commands.get(choice) for group in groups for choice in choices]
            if not all(found):
                problems.append(f"no command {word!r} under {[g.name for g in groups]}")
                return problems
            commands = [command for command in found if command is not None]
            continue
        on_path = False  # an argument or placeholder: the command path ends here
    return problems


def shown_commands() -> list[Shown]:
    return [shown for path in DOCUMENTS for shown in (*_fenced_commands(path), *_synopses(path))]


def test_the_documents_show_commands() -> None:
    shown = shown_commands()
    assert len(shown) > 40
    assert any(s.words[:2] == ["analyst", "query"] for s in shown if "code block" in s.where)


@pytest.mark.parametrize("shown", shown_commands(), ids=lambda shown: shown.where)
def test_every_command_shown_exists_with_its_options(shown: Shown) -> None:
    assert check_synopsis(shown.words) == []


@pytest.mark.parametrize(
    "shown", [s for path in DOCUMENTS for s in _fenced_commands(path)], ids=lambda s: s.where
)
def test_every_command_in_a_code_block_parses(shown: Shown) -> None:
    # Exactly as written, with --help: click parses every option (an unknown one fails) and
    # then prints the help instead of running the command.
    result = CliRunner().invoke(app, [*shown.words, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: "), result.output


@pytest.mark.parametrize(
    ("synopsis", "holds"),
    [
        ("retention status [--json]", True),
        ("subject export\\|erase --phone N \\| --email A", True),
        ("subject export\\|erase --kind access", True),  # export's option
        ("retention report", False),
        ("retention status --csv", False),
        ("subject export\\|forget --phone N", False),
        ("subject erase --kind access", False),
    ],
)
def test_the_synopsis_check_notices_a_renamed_command_or_option(synopsis: str, holds: bool) -> None:
    assert (check_synopsis(synopsis.split()) == []) is holds


# ---------------------------------------------------------------- make targets


def _make_targets() -> set[str]:
    targets: set[str] = set()
    for line in _text(REPO / "Makefile").splitlines():
        match = re.match(r"^([a-z][a-z -]*):", line)
        if match:
            targets.update(match.group(1).split())
    return targets


def test_every_make_target_named_exists() -> None:
    named = {
        (path.name, target)
        for path in DOCUMENTS
        for target in re.findall(r"\bmake ([a-z][a-z-]*)\b", "\n".join(_spans(_text(path))))
    }
    named |= {
        (path.name, line.split()[1])
        for path in DOCUMENTS
        for block in FENCE.findall(_text(path))
        for line in block.splitlines()
        if re.match(r"^make [a-z]", line)
    }
    assert {("README.md", "demo"), ("README.md", "test")} <= named
    missing = {(where, target) for where, target in named if target not in _make_targets()}
    assert missing == set()


# ---------------------------------------------------------------- settings table


def _settings_rows() -> list[tuple[list[str], list[str]]]:
    """(variable names, default cells) of the README's Configuration table."""
    section = _text(REPO / "README.md").split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `CONTACTSTREAM_"):
            continue
        name_cell, default_cell = (cell.strip() for cell in line.strip("|").split(" | ")[:2])
        names = re.findall(r"`([A-Z_]+)`", name_cell)
        first = names[0]
        full = [first] + [first.rsplit("_", 1)[0] + name for name in names[1:]]
        defaults = default_cell.split(" / ")
        if len(defaults) != len(full):  # one default for both, e.g. "none"
            defaults = [default_cell] * len(full)
        rows.append((full, defaults))
    return rows


def test_the_settings_table_lists_every_setting_once() -> None:
    documented = [name for names, _ in _settings_rows() for name in names]
    fields = {f"CONTACTSTREAM_{name.upper()}" for name in Settings.model_fields}
    assert sorted(documented) == sorted(set(documented)), "a setting listed twice"
    assert set(documented) == fields


def test_the_settings_tables_defaults_are_the_code_defaults() -> None:
    compared = 0
    for names, defaults in _settings_rows():
        for name, cell in zip(names, defaults, strict=True):
            literal = re.fullmatch(r"`([^`]+)`(?: \(.*\))?", cell)
            field = Settings.model_fields[name.removeprefix("CONTACTSTREAM_").lower()]
            if literal is None or field.default is None or isinstance(field.default, SecretStr):
                continue
            value = literal.group(1)
            default = field.default
            if isinstance(default, bool | str):
                assert value == str(default), name
            elif isinstance(default, int | float):
                assert float(value) == float(default), name
            else:
                assert Path(value) == Path(default), name
            compared += 1
    assert compared > 30


# ---------------------------------------------------------------- links


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in re.findall(r"^#+ (.+)$", FENCE.sub("", _text(path)), re.MULTILINE):
        slug = _slug(heading)
        anchors.add(slug if slug not in anchors else f"{slug}-1")
    return anchors


def test_every_link_lands_on_a_file_and_heading() -> None:
    broken = []
    for path in DOCUMENTS:
        for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", _text(path))):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == []
