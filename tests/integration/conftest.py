"""Fixtures of the integration tests: the real broker, started once per session by the CLI, and
chDB databases of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.config import Settings
from tests.support.cli import REPO, cli


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
