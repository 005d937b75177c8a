"""Private at rest, on the real thing: a data directory made by `broker start` and the worker
holds the broker's log segments and chDB's parts with a victim's message text in them; every
directory is 0700, every file private, and another user (nobody) cannot read them."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import REPO, cli
from tests.support.harness import (
    WorkerProcess,
    raw_group,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.traffic import build_traffic, produce


def _walk(root: Path) -> tuple[list[Path], list[Path]]:
    """Every directory and regular file under `root` (itself included). Symbolic links (chDB's
    Atomic databases link data/DB/TABLE to store/...) have no modes of their own: skipped."""
    dirs, files = [root], []
    for parent, names, filenames in os.walk(root):
        for name in names + filenames:
            path = Path(parent, name)
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # renamed away meanwhile (Kafka's checkpoint .tmp files)
                continue
            if stat.S_ISDIR(mode):
                dirs.append(path)
            elif stat.S_ISREG(mode):
                files.append(path)
    return dirs, files


def _exposed(root: Path) -> list[str]:
    """Directories not 0700 and files with a group or other bit, with their modes."""
    dirs, files = _walk(root)
    modes = {p: stat.S_IMODE(p.lstat().st_mode) for p in dirs + files if p.exists()}
    return [f"{p} {modes[p]:04o}" for p in dirs if p in modes and modes[p] != 0o700] + [
        f"{p} {modes[p]:04o}" for p in files if p in modes and modes[p] & 0o077
    ]


def _holding(root: Path, needles: set[bytes]) -> list[Path]:
    """Files under `root` whose bytes contain one of `needles` (read as root)."""
    return [p for p in _walk(root)[1] if any(n in _bytes_of(p) for n in needles)]


def _bytes_of(path: Path) -> bytes:
    """The file's bytes; none for a file renamed away since the walk (Kafka's checkpoint .tmp
    files: the broker writes them while the test reads)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root and runuser"
)
async def test_a_data_directory_made_by_the_broker_and_the_worker_is_private(
    tmp_path: Path, unique_name: str
) -> None:
    state = tmp_path / "state"  # made by `broker start`, in production mode
    broker_env = {
        "CONTACTSTREAM_DATA_DIR": str(state),
        "CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars"),
        "CONTACTSTREAM_MODE": "production",
    }
    tmp_path.chmod(0o755)  # so that only the modes under test stand between nobody and the data
    started = cli("broker", "start", "--port", "0", "--fresh", env=broker_env, timeout=600)
    bootstrap = started.stdout.strip().splitlines()[-1].removeprefix("bootstrap=")
    try:
        env = worker_env(bootstrap, unique_name, state)
        traffic = build_traffic(seed=19, target_events=60, invalid_fraction=0.0)
        victims = {v.encode() for v in traffic.personal_values()}
        with WorkerProcess(env, tmp_path / "worker.log") as worker:
            topics = [f"{unique_name}.raw.{ch}" for ch in ("phone", "sms", "email", "form")]
            await wait_for_topics(bootstrap, topics, worker)
            await produce(bootstrap, unique_name, traffic.messages)
            await wait_caught_up(bootstrap, raw_group(env), topics, 120, worker)
            assert worker.stop() < 30
        segments = _holding(state / "kafka" / "data", victims)
        parts = _holding(state / "clickhouse", victims)
        assert segments, "the victims' data is in the broker's log segments"
        assert parts, "and in chDB's part files"
        assert _exposed(state) == []
        assert {"kafka", "clickhouse", "insert-spool"} <= {p.name for p in state.iterdir()}
        for path in (segments[0], parts[0], state / "kafka" / "server.log"):
            denied = _as_nobody("cat", str(path))
            assert denied.returncode != 0, path
            assert "Permission denied" in denied.stderr, path
        assert _as_nobody("ls", str(state)).returncode != 0
        # The broker still runs and keeps creating files: those are private too.
        assert _exposed(state / "kafka") == []
    finally:
        cli("broker", "stop", env=broker_env)
