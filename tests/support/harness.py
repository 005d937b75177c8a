"""Helpers for tests that run the real `contactstream worker` as a child process.

chDB allows one data directory per process, so the worker owns its directory while it runs and
the test reads ClickHouse afterwards through a child process too (chquery.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

REPO = Path(__file__).resolve().parents[2]


def raw_group(env: dict[str, str]) -> str:
    """The consumer group that reads the raw topics (streams.ingest.consumer), for the worker of
    `env`."""
    return f"{env['CONTACTSTREAM_APP_ID']}-raw"


def worker_env(bootstrap: str, name: str, state: Path, **extra: str) -> dict[str, str]:
    """Environment of a worker isolated by topic prefix, consumer group and chDB directory."""
    env = {
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CONTACTSTREAM_TOPIC_PREFIX": name,
        "CONTACTSTREAM_APP_ID": f"{name}-worker",
        "CONTACTSTREAM_DATA_DIR": str(state),
        "CONTACTSTREAM_CLICKHOUSE_DATABASE": name,
        "CONTACTSTREAM_METRICS_PORT": "0",
        "CONTACTSTREAM_SINK_BATCH_MAX_SECONDS": "0.5",
        # Tests redact one thing at a time: no 30 s window for erasures sent together.
        "CONTACTSTREAM_REDACTION_GATHER_SECONDS": "1",
        "CONTACTSTREAM_LOG_LEVEL": "info",
        "CONTACTSTREAM_MODE": "dev",
    }
    env.update(extra)
    return env


class WorkerProcess:
    """`python -m streams worker` with its output captured to a log file."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.env = env
        self.log_path = log_path
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams", "worker", *self.args],
                cwd=REPO,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> float:
        """Send `sig`, wait for the exit; return the seconds it took."""
        assert self.proc is not None
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        return time.monotonic() - started

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


async def end_offsets(
    bootstrap: str, topics: Iterable[str], **client: Any
) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **client)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(t, p)
            for t in topics
            for p in (consumer.partitions_for_topic(t) or await _partitions(consumer, t))
        ]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


async def committed(bootstrap: str, group: str, **client: Any) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    except KafkaError:  # the group coordinator is still starting
        return {}
    finally:
        await admin.close()


async def wait_caught_up(
    bootstrap: str,
    group: str,
    topics: list[str],
    timeout: float,
    worker: WorkerProcess | None = None,
    **client: Any,
) -> None:
    """Until the group's committed offsets reach the end of every partition of `topics`."""
    deadline = time.monotonic() + timeout
    ends = await end_offsets(bootstrap, topics, **client)
    while time.monotonic() < deadline:
        if worker is not None and worker.returncode is not None:
            raise AssertionError(
                f"worker exited ({worker.returncode}):\n{worker.log_text()[-3000:]}"
            )
        done = await committed(bootstrap, group, **client)
        if all(done.get(tp, -1) >= end for tp, end in ends.items() if end > 0):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"group {group} did not catch up in {timeout}s")


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record currently in `topic`."""
    ends = await end_offsets(bootstrap, [topic])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(list(ends))
        for tp in ends:
            await consumer.seek_to_beginning(tp)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=1000)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return records


def query(env: dict[str, str], *sql: str) -> list[list[list[Any]]]:
    """Run read queries on the worker's ClickHouse (the worker must be stopped if chDB)."""
    result = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("chquery.py"))],
        input=json.dumps(sql),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise AssertionError(f"query failed:\n{result.stderr[-3000:]}")
    rows: list[list[list[Any]]] = json.loads(result.stdout)
    return rows


def scrape_metrics(port: int) -> str:
    """The worker's Prometheus exposition text."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def wait_for_metric(
    port: int, name: str, worker: WorkerProcess, timeout: float = 120.0
) -> float:
    """The first positive value of the worker's unlabelled metric `name` (polled every 0.5 s,
    also while its metrics server is not listening yet)."""
    for _ in range(int(timeout * 2)):
        assert worker.returncode is None, worker.log_text()[-3000:]
        try:
            text = await asyncio.to_thread(scrape_metrics, port)
        except OSError:
            text = ""
        for line in text.splitlines():
            metric, _, value = line.partition(" ")
            if metric == name and float(value) > 0:
                return float(value)
        await asyncio.sleep(0.5)
    raise AssertionError(f"{name} stayed 0 or absent for {timeout:.0f} s")


async def wait_for_topics(bootstrap: str, topics: list[str], worker: WorkerProcess) -> None:
    """The worker creates its topics at start-up; produce only once they all exist."""
    for _ in range(240):
        assert worker.returncode is None, worker.log_text()[-3000:]
        if {tp.topic for tp in await end_offsets(bootstrap, topics)} == set(topics):
            return
        await asyncio.sleep(0.5)
    raise AssertionError("topics were not created")
