"""End-to-end ingestion throughput: the real worker against a bare consume-and-insert baseline.

    .venv/bin/python bench/pipeline.py [--events 200000]

Starts a private broker (port 0), preloads N simulated raw events over the four channel topics,
then times, from process start until the consumer group has committed every offset:
  1. the baseline: aiokafka getmany() + insert of (topic, partition, offset, key, value) into a
     chDB table, no validation (bench/baseline_consumer.py, its own process and chDB directory);
  2. `contactstream worker` (validate, normalize, DLQ, ClickHouse sink with dedup tokens).
  3. faust agents that only ack (bench/faust_ceiling.py): the ceiling of faust's per-event path.
Prints events/s of each and the ratios. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streams.config import CHANNELS, Settings  # noqa: E402
from streams.localkafka import LocalBroker  # noqa: E402
from streams.simulator.contacts import utc  # noqa: E402
from streams.simulator.produce import plan, send  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402
from tests.integration.harness import committed, end_offsets  # noqa: E402


async def caught_up(
    bootstrap: str, group: str, topics: list[str], total: int, proc: subprocess.Popen[bytes]
) -> None:
    ends = await end_offsets(bootstrap, topics)
    assert sum(ends.values()) == total, (sum(ends.values()), total)
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the measured process exited ({proc.returncode}); see its log")
        done = await committed(bootstrap, group)
        if all(done.get(tp, -1) >= end for tp, end in ends.items() if end > 0):
            return
        await asyncio.sleep(0.2)


def timed_run(
    command: list[str],
    env: dict[str, str],
    bootstrap: str,
    group: str,
    topics: list[str],
    total: int,
    log: Path,
) -> float:
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            asyncio.run(caught_up(bootstrap, group, topics, total, proc))
            return time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        broker = LocalBroker(work / "kafka", REPO / ".contactstream" / "jars")
        state = broker.start(port=0, fresh=True)
        try:
            settings = Settings(
                kafka_bootstrap=state.bootstrap, topic_prefix="bench", data_dir=work
            )
            asyncio.run(ensure_topics(settings))
            messages, _ = plan(int(args.events / 2.45), 11, utc(2026, 1, 1), utc(2026, 11, 1), 0.02)
            asyncio.run(send(settings, messages, None))
            total = len(messages)
            topics = [settings.topic(f"raw.{ch}") for ch in CHANNELS]
            print(f"preloaded {total} events into {len(topics)} topics")
            base_env = {
                "CONTACTSTREAM_KAFKA_BOOTSTRAP": state.bootstrap,
                "CONTACTSTREAM_TOPIC_PREFIX": "bench",
                "CONTACTSTREAM_METRICS_PORT": "0",
                "CONTACTSTREAM_LOG_LEVEL": "warn",
                "CONTACTSTREAM_MODE": "dev",
            }
            contenders = {
                "baseline": [sys.executable, str(REPO / "bench" / "baseline_consumer.py")],
                "ceiling": [sys.executable, str(REPO / "bench" / "faust_ceiling.py")],
                "worker": [sys.executable, "-m", "streams", "worker"],
            }
            seconds = {
                name: timed_run(
                    command,
                    {
                        **base_env,
                        "CONTACTSTREAM_DATA_DIR": str(work / name),
                        "CONTACTSTREAM_APP_ID": f"bench-{name}",
                    },
                    state.bootstrap,
                    # The worker reads the raw topics in its batch consumer's own group.
                    f"bench-{name}-raw" if name == "worker" else f"bench-{name}",
                    topics,
                    total,
                    work / f"{name}.log",
                )
                for name, command in contenders.items()
            }
            baseline, ceiling, worker = (seconds[n] for n in contenders)
        finally:
            broker.stop()
    print(
        f"baseline (getmany + raw insert): {total / baseline:10,.0f} events/s "
        f"({baseline:.1f} s incl. start-up)"
    )
    print(
        f"faust agents that only ack:      {total / ceiling:10,.0f} events/s "
        f"({ceiling:.1f} s incl. start-up)"
    )
    print(
        f"contactstream worker:            {total / worker:10,.0f} events/s "
        f"({worker:.1f} s incl. start-up)"
    )
    print(f"ratio worker / baseline:         {baseline / worker:10.2f}")
    print(f"ratio worker / faust ceiling:    {ceiling / worker:10.2f}")


if __name__ == "__main__":
    main()
