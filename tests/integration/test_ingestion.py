"""Raw topics -> worker -> ClickHouse + DLQ: exactly once in effect, whatever the arrival order,
even when the worker is killed mid-stream."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streams.config import CHANNELS, Settings
from streams.kafka.local.broker import free_port
from streams.kafka.topics import ensure_topics
from tests.support.cli import REPO
from tests.support.harness import (
    WorkerProcess,
    committed,
    raw_group,
    scrape_metrics,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.ingestion import check_final_state
from tests.support.traffic import Traffic, build_traffic, produce

TARGET_EVENTS = 20_000


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return build_traffic(seed=4, target_events=TARGET_EVENTS)


async def test_all_channels_ingested_exactly_once(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path, traffic: Traffic
) -> None:
    port = free_port()
    env = worker_env(kafka_bootstrap, unique_name, tmp_path, CONTACTSTREAM_METRICS_PORT=str(port))
    topics = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, topics, worker)
        await produce(kafka_bootstrap, unique_name, traffic.messages)
        await wait_caught_up(kafka_bootstrap, raw_group(env), topics, 240, worker)
        metrics = await asyncio.to_thread(scrape_metrics, port)
        worker.stop()
    assert "contactstream_events_accepted_total" in metrics
    # Every stored event is timed from its Kafka timestamp (the pipeline's own latency).
    timed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("contactstream_pipeline_latency_seconds_count{")
    )
    stored = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("contactstream_events_accepted_total{")
    )
    assert timed == stored > 0
    assert not [v for v in traffic.personal_values() if v in metrics], "personal data in metrics"
    log_lines = worker.log_text().splitlines()
    assert any(f"metrics=http://127.0.0.1:{port}/metrics" in line for line in log_lines[:5])
    one_format = re.compile(r"\[\d{4}-\d\d-\d\d [\d:,]+\] (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")
    assert all(one_format.match(line) for line in log_lines if line.startswith("[")), "one format"
    await check_final_state(kafka_bootstrap, unique_name, env, traffic, worker.log_text())


async def test_sigkill_mid_stream_loses_nothing_and_stores_nothing_twice(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path, traffic: Traffic
) -> None:
    env = worker_env(
        kafka_bootstrap, unique_name, tmp_path, CONTACTSTREAM_SINK_BATCH_MAX_ROWS="2000"
    )
    topics = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    group = raw_group(env)
    log_path = tmp_path / "worker.log"
    half = len(traffic.messages) // 2
    with WorkerProcess(env, log_path) as first:
        await wait_for_topics(kafka_bootstrap, topics, first)
        await produce(kafka_bootstrap, unique_name, traffic.messages[:half])
        while sum((await committed(kafka_bootstrap, group)).values()) == 0:
            assert first.returncode is None, first.log_text()[-3000:]
            await asyncio.sleep(0.05)
        first.kill()  # batches may be stored in ClickHouse but not yet committed in Kafka
    progress = sum((await committed(kafka_bootstrap, group)).values())
    assert 0 < progress < len(traffic.messages), "killed mid-stream"
    await produce(kafka_bootstrap, unique_name, traffic.messages[half:])
    with WorkerProcess(env, log_path) as second:
        await wait_caught_up(kafka_bootstrap, group, topics, 240, second)
        second.stop()
    await check_final_state(kafka_bootstrap, unique_name, env, traffic, second.log_text())


async def test_two_consumers_through_two_rebalances_store_everything_once(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path, traffic: Traffic
) -> None:
    """Scale out and back in mid-stream: B joins while A stores (every partition revoked and
    reassigned), then A leaves; batches in flight are finished or dropped and re-read."""
    env = worker_env(
        kafka_bootstrap, unique_name, tmp_path, CONTACTSTREAM_SINK_BATCH_MAX_ROWS="500"
    )
    await ensure_topics(Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=unique_name))
    await produce(kafka_bootstrap, unique_name, traffic.messages)
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.support.rebalance_job"],
        env={**os.environ, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    steps = report["steps"]
    assert report["total"] == len(traffic.messages)
    assert 0 < steps["b_joins"] < steps["a_leaves"] < report["total"], "rebalanced mid-stream"
    assert report["revokes"]["a"] >= 1, "A lost its partitions when B joined"
    assert report["revokes"]["b"] >= 1, "B gave its partitions back when A left"
    await check_final_state(kafka_bootstrap, unique_name, env, traffic, result.stderr)
