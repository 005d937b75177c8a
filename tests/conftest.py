"""Shared fixtures. Integration tests get the real broker, started once per session by the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.config import Settings

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "streams"]
# Tests run on a test machine: the placeholder salt and a generated DPO key pair are allowed
# (production refuses both; tests/unit/test_cli.py checks that).
os.environ.setdefault("CONTACTSTREAM_MODE", "dev")
# A shell starts background jobs with SIGINT ignored, and an ignored signal stays ignored in
# every child: the commands under test would never see the Ctrl-C the tests send them (Python
# installs its KeyboardInterrupt handler only where SIGINT is at its default). A handler of
# ours is reset to the default in each child instead.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run `contactstream ARGS` as a user would, in a child process."""
    result = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=REPO,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"contactstream {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real Kafka broker for the session, through `contactstream broker start --port 0`."""
    state = tmp_path_factory.mktemp("broker")
    # Jars are cached in the repo's data dir, so only the first run on a machine downloads them.
    jars = REPO / ".contactstream" / "jars"
    env = {"CONTACTSTREAM_DATA_DIR": str(state), "CONTACTSTREAM_JAR_CACHE": str(jars)}
    # Expired segments are deleted every 5 s instead of Kafka's 5 min, so that a test can see
    # the end of a record's life (tests/integration/test_kafka_window.py).
    started = cli(
        "broker", "start", "--port", "0", "--fresh", "--retention-check-seconds", "5",
        env=env, timeout=600,
    )
    last = started.stdout.strip().splitlines()[-1]
    assert last.startswith("bootstrap=127.0.0.1:"), started.stdout
    yield last.removeprefix("bootstrap=")
    cli("broker", "stop", env=env)


@pytest.fixture
def unique_name() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def chdb_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The one chDB directory this test process may open (chDB allows one per process)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def chdb_settings(chdb_session: Path, unique_name: str) -> Settings:
    """Settings on the session's chDB with a database of the test's own."""
    return Settings(
        clickhouse_dsn=f"chdb://{chdb_session}",
        clickhouse_database=unique_name,
        data_dir=chdb_session.parent,
    )
