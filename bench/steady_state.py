"""The steady state at 18 months: what each recurring job costs, per run and per day, and the
freshness of ingestion while they run.

    .venv/bin/python bench/steady_state.py [--contacts 1500000] [--rate 2000] [--seconds 40]
        [--runs 3] [--subjects 5] [--requests-per-day 5] [--no-freshness] [--quick]

1. Jobs (in a child process that owns the chDB database, as a worker would): loads N contacts
   over 18 months and a day up to now (the last day's worth past their retention time) through
   the worker's parse path (bench/population.py), then times each recurring job with the
   project's own functions (bench/jobs.py), so the figures follow the mechanism of the code run:
     retention tick     a retention tick's queries, every CONTACTSTREAM_RETENTION_INTERVAL_SECONDS;
     redaction batch    the contacts that fall due in CONTACTSTREAM_REDACTION_BATCH_SECONDS at
                        this volume, redacted in one batch (the product's schedule);
     baseline           each tick redacting what fell due since the last (the schedule before
                        batches: shown for the ratio, not in the total);
     erasure            --subjects subjects' contacts (whole ones as the tombstones'
                        redaction does, shared ones row by row), one request after another;
     rectification      --subjects subjects' phone numbers corrected;
     Parquet round      streams.analyst.snapshots.write_snapshots, every snapshot interval;
     store refresh      streams.analyst.store.refresh_analyst_store, as often as the
                        worker's policy runs it at this volume: once
                        CONTACTSTREAM_ANALYST_STORE_CHANGED_CONTACTS changed, or the snapshot
                        is CONTACTSTREAM_ANALYST_STORE_MAX_AGE_SECONDS old.
   One interval's traffic (this volume's average rate) is stored before each run of the last
   two (not counted). Per run: wall time, CPU time of the process (chDB runs in it) and bytes
   written (/proc/self/io write_bytes, which counts the engine's threads; chDB has no
   system.part_log); CPU and bytes include the merges and mutations the job set off (waited
   for, up to 60 s). Per day: the median run times the runs a day at the configured schedule
   (erasure and rectification: --requests-per-day requests of one subject each). The baseline is
   storing one day of this volume's events by the same path.
2. Freshness (unless --no-freshness): a private broker and `contactstream worker` on that
   database; --rate events/s for --seconds with every recurring job off (the baseline), then
   again with the retention tick (each finding an hour's worth of due contacts), the Parquet
   round and the store refresh every half window, and --subjects erasures and rectifications
   sent through `contactstream subject ... --no-wait` from the window's start: Kafka timestamp
   -> stored p99 (bench/latency.py) and its ratio to the baseline.
Not a test: nothing is asserted. Targets (issue 22): <= 5 GB/day rewritten by retention,
erasure, rectification and snapshots; freshness p99 <= 1.5 s at 2,000 events/s while jobs run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.jobs import SPAN, Cost, Jobs, measure, median, settle  # noqa: E402
from bench.latency import freshness, p99, percentiles, steady  # noqa: E402
from bench.population import Population, load  # noqa: E402
from streams.analyst.snapshots import write_snapshots  # noqa: E402
from streams.analyst.store import refresh_analyst_store  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.kafka.local import LocalBroker  # noqa: E402
from streams.kafka.topics import ensure_topics  # noqa: E402
from streams.storage import migrate, open_client  # noqa: E402
from tests.support.harness import (  # noqa: E402
    WorkerProcess,
    raw_group,
    wait_caught_up,
    worker_env,
)

OVERDUE: Final = timedelta(days=1)
"""Loaded past due: a whole day, so the due contacts follow the day's load curve (the hours past
due at night hold few) and the per-run counts below are the day's average."""
DAY: Final = 86_400.0
PREFIX: Final = "steady"


class Sizes(NamedTuple):
    contacts: int
    runs: int
    """Runs per timed job (their median is kept)."""
    subjects: int
    """Subjects per erasure and per rectification."""
    requests_per_day: float
    """Erasure and rectification requests per day, each of one subject."""


OLD_SCHEDULE: Final = "baseline, every tick"
"""The schedule before batches (every retention tick redacted what it found): shown for the
ratio, not part of the total."""


