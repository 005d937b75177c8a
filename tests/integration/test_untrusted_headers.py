"""A producer cannot forge a dead letter's error context: its own `contactstream.error.*`
headers are dropped before the letter is written, every other header is kept (real broker,
real worker)."""

from __future__ import annotations

from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from schemas.control import DLQ_HEADER_PREFIX, DeadLetter
from schemas.examples import raw_event
from streams.config import CHANNELS
from tests.support.harness import (
    WorkerProcess,
    raw_group,
    read_all,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)

FORGED = [
    (f"{DLQ_HEADER_PREFIX}contact_id", b"someone-else"),
    (f"{DLQ_HEADER_PREFIX}error_code", b"storage_rejected"),
    (f"{DLQ_HEADER_PREFIX}topic", b"contacts.raw.phone"),
]
KEPT = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]


async def test_forged_error_headers_never_reach_a_dead_letter(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    topics = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    # One letter with no readable contact_id (the header the producer tried to fill), one with.
    unreadable = orjson.dumps(raw_event("sms", contact_id=17))
    readable = orjson.dumps(raw_event("sms", sender_phone="12", contact_id="sms-c-9"))
    valid = orjson.dumps(raw_event("sms", contact_id="sms-c-10", event_id="sms-c-10-1"))
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, topics, worker)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            for value in (unreadable, readable, valid):
                await producer.send_and_wait(
                    f"{unique_name}.raw.sms", value, key=b"k", headers=[*KEPT, *FORGED]
                )
        finally:
            await producer.stop()
        await wait_caught_up(kafka_bootstrap, raw_group(env), topics, 120, worker)
    records = await read_all(kafka_bootstrap, f"{unique_name}.dlq")
    assert [r.value for r in records] == [unreadable, readable]
    for record in records:
        names = [name for name, _ in record.headers]
        assert [h for h in record.headers if h in KEPT] == KEPT, "other headers are kept"
        assert not [h for h in record.headers if h in FORGED], "no forged value survives"
        assert len(names) == len(set(names)), "each error header once"
        letter = DeadLetter.from_headers(record.headers)
        assert letter.topic == f"{unique_name}.raw.sms"
    first, second = (DeadLetter.from_headers(r.headers) for r in records)
    assert (first.contact_id, first.error_code) == (None, "invalid_id")
    assert (second.contact_id, second.error_code) == ("sms-c-9", "invalid_phone")
