"""Pipeline latency at a steady rate: Kafka timestamp -> stored in ClickHouse, p50/p99/max.

    .venv/bin/python bench/latency.py [--rates 2000 5000] [--seconds 40]

Starts a private broker and `contactstream worker`, produces simulated events at each steady
rate (paced every 10 ms), stops the worker, then joins every stored row to its record by origin
(topic, partition, offset): latency = contact_events.ingested_at - the record's Kafka timestamp
(as the producer's acknowledgement reported it). The baseline in the same run is the lowest rate.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaProducer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streams.config import Settings  # noqa: E402
from streams.dev.simulator.contacts import utc  # noqa: E402
from streams.dev.simulator.produce import plan  # noqa: E402
from streams.kafka.local import LocalBroker  # noqa: E402
from streams.kafka.topics import ensure_topics  # noqa: E402
from tests.support.harness import (  # noqa: E402
    WorkerProcess,
    query,
    raw_group,
    wait_caught_up,
    worker_env,
)


async def steady(
    bootstrap: str, prefix: str, rate: int, seconds: float, seed: int | None = None
) -> dict[tuple, int]:
    """Produce at `rate` events/s; return (topic, partition, offset) -> Kafka timestamp (ms).
    Runs with the same seed (default: the rate) produce the same events."""
    messages, _ = plan(
        int(rate * seconds / 2.45) + 10,
        rate if seed is None else seed,
        utc(2026, 10, 1),
        utc(2026, 11, 1),
        0.0,
    )
    messages = messages[: int(rate * seconds)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    stamps: dict[tuple, int] = {}
    futures = []
    try:
        started = time.monotonic()
        per_tick = max(1, rate // 100)
        for index in range(0, len(messages), per_tick):
            for channel, key, value in messages[index : index + per_tick]:
                futures.append(await producer.send(f"{prefix}.raw.{channel}", value, key=key))
            delay = started + (index + per_tick) / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        for future in futures:
            meta = await future
            stamps[(meta.topic, meta.partition, meta.offset)] = meta.timestamp
    finally:
        await producer.stop()
    return stamps


def freshness(env: dict[str, str], stamps: dict[tuple, int]) -> list[float]:
    """Seconds from each produced record's Kafka timestamp to its row's `ingested_at`, read from
    the stopped worker's ClickHouse (records not stored are left out). Topic names are Kafka's
    (letters, digits, '.', '_', '-'): safe between quotes."""
    topics = ", ".join(f"'{topic}'" for topic in sorted({t for t, _, _ in stamps}))
    [rows] = query(
        env,
        "SELECT kafka_topic, kafka_partition, kafka_offset, "
        f"toUnixTimestamp64Milli(ingested_at) FROM contact_events WHERE kafka_topic IN ({topics})",
    )
    return [
        (stored - stamps[(topic, partition, offset)]) / 1000
        for topic, partition, offset, stored in rows
        if (topic, partition, offset) in stamps
    ]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def percentiles(values: list[float]) -> str:
    p50, top = statistics.median(values), max(values)
    return f"p50 {p50:.2f} s, p99 {p99(values):.2f} s, max {top:.2f} s ({len(values)} events)"


async def run(rates: list[int], seconds: float, home: Path) -> None:
    broker = LocalBroker(home / "kafka", REPO / ".contactstream" / "jars")
    bootstrap = (await asyncio.to_thread(broker.start, 0, True)).bootstrap
    try:
        for rate in rates:
            prefix = f"lat{rate}"
            env = worker_env(
                bootstrap,
                prefix,
                home / prefix,
                CONTACTSTREAM_SINK_BATCH_MAX_SECONDS="0.5",
                CONTACTSTREAM_LOG_LEVEL="warn",
            )
            await ensure_topics(Settings(kafka_bootstrap=bootstrap, topic_prefix=prefix))
            with WorkerProcess(env, home / f"{prefix}.log") as worker:
                await asyncio.sleep(8)  # joined and assigned before the clock starts
                stamps = await steady(bootstrap, prefix, rate, seconds)
                topics = sorted({topic for topic, _, _ in stamps})
                await wait_caught_up(bootstrap, raw_group(env), topics, 300, worker)
                worker.stop()
            latencies = freshness(env, stamps)
            print(f"{rate} events/s for {seconds:.0f} s: {percentiles(latencies)}", flush=True)
    finally:
        await asyncio.to_thread(broker.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as home:
        asyncio.run(run(args.rates, args.seconds, Path(home)))


if __name__ == "__main__":
    main()