class Recurring(NamedTuple):
    name: str
    runs_per_day: float
    cost: Cost
    """The median run's."""


def store_refresh_interval(settings: Settings, contacts_per_second: float) -> float:
    """Seconds between two refreshes of the analyst store at this volume: the worker refreshes
    once analyst_store_changed_contacts contacts changed, or the snapshot is
    analyst_store_max_age_seconds old, checking every analyst_store_seconds."""
    check = settings.analyst_store_seconds or 300.0
    threshold = settings.analyst_store_changed_contacts
    if not threshold:
        return check
    by_changes = threshold / contacts_per_second if contacts_per_second else float("inf")
    return max(check, min(by_changes, settings.analyst_store_max_age_seconds))


def timed_runs(jobs: Jobs, runs: int, interval: float, job: Callable[[], object]) -> Cost:
    costs = []
    for _ in range(runs):
        jobs.between_runs(interval)
        # The merges of that traffic's parts are ingestion's cost (the baseline), not the job's.
        time.sleep(1.0)
        settle(jobs.client)
        costs.append(measure(jobs.client, job))
    return median(costs)


def measure_jobs(env: dict[str, str], sizes: Sizes) -> dict[str, Any]:
    """Phase 1, in a child process: load, then time every recurring job (see the docstring)."""
    contacts, runs, subjects = sizes.contacts, sizes.runs, sizes.subjects
    os.environ.update(env)
    settings = Settings()
    client = open_client(settings)
    migrate(client, settings)
    population = Population(settings, contacts)
    now = datetime.now(UTC)
    started = time.perf_counter()
    loaded = load(client, population, now - SPAN - OVERDUE, now, contacts)
    load_seconds = time.perf_counter() - started
    settle(client)
    jobs = Jobs(client, population, contacts)
    retention_every = settings.retention_interval_seconds
    batch_every = settings.redaction_batch_seconds
    snapshot_every = settings.snapshot_interval or 60.0
    store_every = store_refresh_interval(settings, jobs.per_second)
    first = {
        "store refresh (first)": measure(client, lambda: refresh_analyst_store(client)),
        "Parquet round (first)": measure(
            client, lambda: write_snapshots(client, settings.analyst_path)
        ),
    }
    day = measure(client, lambda: jobs.between_runs(DAY))
    due = jobs.due()
    per_run = max(1, round(jobs.per_second * retention_every))
    hourly = max(1, round(jobs.per_second * 3600))
    per_batch = max(1, round(jobs.per_second * batch_every))
    ticks = [due[n * per_run : (n + 1) * per_run] for n in range(runs)]
    batch = due[runs * per_run : runs * per_run + per_batch]
    # The snapshot jobs first: a change is read again by every round within INGEST_MARGIN of
    # it, so right after the redactions below every round would re-read them (in a day they
    # are spread over hours).
    recurring = [
        Recurring(
            f"Parquet round / {snapshot_every:.0f} s",
            DAY / snapshot_every,
            timed_runs(
                jobs, runs, snapshot_every, lambda: write_snapshots(client, settings.analyst_path)
            ),
        ),
        Recurring(
            f"store refresh / {store_every:.0f} s",
            DAY / store_every,
            timed_runs(jobs, runs, store_every, lambda: refresh_analyst_store(client)),
        ),
        Recurring(
            f"retention tick (queries) / {retention_every:.0f} s",
            DAY / retention_every,
            median([measure(client, lambda: jobs.retention_tick([])) for _ in range(runs)]),
        ),
        Recurring(
            f"redaction batch ({len(batch)}) / {batch_every:.0f} s",
            DAY / batch_every,
            measure(client, lambda: jobs.redact(batch, "retention")),
        ),
        Recurring(
            f"{OLD_SCHEDULE}: redaction of {per_run} / {retention_every:.0f} s",
            DAY / retention_every,
            median(
                [measure(client, lambda keys=keys: jobs.retention_tick(keys)) for keys in ticks]
            ),
        ),
        Recurring(
            f"erasure of {subjects} subjects",
            sizes.requests_per_day / subjects,
            measure(client, lambda: jobs.erase(loaded.phones[:subjects])),
        ),
        Recurring(
            f"rectification of {subjects} subjects",
            sizes.requests_per_day / subjects,
            measure(client, lambda: jobs.rectify(loaded.phones[subjects : 2 * subjects])),
        ),
    ]
    client.close()
    return {
        "loaded": [loaded.contacts, loaded.events, load_seconds, len(due)],
        "first": {name: list(cost) for name, cost in first.items()},
        "day": list(day),
        "recurring": [[r.name, r.runs_per_day, list(r.cost)] for r in recurring],
        "phones": loaded.phones[2 * subjects : 4 * subjects],
        "hourly": hourly,
    }


