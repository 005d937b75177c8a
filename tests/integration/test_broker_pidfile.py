"""`broker status` and `broker stop` act only on this data directory's broker: a broker.json that
names another process (a pid reused after a crash or reboot, or a file written by hand) leaves
that process alone, whatever its process group."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import REPO, cli


@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process leading its own process group, as the broker does."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def point_at(home: Path, pid: int) -> None:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    state = {"pid": pid, "port": 9, "controller_port": 10, "secure": False}
    (home / "broker.json").write_text(json.dumps(state))


def test_a_stale_pid_file_naming_another_process_is_left_alone(
    tmp_path: Path, stranger: subprocess.Popen[bytes]
) -> None:
    env = {
        "CONTACTSTREAM_DATA_DIR": str(tmp_path),
        "CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars"),
    }
    home = tmp_path / "kafka"
    point_at(home, stranger.pid)
    status = cli("broker", "status", env=env, check=False)
    assert status.returncode == 3, status.stdout + status.stderr
    said = status.stdout + status.stderr
    assert f"pid {stranger.pid}" in said
    assert "not this data directory's broker" in said
    assert "broker is running" not in said
    as_json = cli("broker", "status", "--json", env=env, check=False)
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout) == {
        "running": False,
        "data_dir": str(home),
        "stranger_pid": stranger.pid,
    }
    assert stranger.poll() is None

    stop = cli("broker", "stop", env=env)
    assert "not this data directory's broker" in stop.stdout + stop.stderr
    assert "broker stopped" not in stop.stdout
    assert stranger.poll() is None, "broker stop killed an unrelated process"


def test_another_data_directorys_broker_is_not_this_ones(tmp_path: Path) -> None:
    """A real broker, named by another data directory's broker.json, is left running."""
    jars = {"CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars")}
    owner = {**jars, "CONTACTSTREAM_DATA_DIR": str(tmp_path / "owner")}
    other = {**jars, "CONTACTSTREAM_DATA_DIR": str(tmp_path / "other")}
    cli("broker", "start", "--port", "0", env=owner, timeout=600)
    try:
        pid = json.loads((tmp_path / "owner" / "kafka" / "broker.json").read_text())["pid"]
        point_at(tmp_path / "other" / "kafka", pid)
        status = cli("broker", "status", env=other, check=False)
        assert status.returncode == 3
        assert "not this data directory's broker" in status.stdout + status.stderr
        cli("broker", "stop", env=other)
        assert cli("broker", "status", env=owner).stdout.startswith("broker is running")
        running = json.loads(cli("broker", "status", "--json", env=owner).stdout)
        assert running == {
            "running": True,
            "data_dir": str(tmp_path / "owner" / "kafka"),
            "pid": pid,
            "bootstrap": running["bootstrap"],
            "secure": False,
        }
        assert running["bootstrap"].startswith("127.0.0.1:")
    finally:
        cli("broker", "stop", env=owner)
