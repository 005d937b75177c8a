"""End-to-end ingestion throughput: the real worker against a bare consume-and-insert baseline.

    .venv/bin/python bench/pipeline.py [--events 200000]

Starts a private broker (port 0), preloads N simulated raw events over the four channel topics,
then times, from process start until the consumer group has committed every offset:
  1. the baseline: aiokafka getmany() + insert of (topic, partition, offset, key, value) into a
     chDB table, no validation (bench/baseline_consumer.py, its own process and chDB directory);
  2. faust agents that only ack (bench/faust_ceiling.py): the ceiling of faust's per-event path;
  3. the same storage work without validation (bench/unvalidated_worker.py: the worker with a
     trusting decoder in place of parse_events): the bound of this design;
  4. `contactstream worker` (validate, normalize, DLQ, ClickHouse sink with dedup tokens).
Prints one line per contender as `NAME: N events/s` (with the time to its first commit and its
CPU time per event, which other load on the machine inflates less), then the ratios. `--only`
runs a subset (for profiling). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streams.config import CHANNELS, Settings  # noqa: E402
from streams.dev.simulator.contacts import utc  # noqa: E402
from streams.dev.simulator.produce import plan, send  # noqa: E402
from streams.kafka.local import LocalBroker  # noqa: E402
from streams.kafka.topics import ensure_topics  # noqa: E402
from tests.support.harness import committed, end_offsets  # noqa: E402

BENCH = REPO / "bench"
CONTENDERS = {
    "baseline": [sys.executable, str(BENCH / "baseline_consumer.py")],
    "ceiling": [sys.executable, str(BENCH / "faust_ceiling.py")],
    "no-validation": [sys.executable, str(BENCH / "unvalidated_worker.py")],
    "worker": [sys.executable, "-m", "streams", "worker"],
}
RAW_GROUP = {"worker", "no-validation"}
RATIOS = [
    ("worker", "baseline"),
    ("worker", "no-validation"),
    ("no-validation", "baseline"),
    ("worker", "ceiling"),
]


class Run(NamedTuple):
    seconds: float
    """From process start until every offset was committed."""
    first_commit: float
    """From process start until the group first committed anything (start-up plus one batch)."""
    cpu_seconds: float
    """User + system CPU of the process, start to exit (after the terminate)."""


async def caught_up(
    bootstrap: str, group: str, topics: list[str], total: int, proc: subprocess.Popen[bytes]
) -> float:
    """Wait until `group` committed every offset; return when it first committed any."""
    ends = await end_offsets(bootstrap, topics)
    assert sum(ends.values()) == total, (sum(ends.values()), total)
    first: float | None = None
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the measured process exited ({proc.returncode}); see its log")
        done = await committed(bootstrap, group)
        if first is None and done:
            first = time.monotonic()
        if all(done.get(tp, -1) >= end for tp, end in ends.items() if end > 0):
            return first if first is not None else time.monotonic()
        await asyncio.sleep(0.2)


def timed_run(
    command: list[str],
    env: dict[str, str],
    bootstrap: str,
    group: str,
    topics: list[str],
    total: int,
    log: Path,
) -> Run:
    cpu_before = _children_cpu()
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            first = asyncio.run(caught_up(bootstrap, group, topics, total, proc))
            elapsed = time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return Run(elapsed, first - started, _children_cpu() - cpu_before)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument(
        "--only", nargs="+", choices=sorted(CONTENDERS), help="run only these contenders"
    )
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
                # This checkout's code, whichever checkout the venv was installed from.
                "PYTHONPATH": str(REPO),
            }
            contenders = {
                name: command
                for name, command in CONTENDERS.items()
                if not args.only or name in args.only
            }
            runs = {
                name: timed_run(
                    command,
                    {
                        **base_env,
                        "CONTACTSTREAM_DATA_DIR": str(work / name),
                        "CONTACTSTREAM_APP_ID": f"bench-{name}",
                    },
                    state.bootstrap,
                    # The worker reads the raw topics in its batch consumer's own group.
                    f"bench-{name}-raw" if name in RAW_GROUP else f"bench-{name}",
                    topics,
                    total,
                    work / f"{name}.log",
                )
                for name, command in contenders.items()
            }
        finally:
            broker.stop()
    for name, run in runs.items():
        print(
            f"{name}: {total / run.seconds:,.0f} events/s ({run.seconds:.1f} s incl. start-up; "
            f"first commit after {run.first_commit:.1f} s; "
            f"CPU {run.cpu_seconds * 1e6 / total:.0f} us/event)"
        )
    for name, other in RATIOS:
        if name in runs and other in runs:
            print(f"ratio {name} / {other}: {runs[other].seconds / runs[name].seconds:.2f}")


if __name__ == "__main__":
    main()