def jobs_table(result: dict[str, Any]) -> list[str]:
    mb = 1e6
    lines = [
        f"{'job':<44} {'runs/day':>9} {'wall s':>8} {'CPU s':>8} {'MB':>9} | per day: "
        f"{'wall h':>7} {'CPU h':>7} {'GB':>8}",
    ]
    for name, cost in result["first"].items():
        wall, cpu, written = cost
        lines.append(f"{name:<44} {'-':>9} {wall:8.2f} {cpu:8.2f} {written / mb:9.1f} |")
    totals = Cost(0.0, 0.0, 0)
    rewriting = 0.0
    for name, runs, (wall, cpu, written) in result["recurring"]:
        day = Cost(wall * runs / 3600, cpu * runs / 3600, int(written * runs))
        lines.append(
            f"{name:<44} {runs:9.1f} {wall:8.2f} {cpu:8.2f} {written / mb:9.1f} | "
            f"{'':9} {day.wall:7.2f} {day.cpu:7.2f} {day.written / 1e9:8.2f}"
        )
        if not name.startswith(OLD_SCHEDULE):  # the baseline schedule, not an addition
            totals = Cost(
                totals.wall + day.wall, totals.cpu + day.cpu, totals.written + day.written
            )
            rewriting += day.written
    ingest = result["day"][2]
    lines += [
        f"{'total per day (without the baseline)':<44} {'':9} {'':8} {'':8} {'':9} | "
        f"{'':9} {totals.wall:7.2f} {totals.cpu:7.2f} {totals.written / 1e9:8.2f}",
        f"baseline: storing one day of this volume's events wrote {ingest / mb:.1f} MB "
        f"(wall {result['day'][0]:.2f} s, CPU {result['day'][1]:.2f} s); the jobs write "
        f"{rewriting / max(ingest, 1):.0f}x that per day; target 5 GB/day: "
        f"{rewriting / 5e9:.2f} of it",
    ]
    return lines


async def freshness_windows(
    args: argparse.Namespace, home: Path, bootstrap: str, result: dict[str, Any]
) -> dict[str, list[float]]:
    """Phase 2: the freshness of --rate events/s with the recurring jobs off, then on."""
    env = worker_env(bootstrap, PREFIX, home / "state", CONTACTSTREAM_LOG_LEVEL="warn")
    phones, hourly = result["phones"], result["hourly"]
    await ensure_topics(Settings(kafka_bootstrap=bootstrap, topic_prefix=PREFIX))
    half = f"{max(2.0, args.seconds / 2):.0f}"
    windows = {
        "no job": {
            "CONTACTSTREAM_RETENTION_INTERVAL_SECONDS": str(10 * DAY),
            "CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS": "0",
            "CONTACTSTREAM_ANALYST_STORE_SECONDS": "0",
        },
        "jobs running": {
            "CONTACTSTREAM_RETENTION_INTERVAL_SECONDS": half,
            "CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS": half,
            "CONTACTSTREAM_ANALYST_STORE_SECONDS": half,
            "CONTACTSTREAM_ANALYST_STORE_CHANGED_CONTACTS": "0",  # a refresh at every check
            # Each retention tick finds an hour's worth of due contacts.
            "CONTACTSTREAM_RETENTION_BATCH_SIZE": str(hourly),
        },
    }
    stamps: dict[str, dict[tuple, int]] = {}
    for seed, (name, extra) in enumerate(windows.items(), start=args.rate):
        run_env = {**env, **extra}
        with WorkerProcess(run_env, home / "worker.log") as worker:
            await asyncio.sleep(8)  # joined and assigned before the clock starts
            requests = (
                asyncio.create_task(asyncio.to_thread(subject_requests, run_env, phones))
                if name == "jobs running"
                else None
            )
            # A seed per window: the same events twice would be collapsed by the table's engine.
            stamps[name] = await steady(bootstrap, PREFIX, args.rate, args.seconds, seed)
            topics = sorted({topic for topic, _, _ in stamps[name]})
            await wait_caught_up(bootstrap, raw_group(env), topics, 600, worker)
            if requests is not None:
                await requests
            worker.stop()
    return {name: freshness(env, window) for name, window in stamps.items()}


