"""Peak memory of the worker against the size of the events in flight.

    .venv/bin/python bench/memory.py [--megabytes 300]

Starts a private broker, then for each event size preloads about N MB of raw events into one
channel topic (60 KB events are valid and stored; 700 KB ones exceed the 64 KB text limit and
go to the DLQ, a refused record near the raw topics' size limit being the worst case), starts
`contactstream worker`, waits until every offset is committed and reads the worker's peak RSS
(VmHWM). The baseline is the same worker on the same number of megabytes of ordinary 1 KB
events, in the same run. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from schemas.examples import raw_event  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.kafka.local import LocalBroker  # noqa: E402
from streams.kafka.local.broker import free_port  # noqa: E402
from streams.kafka.topics import ensure_topics  # noqa: E402
from tests.support.harness import WorkerProcess, raw_group, wait_caught_up, worker_env  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def events(size: int, megabytes: int) -> list[tuple[str, bytes | None, bytes]]:
    count = max(1, megabytes * 1024 * 1024 // size)
    return [
        (
            "email",
            f"m-{i}".encode(),
            orjson.dumps(
                raw_event("email", event_id=f"m-e-{i}", contact_id=f"m-{i}", content="x" * size)
            ),
        )
        for i in range(count)
    ]


async def measure(bootstrap: str, home: Path, name: str, size: int, megabytes: int) -> float:
    env = worker_env(bootstrap, name, home / name, CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="3600")
    settings = Settings(kafka_bootstrap=bootstrap, topic_prefix=name)
    await ensure_topics(settings)
    messages = events(size, megabytes)
    await produce_big(bootstrap, name, messages)
    with WorkerProcess(env, home / f"{name}.log") as worker:
        assert worker.proc is not None
        await wait_caught_up(bootstrap, raw_group(env), [f"{name}.raw.email"], 900, worker)
        peak = peak_rss_mb(worker.proc.pid)
        worker.stop()
    return peak


async def produce_big(
    bootstrap: str, prefix: str, messages: list[tuple[str, bytes | None, bytes]]
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=2_000_000, linger_ms=20
    )
    await producer.start()
    try:
        futures = [
            await producer.send(f"{prefix}.raw.{ch}", value, key=key) for ch, key, value in messages
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


async def main(megabytes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="contactstream-memory-") as tmp:
        home = Path(tmp)
        broker = LocalBroker(home / "kafka", REPO / ".contactstream" / "jars")
        bootstrap = (await asyncio.to_thread(broker.start, free_port(), True)).bootstrap
        try:
            stamp = int(time.time())
            base = await measure(bootstrap, home, f"mem{stamp}a", 1_000, megabytes)
            print(f"baseline 1 KB events ({megabytes} MB): peak RSS {base:.0f} MB", flush=True)
            for size, label in ((60_000, "60 KB"), (700_000, "700 KB")):
                peak = await measure(bootstrap, home, f"mem{stamp}{size}", size, megabytes)
                print(
                    f"{label} events ({megabytes} MB): peak RSS {peak:.0f} MB "
                    f"(ratio {peak / base:.2f} to the baseline)",
                    flush=True,
                )
        finally:
            await asyncio.to_thread(broker.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=300)
    asyncio.run(main(parser.parse_args().megabytes))
