"""Private at rest: the data directory's check (pure), what the project creates (0700/0600),
and the commands that refuse a data directory other users can use, run as a user would."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.cli.root import main
from streams.config import Settings
from streams.errors import ConfigError
from streams.files import (
    PRIVATE_UMASK,
    exposure,
    personal_data_directories,
    private_directory,
    require_private_data,
    use_private_umask,
    write_atomically,
)
from tests.support.cli import cli


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask most shells have (022), restored afterwards."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.parametrize("mode", [0o700, 0o40700, 0o500, 0o1700])
def test_a_directory_only_its_owner_can_use_passes(mode: int) -> None:
    assert exposure(Path("/x"), mode) is None


@pytest.mark.parametrize(
    ("mode", "kinds"),
    [
        (0o755, "readable and enterable"),
        (0o40755, "readable and enterable"),
        (0o750, "readable and enterable"),
        (0o704, "readable"),
        (0o720, "writable"),
        (0o701, "enterable"),
        (0o777, "readable and writable and enterable"),
    ],
)
def test_a_directory_others_can_use_is_named_with_the_fix(mode: int, kinds: str) -> None:
    line = exposure(Path("/srv/cs"), mode)
    assert line == (
        f"data directory /srv/cs is {kinds} by other users "
        f"(mode {stat.S_IMODE(mode):04o}): run chmod 700 /srv/cs"
    )


def test_a_missing_directory_is_made_private(tmp_path: Path, open_umask: None) -> None:
    target = tmp_path / "new" / "state"
    assert private_directory(target, dev=False) is None
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_an_open_directory_is_refused_in_production_and_warned_about_in_dev(
    tmp_path: Path,
) -> None:
    tmp_path.chmod(0o755)
    with pytest.raises(ConfigError, match=r"run chmod 700 "):
        private_directory(tmp_path, dev=False)
    assert "(mode 0755)" in (private_directory(tmp_path, dev=True) or "")


def test_dev_mode_logs_one_warning_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tmp_path.chmod(0o750)
    settings = Settings(data_dir=tmp_path, mode="dev")
    with caplog.at_level(logging.WARNING):
        require_private_data(settings)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [
        f"data directory {tmp_path} is readable and enterable by other users (mode 0750): "
        f"run chmod 700 {tmp_path} (allowed with CONTACTSTREAM_MODE=dev)"
    ]
    with pytest.raises(ConfigError):
        require_private_data(settings.model_copy(update={"mode": "production"}))


def test_exports_and_chdb_outside_the_data_directory_are_checked_too(tmp_path: Path) -> None:
    inside = Settings(data_dir=tmp_path, clickhouse_dsn=None)
    assert personal_data_directories(inside) == [("data directory", tmp_path)]
    outside = Settings(
        data_dir=tmp_path / "state",
        exports_dir=tmp_path / "exports",
        clickhouse_dsn=f"chdb://{tmp_path / 'ch'}",
    )
    assert personal_data_directories(outside) == [
        ("data directory", tmp_path / "state"),
        ("exports directory", tmp_path / "exports"),
        ("chDB directory", tmp_path / "ch"),
    ]
    server = Settings(data_dir=tmp_path, clickhouse_dsn="http://u:p@ch:8123/db")
    memory = Settings(data_dir=tmp_path, clickhouse_dsn="chdb://memory")
    assert personal_data_directories(server) == personal_data_directories(memory) == [
        ("data directory", tmp_path)
    ]


def test_atomic_writes_are_private_whatever_the_umask(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "retention" / "status.json"
    write_atomically(path, b"{}")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_private_umask_makes_files_0600_and_directories_0700(
    tmp_path: Path, open_umask: None
) -> None:
    assert use_private_umask() == 0o022
    try:
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "f").write_bytes(b"x")
    finally:
        os.umask(0o022)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "d" / "f").stat().st_mode) == 0o600
    assert PRIVATE_UMASK == 0o077


def _open_state(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    env = {
        "CONTACTSTREAM_MODE": "production",
        "CONTACTSTREAM_DATA_DIR": str(state),
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # nothing may be reached
    }
    return state, env


def _refusal(state: Path) -> str:
    return (
        f"contactstream: error: data directory {state} is readable and enterable by other "
        f"users (mode 0755): run chmod 700 {state}\n"
    )


@pytest.mark.parametrize("argv", [("worker",), ("broker", "start", "--port", "0")])
def test_worker_and_broker_refuse_an_open_data_directory_in_one_line(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    """As a user would run them: a child process, production mode, a 0755 data directory."""
    state, env = _open_state(tmp_path)
    result = cli(*argv, env=env, check=False, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", _refusal(state))
    assert list(state.iterdir()) == [], "nothing was written there"


@pytest.mark.parametrize(
    "argv", [("demo",), ("migrate",), ("retention", "status"), ("retention", "run", "--dry-run")]
)
def test_commands_opening_chdb_refuse_an_open_data_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
) -> None:
    state, env = _open_state(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == _refusal(state)
    assert list(state.iterdir()) == []