def subject_requests(env: dict[str, str], phones: list[str]) -> None:
    """5 erasures and 5 rectifications through the CLI, sent without waiting for the result."""
    cli = [sys.executable, "-m", "streams", "subject"]
    half = len(phones) // 2
    commands = [[*cli, "erase", "--phone", phone] for phone in phones[:half]] + [
        [*cli, "rectify", "--phone", phone, "--field", "phone", "--value", f"+35840{8_000_000 + n}"]
        for n, phone in enumerate(phones[half:])
    ]
    for command in commands:
        subprocess.run(
            [*command, "--verified-by", "bench", "--no-wait"],
            env={**os.environ, **env},
            cwd=REPO,
            capture_output=True,
            check=True,
            timeout=120,
        )


async def jobs_phase(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    """Phase 1 in a child process (it owns the database until it ends, as a worker would)."""
    # The jobs use no broker: the worker's settings but for the bootstrap address.
    env = worker_env("127.0.0.1:9", PREFIX, home / "state", CONTACTSTREAM_LOG_LEVEL="warn")
    sizes = Sizes(args.contacts, args.runs, args.subjects, args.requests_per_day)
    started = time.perf_counter()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result: dict[str, Any] = await asyncio.wrap_future(pool.submit(measure_jobs, env, sizes))
    contacts, events, load_seconds, due = result["loaded"]
    print(
        f"loaded {contacts:,} contacts, {events:,} events through the worker's parse path in "
        f"{load_seconds:.0f} s; {due:,} past due; jobs timed in "
        f"{time.perf_counter() - started - load_seconds:.0f} s",
        flush=True,
    )
    print("\n".join(jobs_table(result)), flush=True)
    return result


async def run(args: argparse.Namespace, home: Path) -> None:
    broker = LocalBroker(home / "kafka", REPO / ".contactstream" / "jars")
    # The broker starts while the jobs are timed (the jobs do not use it).
    starting = (
        None
        if args.no_freshness
        else asyncio.ensure_future(asyncio.to_thread(broker.start, 0, True))
    )
    try:
        result = await jobs_phase(args, home)
        if starting is None:
            return
        bootstrap = (await starting).bootstrap
        latencies = await freshness_windows(args, home, bootstrap, result)
    finally:
        if starting is not None:
            await asyncio.gather(starting, return_exceptions=True)
            await asyncio.to_thread(broker.stop)
    quiet = p99(latencies["no job"])
    for name, values in latencies.items():
        print(
            f"freshness at {args.rate}/s for {args.seconds:.0f} s, {name}: {percentiles(values)}; "
            f"p99 {p99(values) / quiet:.2f}x the no-job p99",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_500_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per timed job (median)")
    parser.add_argument("--subjects", type=int, default=5, help="per erasure and rectification")
    parser.add_argument(
        "--requests-per-day", type=float, default=5.0, help="erasures (and rectifications) a day"
    )
    parser.add_argument("--rate", type=int, default=2000, help="events/s for freshness")
    parser.add_argument("--seconds", type=float, default=40.0, help="each freshness window")
    parser.add_argument("--no-freshness", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5k contacts, 1 run per job, 1 subject, no freshness phase",
    )
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.runs, args.subjects, args.no_freshness = 5_000, 1, 1, True
    with tempfile.TemporaryDirectory(prefix="bench-steady-") as home:
        asyncio.run(run(args, Path(home)))


if __name__ == "__main__":
    main()
