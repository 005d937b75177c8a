"""The failure rule with faults from the real engine and the real broker (docs/operating.md):
an event's own fault sends it to the DLQ and the batch goes on; a system fault (disk full,
read-only directory, ClickHouse unreachable) makes the batch wait, visible in the metrics, and
nothing is acked or rerouted. In every scenario the next valid events flow and every event is
accounted for: stored exactly once, or dead-lettered exactly once with the right code."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from schemas.control import DeadLetter
from schemas.examples import raw_event
from streams.config import CHANNELS
from streams.dev.simulator.contacts import utc
from streams.kafka.local.broker import free_port
from tests.support.cli import cli
from tests.support.faults import disk_full, read_only, requires_mount, small_disk
from tests.support.harness import (
    WorkerProcess,
    committed,
    end_offsets,
    query,
    raw_group,
    read_all,
    scrape_metrics,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.traffic import build_traffic, produce

Message = tuple[str, bytes | None, bytes]


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus exposition text (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))) == wanted:
            return float(match[3])
    return 0.0


def series_values(metrics: str, name: str) -> list[float]:
    return [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(name + "{")
    ]


async def dead_letters(bootstrap: str, prefix: str) -> list[tuple[bytes, DeadLetter]]:
    return [
        (r.value, DeadLetter.from_headers(r.headers))
        for r in await read_all(bootstrap, f"{prefix}.dlq")
    ]


async def produce_large(bootstrap: str, prefix: str, messages: Iterable[Message]) -> None:
    """Like traffic.produce, with a request size for records near the raw topics' limit."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, max_request_size=2_000_000
    )
    await producer.start()
    try:
        for channel, key, value in messages:
            await (await producer.send(f"{prefix}.raw.{channel}", value, key=key))
    finally:
        await producer.stop()


