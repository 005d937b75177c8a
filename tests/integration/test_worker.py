"""`contactstream worker`: starts, joins its consumer group, stops cleanly on a signal."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from tests.support.cli import cli
from tests.support.harness import WorkerProcess, worker_env


async def _group_members(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_consumer_groups([group])
        groups = described[0].to_object()["groups"]
        return sum(
            len(g["members"]) for g in groups if g.get("state", g.get("group_state")) == "Stable"
        )
    except KafkaError:  # the group coordinator is still starting
        return 0
    finally:
        await admin.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_worker_joins_group_and_stops_on_signal(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path, sig: signal.Signals
) -> None:
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        deadline = time.monotonic() + 90
        while await _group_members(kafka_bootstrap, env["CONTACTSTREAM_APP_ID"]) < 1:
            assert worker.returncode is None, worker.log_text()[-3000:]
            assert time.monotonic() < deadline, "worker never joined its group"
            await asyncio.sleep(0.5)
        took = worker.stop(sig)
    assert took < 10, f"stopping took {took:.1f}s"
    assert worker.returncode in (0, -sig), worker.log_text()[-2000:]


def test_worker_without_setup_names_missing_topics(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    result = cli("worker", "--no-setup", env=env, check=False, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"contactstream: error: topics missing: {unique_name}.raw.phone")
    assert "contactstream topics ensure" in last
