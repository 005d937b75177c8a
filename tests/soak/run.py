"""`make soak`: SIGKILL the worker at random moments while 50,000+ events (2 % invalid) flow,
then account for every event exactly. About 2.5 minutes on a 2-core machine; not part of
`make test` (docs/benchmarks.md, "Soak"). Prints one line of figures and exits non-zero if
anything is off.

    python -m tests.soak.run [--events 52000] [--kills 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from schemas.control import DeadLetter
from streams.config import CHANNELS
from streams.kafka.local import LocalBroker
from streams.kafka.local.broker import free_port
from tests.support.cli import REPO
from tests.support.harness import (
    WorkerProcess,
    committed,
    query,
    raw_group,
    read_all,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.traffic import Traffic, build_traffic, produce


async def _feed(bootstrap: str, prefix: str, traffic: Traffic, seconds: float) -> None:
    """Produce the traffic in slices spread over `seconds`."""
    slices = 60
    step = len(traffic.messages) // slices + 1
    for start in range(0, len(traffic.messages), step):
        await produce(bootstrap, prefix, traffic.messages[start : start + step])
        await asyncio.sleep(seconds / slices)


async def _kill_loop(env: dict[str, str], log: Path, kills: int, rng: random.Random) -> int:
    done = 0
    while done < kills:
        with WorkerProcess(env, log) as worker:
            await asyncio.sleep(rng.uniform(4.0, 9.0))  # start-up is ~3 s: kill mid-batch
            if worker.returncode is not None:
                raise SystemExit(f"worker exited by itself:\n{worker.log_text()[-3000:]}")
            worker.kill()
        done += 1
    return done


async def soak(events: int, kills: int, seed: int, home: Path) -> int:
    broker = LocalBroker(home / "kafka", REPO / ".contactstream" / "jars")
    bootstrap = (await asyncio.to_thread(broker.start, free_port(), True)).bootstrap
    prefix = f"soak{seed}"
    env = worker_env(
        bootstrap,
        prefix,
        home,
        CONTACTSTREAM_SINK_BATCH_MAX_ROWS="2000",
        CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="3600",
    )
    topics = [f"{prefix}.raw.{ch}" for ch in CHANNELS]
    group = raw_group(env)
    traffic = build_traffic(seed=seed, target_events=events, invalid_fraction=0.02)
    started = time.monotonic()
    try:
        with WorkerProcess(env, home / "worker.log") as first:
            await wait_for_topics(bootstrap, topics, first)
            first.kill()
        feeding = asyncio.create_task(_feed(bootstrap, prefix, traffic, kills * 6.0))
        killed = await _kill_loop(env, home / "worker.log", kills, random.Random(seed))
        await feeding
        with WorkerProcess(env, home / "worker.log") as last:
            await wait_caught_up(bootstrap, group, topics, 600, last)
            last.stop()
        [[stored, unique]] = query(
            env, "SELECT count(), uniqExact(event_id) FROM contact_events FINAL"
        )[0]
        records = await read_all(bootstrap, f"{prefix}.dlq")
        letters = [DeadLetter.from_headers(r.headers) for r in records]
        origins = Counter((x.topic, x.partition, x.offset) for x in letters)
        payloads = {r.value for r in records}
        consumed = sum((await committed(bootstrap, group)).values())
    finally:
        await asyncio.to_thread(broker.stop)
    lost = len(traffic.event_ids) - int(unique)
    duplicated = int(stored) - int(unique)
    missing = sum(1 for payload in traffic.invalid if payload not in payloads)
    letters_twice = sum(n - 1 for n in origins.values() if n > 1)
    print(
        f"soak: {len(traffic.messages)} events ({len(traffic.invalid)} invalid, "
        f"{traffic.duplicates} upstream duplicates), {killed} SIGKILLs, "
        f"{time.monotonic() - started:.0f} s; lost {lost}, duplicated after FINAL {duplicated}, "
        f"dead letters missing {missing}, dead letters duplicated {letters_twice}, "
        f"committed {consumed} of {len(traffic.messages)}"
    )
    return 1 if (lost, duplicated, missing, letters_twice) != (0, 0, 0, 0) else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=52_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contactstream-soak-") as home:
        sys.exit(asyncio.run(soak(args.events, args.kills, args.seed, Path(home))))


if __name__ == "__main__":
    main()
