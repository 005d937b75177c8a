"""requirements/*.lock agree with pyproject.toml (`make lock` writes them; see README, Install).

- worker.lock (the image): exactly the core's dependency tree; no chDB, matplotlib or test tool;
- dev.lock (make setup, CI): the core, both extras and the dev tools;
- build.lock: what builds the wheel (pyproject's [build-system]);
- every entry is an exact version with hashes, and this environment holds exactly dev.lock.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCKS = REPO / "requirements"
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


@cache
def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def project_requirements(*groups: str) -> list[Requirement]:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    found = [Requirement(r) for r in project["dependencies"]]
    for group in groups:
        found += [Requirement(r) for r in project["optional-dependencies"][group]]
    return found


@cache
def pins(name: str) -> dict[str, str]:
    """Canonical package name -> pinned version in requirements/NAME.lock."""
    text = (LOCKS / f"{name}.lock").read_text()
    return {canonicalize_name(n): v for n, v in _ENTRY.findall(text)}


@pytest.mark.parametrize("name", ["worker", "dev", "build"])
def test_every_entry_is_pinned_with_hashes(name: str) -> None:
    text = (LOCKS / f"{name}.lock").read_text()
    assert "make lock" in text.splitlines()[1], "the header names the command that updates it"
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2].strip())
    assert len(entries) == len(pins(name)) > 0
    for entry in entries:
        assert _ENTRY.match(entry), entry.splitlines()[0]
        assert "--hash=sha256:" in entry, f"{entry.splitlines()[0]} has no hash"


@pytest.mark.parametrize(("lock", "groups"), [
    ("worker", ()),
    ("dev", ("dev", "embedded", "demo")),
])
def test_every_declared_dependency_is_locked_within_its_range(
    lock: str, groups: tuple[str, ...]
) -> None:
    locked = pins(lock)
    for requirement in project_requirements(*groups):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in {lock}.lock: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{lock}.lock pins {name}=={locked[name]} outside {requirement}: run make lock"
        )


def test_the_worker_lock_is_the_core_only() -> None:
    worker, dev = pins("worker"), pins("dev")
    for heavy in ("chdb", "chdb-core", "matplotlib", "pandas", "pyarrow", "numpy", "pytest",
                  "mypy", "ruff", "setuptools"):
        assert heavy not in worker, f"{heavy} is in the worker image's lock"
        assert heavy in dev, heavy
    # The image and CI run the same versions of what they share.
    assert {name: dev[name] for name in worker} == worker


def test_the_build_lock_satisfies_the_build_system() -> None:
    build_system = pyproject()["build-system"]
    assert isinstance(build_system, dict)
    for requirement in map(Requirement, build_system["requires"]):
        name = canonicalize_name(requirement.name)
        assert requirement.specifier.contains(pins("build")[name]), requirement
        # dev.lock carries the same build backend: the editable install and the wheel test
        # build without fetching anything (--no-build-isolation).
        assert pins("dev")[name] == pins("build")[name]


def test_this_environment_is_exactly_the_dev_lock() -> None:
    """make setup installs dev.lock with --require-hashes; a drifted venv would hide a broken
    lock. (Packages the lock does not list, such as pip, are not checked.)"""
    drift = {}
    for name, pinned in pins("dev").items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if installed == "missing" or Version(installed) != Version(pinned):
            drift[name] = (pinned, installed)
    assert not drift, f"installed versions differ from dev.lock (make setup): {drift}"
