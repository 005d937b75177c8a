"""`contactstream schemas validate` and the real worker agree: the records it refuses are the
ones the worker dead-letters, with the same code, and the others are stored (real broker, real
worker, real ClickHouse engine)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from schemas.control import DeadLetter
from streams.config import CHANNELS
from tests.support.cli import cli
from tests.support.harness import (
    WorkerProcess,
    query,
    raw_group,
    read_all,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.rejection_cases import all_cases

Origin = tuple[str, int, int]


async def produce(bootstrap: str, prefix: str, cases: list[tuple[str, bytes]]) -> list[Origin]:
    """Send every case to its channel's raw topic; where each one landed, in case order."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        sends = [
            await producer.send(f"{prefix}.raw.{channel}", payload, key=b"k")
            for channel, payload in cases
        ]
        landed = await asyncio.gather(*sends)
    finally:
        await producer.stop()
    return [(meta.topic, meta.partition, meta.offset) for meta in landed]


def verdicts(cases: list[tuple[str, bytes]], tmp_path: Path) -> dict[int, str]:
    """case index -> code of what `schemas validate` refuses, run per channel as a user would."""
    refused: dict[int, str] = {}
    for channel in CHANNELS:
        at = [n for n, (ch, _) in enumerate(cases) if ch == channel]
        path = tmp_path / f"{channel}.jsonl"
        path.write_bytes(b"\n".join(cases[n][1] for n in at))
        result = cli("schemas", "validate", "--json", "--channel", channel, str(path), check=False)
        assert result.returncode == 1, result.stderr
        document = orjson.loads(result.stdout)
        refused.update({at[r["index"]]: r["code"] for r in document["refusals"]})
    return refused


async def test_the_worker_dead_letters_what_schemas_validate_refuses(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    cases = all_cases()
    expected = await asyncio.to_thread(verdicts, cases, tmp_path)
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    topics = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, topics, worker)
        origins = await produce(kafka_bootstrap, unique_name, cases)
        await wait_caught_up(kafka_bootstrap, raw_group(env), topics, 300, worker)
        worker.stop()
    letters = await read_all(kafka_bootstrap, f"{unique_name}.dlq")
    dead = {}
    for record in letters:
        letter = DeadLetter.from_headers(record.headers)
        dead[letter.topic, letter.partition, letter.offset] = letter.error_code
    by_worker = {n: dead[origin] for n, origin in enumerate(origins) if origin in dead}
    assert by_worker == expected
    assert len(letters) == len(expected), "one letter per refused record"
    [rows] = query(env, "SELECT event_id FROM contact_events")
    stored = sorted(row[0] for row in rows)
    accepted = [n for n in range(len(cases)) if n not in expected]
    assert stored == sorted(orjson.loads(cases[n][1])["event_id"].strip() for n in accepted)
    assert 20 <= len(accepted) < len(expected), "both verdicts are walked"
