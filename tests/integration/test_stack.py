"""The stack itself: the real broker with faust + aiokafka, and ClickHouse through chDB."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import faust
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.config import Settings, broker_urls
from streams.storage import open_client

N_MESSAGES = 10_000


async def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, orjson.dumps({"n": i}), key=str(i).encode())
        await producer.flush()
    finally:
        await producer.stop()


async def test_faust_agent_consumes_every_message_once(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    topic_name = f"{unique_name}.numbers"
    await _create_topic(kafka_bootstrap, topic_name, 4)
    app = faust.App(
        f"{unique_name}-group",
        broker=broker_urls(kafka_bootstrap),
        value_serializer="raw",
        web_enabled=False,
        datadir=str(tmp_path),
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
    )
    topic = app.topic(topic_name, value_serializer="raw")
    seen: Counter[int] = Counter()
    all_seen = asyncio.Event()

    @app.agent(topic)
    async def count(stream: faust.StreamT[bytes]) -> None:
        async for batch in stream.noack_take(1000, within=0.5):
            for event in batch:
                seen[orjson.loads(event.value)["n"]] += 1
                await stream.ack(event)
            if len(seen) >= N_MESSAGES:
                all_seen.set()

    await app.start()
    try:
        await _produce(kafka_bootstrap, topic_name, N_MESSAGES)
        await asyncio.wait_for(all_seen.wait(), timeout=120)
        await asyncio.sleep(1.0)  # anything delivered twice would show up now
        assert app.consumer.assignment(), "the agent joined its consumer group"
    finally:
        await app.stop()
    assert set(seen) == set(range(N_MESSAGES)), "none lost"
    assert max(seen.values()) == 1, "none twice"


@pytest.mark.usefixtures("chdb_session")
def test_chdb_round_trip_of_10000_rows(chdb_settings: Settings) -> None:
    client = open_client(chdb_settings)
    client.command("CREATE TABLE rt (n UInt64, s String) ENGINE = MergeTree ORDER BY n")
    client.insert("rt", [[i, f"row-{i}"] for i in range(10_000)], column_names=["n", "s"])
    rows = client.query("SELECT n, s FROM rt ORDER BY n").result_rows
    assert rows == [(i, f"row-{i}") for i in range(10_000)]
