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

from schemas.control import DeadLetter
from streams.config import CHANNELS, Settings
from streams.kafka.local.broker import free_port
from streams.kafka.topics import ensure_topics
from tests.conftest import REPO
from tests.integration.harness import (
    WorkerProcess,
    committed,
    query,
    raw_group,
    read_all,
    scrape_metrics,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.integration.traffic import MERGED_SQL, Traffic, build_traffic, expected_row, produce

TARGET_EVENTS = 20_000


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return build_traffic(seed=4, target_events=TARGET_EVENTS)


async def _check_final_state(
    bootstrap: str, prefix: str, env: dict[str, str], traffic: Traffic, log_text: str
) -> None:
    merged, counts = query(
        env,
        MERGED_SQL,
        "SELECT count(), uniqExact(event_id) FROM contact_events FINAL",
    )
    expected = sorted(expected_row(c) for c in traffic.contacts.values())
    assert len(merged) == len(expected), "exactly the expected contacts"
    assert [tuple(row) for row in merged] == expected, "merged fields as expected"
    assert counts == [[len(traffic.event_ids), len(traffic.event_ids)]], "each event stored once"

    records = await read_all(bootstrap, f"{prefix}.dlq")
    letters = [DeadLetter.from_headers(r.headers) for r in records]
    by_payload = {r.value: letter for r, letter in zip(records, letters, strict=True)}
    assert len(by_payload) == len(traffic.invalid), "every invalid event in the DLQ"
    for payload, code in traffic.invalid.items():
        letter = by_payload[payload]  # the value is the original, byte for byte
        assert letter.error_code == code
        assert letter.topic.startswith(f"{prefix}.raw.")
        assert letter.offset >= 0
    for record, letter in zip(records, letters, strict=True):
        assert record.partition == letter.partition, "a letter goes to its origin's partition"
        assert letter.timestamp is not None
    assert len(letters) == len(traffic.invalid), "and none twice"

    consumed = sum((await committed(bootstrap, raw_group(env))).values())
    assert consumed == len(traffic.messages), "the counts add up"
    leaked = [v for v in traffic.personal_values() if v in log_text]
    assert not leaked, f"{len(leaked)} personal values in the worker's log"
    for letter in letters:
        assert not any(v in letter.reason for v in traffic.personal_values())


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
    await _check_final_state(kafka_bootstrap, unique_name, env, traffic, worker.log_text())


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
    await _check_final_state(kafka_bootstrap, unique_name, env, traffic, second.log_text())


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
        [sys.executable, "-m", "tests.integration.rebalance_job"],
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
    await _check_final_state(kafka_bootstrap, unique_name, env, traffic, result.stderr)
