"""An honest Kafka window: a record on a partition that keeps receiving writes is gone within
retention.ms + segment.ms + the broker's retention check interval (streams/kafka/topics.py), on the
real broker (started by tests/integration/conftest.py with a 5 s check interval)."""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.config import Settings
from streams.kafka.topics import declared_topics, segment_ms

RETENTION_MS = 60_000  # the least Settings allow for raw_retention_ms
CHECK_MS = 5_000  # --retention-check-seconds of the session's broker
WRITE_EVERY = 0.5  # seconds between records: the partition never goes quiet


async def _first_offset(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int:
    return int((await consumer.beginning_offsets([tp]))[tp])


async def _first_record(consumer: AIOKafkaConsumer, tp: TopicPartition) -> bytes | None:
    """The value of the first record a consumer reading from the beginning gets."""
    await consumer.seek_to_beginning(tp)
    batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
    records = batch.get(tp, [])
    return records[0].value if records else None


async def test_a_record_is_gone_within_the_declared_window_while_writes_go_on(
    kafka_bootstrap: str, unique_name: str
) -> None:
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=unique_name, raw_retention_ms=RETENTION_MS
    )
    spec = next(s for s in declared_topics(settings) if s.name == settings.topic("raw.sms"))
    assert spec.configs["segment.ms"] == str(segment_ms(RETENTION_MS)) == "2500"
    # The control: the same topic without segment.ms (Kafka's 7 days), as the issue found it.
    control = {k: v for k, v in spec.configs.items() if k != "segment.ms"}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(spec.name, 1, 1, topic_configs=spec.configs),
                NewTopic(f"{spec.name}-control", 1, 1, topic_configs=control),
            ]
        )
    finally:
        await admin.close()
    tp, control_tp = TopicPartition(spec.name, 0), TopicPartition(f"{spec.name}-control", 0)
    victim = f"victim {uuid.uuid4().hex}".encode()
    bound = (RETENTION_MS + segment_ms(RETENTION_MS) + CHECK_MS) / 1000
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        consumer.assign([tp, control_tp])
        written = await producer.send_and_wait(tp.topic, victim, partition=0)
        kept = await producer.send_and_wait(control_tp.topic, victim, partition=0)
        written_at = written.timestamp / 1000  # the record's timestamp, which retention uses
        gone_after: float | None = None
        # Write on until the record is gone and the bound (plus a margin) has passed.
        while time.time() - written_at < bound + 5 or gone_after is None:
            assert time.time() - written_at < bound + 30, f"the record outlived {bound + 30} s"
            for target in (tp, control_tp):
                await producer.send_and_wait(target.topic, b"later traffic", partition=0)
            if gone_after is None and await _first_offset(consumer, tp) > written.offset:
                gone_after = time.time() - written_at
            await asyncio.sleep(WRITE_EVERY)
        print(f"the record lived {gone_after:.1f} s (retention {RETENTION_MS / 1000:.0f} s)")
        assert RETENTION_MS / 1000 <= gone_after <= bound + 2, gone_after
        assert await _first_record(consumer, tp) == b"later traffic", "a consumer gets it no more"
        # Without segment.ms the same record on the same traffic is still there past the bound.
        assert await _first_offset(consumer, control_tp) == kept.offset
        assert await _first_record(consumer, control_tp) == victim
    finally:
        await consumer.stop()
        await producer.stop()