async def wait_metrics(port: int, until: str, check: object, timeout: float = 90) -> str:
    """Scrape until `check(text)` holds; return that scrape."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = await asyncio.to_thread(scrape_metrics, port)
        except OSError:
            text = ""
        if text and check(text):  # type: ignore[operator]
            return text
        await asyncio.sleep(0.5)
    raise AssertionError(f"metrics never showed: {until}")


def stored_counts(env: dict[str, str]) -> tuple[int, int]:
    [[count, unique]] = query(env, "SELECT count(), uniqExact(event_id) FROM contact_events FINAL")[
        0
    ]
    return int(count), int(unique)


def assert_log_hygiene(log_text: str) -> None:
    assert "Unclosed" not in log_text, "an unclosed Kafka client"
    assert "Traceback" not in log_text


async def test_events_at_every_limit_flow_and_each_is_accounted_for(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    """An invalid event at the raw topic's size limit, a batch spanning nine years of monthly
    partitions, events dated in 2099, and rows ClickHouse refuses by a real CHECK constraint:
    the channel never stops, and every event is stored once or dead-lettered once."""
    port = free_port()
    env = worker_env(
        kafka_bootstrap,
        unique_name,
        tmp_path,
        CONTACTSTREAM_METRICS_PORT=str(port),
        CONTACTSTREAM_SINK_BATCH_MAX_SECONDS="2.0",
        CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="3600",
    )
    cli("migrate", env=env)
    query(
        env,
        "ALTER TABLE contact_events ADD CONSTRAINT advisor_allowed "
        "CHECK ifNull(advisor_id, '') != 'adv-refused'",
    )
    backfill = build_traffic(
        seed=9,
        target_events=3000,
        invalid_fraction=0.02,
        start=utc(2016, 1, 1),
        end=utc(2025, 1, 1),
    )
    huge = orjson.dumps(raw_event("sms", content="x" * 1_040_000))  # too_large, near 1 MB
    refused = [
        (
            "phone",
            f"ref-{i}".encode(),
            orjson.dumps(
                raw_event(
                    "phone",
                    "answered",
                    event_id=f"ref-e-{i}",
                    contact_id=f"ref-{i}",
                    advisor_id="adv-refused",
                )
            ),
        )
        for i in range(20)
    ]
    future = [
        (
            "email",
            f"fut-{i}".encode(),
            orjson.dumps(
                raw_event(
                    "email",
                    event_id=f"fut-e-{i}",
                    contact_id=f"fut-{i}",
                    occurred_at="2099-06-01T10:00:00+03:00",
                )
            ),
        )
        for i in range(5)
    ]
    messages: list[Message] = [("sms", b"big", huge), *backfill.messages, *refused, *future]
    topics = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, topics, worker)
        first = await wait_metrics(port, "series at 0", lambda t: "storage_rejected" in t)
        assert (
            sample(
                first,
                "contactstream_events_rejected_total",
                channel="phone",
                code="storage_rejected",
            )
            == 0
        )
        await produce_large(kafka_bootstrap, unique_name, messages[:1])
        await produce(kafka_bootstrap, unique_name, messages[1:])
        await wait_caught_up(kafka_bootstrap, raw_group(env), topics, 240, worker)
        worker.stop()
    letters = await dead_letters(kafka_bootstrap, unique_name)
    codes = sorted(letter.error_code for _, letter in letters)
    assert codes.count("storage_rejected") == 20
    assert codes.count("future_timestamp") == 5
    assert codes.count("too_large") == 1
    assert len(letters) == 26 + len(backfill.invalid), "each refused event once"
    [(value, _)] = [(v, x) for v, x in letters if x.error_code == "too_large"]
    assert value == huge, "the dead letter is the original, byte for byte"
    assert {v for v, _ in letters} >= set(backfill.invalid)
    months, counts = query(
        env,
        "SELECT uniqExact(toYYYYMM(occurred_at)) FROM contact_events",
        "SELECT count(), uniqExact(event_id) FROM contact_events FINAL",
    )
    assert months[0][0] >= 100, "the batches spanned more months than one insert may"
    assert counts == [[len(backfill.event_ids), len(backfill.event_ids)]]
    ends = await end_offsets(kafka_bootstrap, topics)
    assert await committed(kafka_bootstrap, raw_group(env)) == {
        tp: end for tp, end in ends.items() if end > 0
    }
    log_text = worker.log_text()
    assert_log_hygiene(log_text)
    assert " ERROR " not in log_text, "a normal start and run logs no ERROR"


async def _until_waiting(port: int, source: str) -> str:
    def waiting(text: str) -> bool:
        return (
            max(series_values(text, "contactstream_processing_waiting"), default=0) == 1
            and sum(v for v in series_values(text, "contactstream_processing_failures_total")) >= 2
        )

    return await wait_metrics(port, f"a job waiting on {source}", waiting)


async def _hold_and_check(bootstrap: str, env: dict[str, str], port: int, seconds: float) -> None:
    """During a system fault: nothing commits, nothing is rerouted, the metrics say so."""
    group = raw_group(env)
    await _until_waiting(port, "storage")
    before = await committed(bootstrap, group)
    await asyncio.sleep(seconds)
    # Read from the broker every 5 s: lag, and committed offsets that have not moved for a while.
    text = await wait_metrics(
        port,
        "lag and progress age",
        lambda t: (
            max(series_values(t, "contactstream_consumer_lag")) > 0
            and max(series_values(t, "contactstream_consumer_progress_age_seconds")) >= seconds
        ),
        timeout=20,
    )
    assert await committed(bootstrap, group) == before, "nothing acked during the fault"
    storage = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("contactstream_processing_failures_total{")
        and 'source="storage"' in line
    ]
    assert sum(storage) >= 2
    assert sum(series_values(text, "contactstream_events_rejected_total")) == 0, "no reroute"


@requires_mount
async def test_a_full_disk_and_a_read_only_directory_make_batches_wait_not_reroute(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    port = free_port()
    with small_disk(disk, 192):
        env = worker_env(
            kafka_bootstrap,
            unique_name,
            tmp_path,
            CONTACTSTREAM_METRICS_PORT=str(port),
            CONTACTSTREAM_CLICKHOUSE_DSN=f"chdb://{disk / 'clickhouse'}",
            CONTACTSTREAM_SINK_RETRY_MAX_SECONDS="2",
        )
        traffic = build_traffic(seed=12, target_events=6000, invalid_fraction=0.0)
        thirds = [traffic.messages[i::3] for i in range(3)]
        topics = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
        group = raw_group(env)
        with WorkerProcess(env, tmp_path / "worker.log") as worker:
            await wait_for_topics(kafka_bootstrap, topics, worker)
            await produce(kafka_bootstrap, unique_name, thirds[0])
            await wait_caught_up(kafka_bootstrap, group, topics, 120, worker)
            with disk_full(disk):
                await produce(kafka_bootstrap, unique_name, thirds[1])
                await _hold_and_check(kafka_bootstrap, env, port, 6)
            await wait_caught_up(kafka_bootstrap, group, topics, 120, worker)
            with read_only(disk):
                await produce(kafka_bootstrap, unique_name, thirds[2])
                await _hold_and_check(kafka_bootstrap, env, port, 6)
            await wait_caught_up(kafka_bootstrap, group, topics, 120, worker)
            worker.stop()
        letters = await dead_letters(kafka_bootstrap, unique_name)
        assert letters == [], "no valid event was rerouted to the DLQ"
        assert stored_counts(env) == (len(traffic.event_ids), len(traffic.event_ids))
    log_text = worker.log_text()
    assert_log_hygiene(log_text)
    waits = re.findall(r"normalize waits: storage failure \(ClickHouse error (\d+)", log_text)
    assert {"243", "1001"} <= set(waits), "the real engine's codes: disk full, read-only"
    assert len(waits) <= 12, "one line per failure kind per interval, not one per attempt"


async def test_clickhouse_unreachable_is_seen_in_the_metrics(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env(
        kafka_bootstrap,
        unique_name,
        tmp_path,
        CONTACTSTREAM_METRICS_PORT=str(port),
        CONTACTSTREAM_CLICKHOUSE_DSN=f"http://127.0.0.1:{free_port()}",
        CONTACTSTREAM_SINK_RETRY_MAX_SECONDS="1",
    )
    cli("topics", "ensure", env=env)
    traffic = build_traffic(seed=13, target_events=400, invalid_fraction=0.0)
    await produce(kafka_bootstrap, unique_name, traffic.messages)
    with WorkerProcess(env, tmp_path / "worker.log", "--no-setup") as worker:
        await _hold_and_check(kafka_bootstrap, env, port, 8)
        worker.stop()
    assert await committed(kafka_bootstrap, raw_group(env)) == {}
    assert await dead_letters(kafka_bootstrap, unique_name) == []
    log_text = worker.log_text()
    assert_log_hygiene(log_text)
    assert log_text.count("waits: storage failure") <= 8, "throttled to one line per kind"


@requires_mount
def test_an_unwritable_chdb_directory_is_named_as_such(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    with small_disk(disk, 16):
        disk.chmod(0o700)  # a fresh tmpfs is 1777: private, as the worker requires
        (disk / "clickhouse").mkdir()
        with read_only(disk):
            result = cli("migrate", env={"CONTACTSTREAM_DATA_DIR": str(disk)}, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not writable by this process" in lines[0]
    assert "in use by another process" not in lines[0]
