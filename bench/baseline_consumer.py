"""Baseline for bench/pipeline.py: consume the raw topics with aiokafka getmany() and insert the
raw records into ClickHouse (chDB) without validation, committing after each insert."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from streams.config import CHANNELS, Settings
from streams.storage import open_client

COLUMNS = ["topic", "partition", "offset", "key", "value"]


async def main() -> None:
    settings = Settings()
    client = open_client(settings)
    client.command(
        "CREATE TABLE IF NOT EXISTS raw_events (topic LowCardinality(String), "
        "partition UInt32, offset UInt64, key String, value String) "
        "ENGINE = MergeTree ORDER BY (topic, partition, offset)"
    )
    consumer = AIOKafkaConsumer(
        *[settings.topic(f"raw.{ch}") for ch in CHANNELS],
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.app_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=20_000,
    )
    await consumer.start()
    loop = asyncio.get_running_loop()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=20_000)
            rows = [
                [r.topic, r.partition, r.offset, (r.key or b"").decode(), r.value]
                for records in batches.values()
                for r in records
            ]
            if rows:
                await loop.run_in_executor(
                    None,
                    lambda batch=rows: client.insert("raw_events", batch, column_names=COLUMNS),
                )
                await consumer.commit()
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
