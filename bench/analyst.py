"""Analyst views and Grafana panels over 30 days and 12 months, in the states a day brings.

    .venv/bin/python bench/analyst.py [--contacts 1500000] [--warm 5] [--burst 20000]
                                      [--ranges 30d 12mo] [--limit N] [--quick] [--keep DIR]

Loads N contacts (18 months and a day up to now, so a day's worth is past its retention time)
through the worker's parse path (bench/population.py: the simulator's contacts and identities,
streams.ingest.prepare, the sink's insert blocks), then for each state times every analyst view and
every query of deploy/grafana/dashboards/analyst.json, with the dashboard's range set to the
last 30 days and to the last 12 months: cold (the first run after the engine's caches are
dropped: DROP_CACHES; the OS page cache stays, no root) and warm (the median of --warm runs).

States, each starting from a fresh analyst snapshot (streams.analyst.store) but the
second, which follows the first:
  fresh         the snapshot just refreshed (and the Parquet snapshots just written);
  traffic 10m   ten minutes of traffic at this population's peak-hour rate since then;
  burst         a burst of --burst events (new contacts of the last hour) since the snapshot;
  rectified     one subject's phone number rectified (streams.subjects.sql.rectify);
  redacted      a retention batch: every contact past due redacted (streams.privacy.sql).
Each job is the project's own function, so the figures follow the mechanism of the code run.
Also the panels through `contactstream analyst query` (the sandboxed Parquet path) in the fresh
state, against `SELECT 1` by the same path (the sandbox's own start) as the baseline.
--keep DIR keeps the loaded database in DIR (the load takes 8-13 minutes at 1.5 M) and starts
later runs with the same --contacts from a copy of it (the states change their copy only).
Not a test: nothing is asserted; the target (issue 22) is every panel <= 1 s warm.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NamedTuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.jobs import SPAN, Jobs  # noqa: E402
from bench.population import Loaded, Population, load, traffic  # noqa: E402
from streams.analyst.snapshots import query_snapshots, write_snapshots  # noqa: E402
from streams.analyst.store import refresh_analyst_store  # noqa: E402
from streams.config import Settings  # noqa: E402
from streams.storage import migrate, open_client  # noqa: E402

DROP_CACHES: Final = tuple(
    f"SYSTEM DROP {cache} CACHE"
    for cache in (
        "MARK",
        "UNCOMPRESSED",
        "INDEX MARK",
        "INDEX UNCOMPRESSED",
        "PRIMARY INDEX",
        "QUERY CONDITION",
        "QUERY",
        "MMAP",
        "PAGE",
        "COMPILED EXPRESSION",
    )
)
"""The engine's caches that chDB 26.9 lets a session drop (PAGE is the engine's own userspace
page cache; the OS page cache stays: dropping it needs root)."""
RANGES: Final = {"30d": "30 DAY", "12mo": "12 MONTH"}
Client = Any


class State(NamedTuple):
    name: str
    change: Callable[[], str] | None
    """Leads to the state; says what it did."""
    refresh: bool
    """Refresh the analyst store before the change."""


def panel_queries(interval: str) -> dict[str, str]:
    """Each query of the analyst dashboard, its time filter set to the last `interval`."""
    board = json.loads((REPO / "deploy" / "grafana" / "dashboards" / "analyst.json").read_text())
    found = {}
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            sql = target.get("rawSql") or target.get("sql")
            if sql:
                sql = re.sub(
                    r"\$__timeFilter\((\w+)\)",
                    rf"\1 >= now() - INTERVAL {interval} AND \1 <= now()",
                    sql,
                )
                found[f"panel: {panel['title']}"] = sql.replace("${sl_seconds}", "60")
    return found


def view_queries(interval: str) -> dict[str, str]:
    since = f"now() - INTERVAL {interval}"
    return {
        "view: analyst_contacts": "SELECT channel, count(), avg(wait_seconds) "
        f"FROM analyst_contacts WHERE contact_at >= {since} GROUP BY channel",
        "view: kpi_hourly": "SELECT channel, sum(contacts), sum(offered_calls) FROM kpi_hourly "
        f"WHERE period_start >= {since} GROUP BY channel",
        "view: kpi_daily": "SELECT channel, sum(contacts), sum(repeat_contacts_7d) FROM kpi_daily "
        f"WHERE period_start >= {since} GROUP BY channel",
        "view: kpi_service_level": "SELECT sum(answered_within_sl) FROM "
        f"kpi_service_level(sl_seconds = 60) WHERE period_start >= {since}",
        "view: kpi_backlog": "SELECT * FROM kpi_backlog",
    }


def queries(ranges: list[str]) -> dict[str, str]:
    """Name (with its range) -> SQL; kpi_backlog and the backlog panel have no range: once."""
    found: dict[str, str] = {}
    for label in ranges:
        interval = RANGES[label]
        for name, sql in {**view_queries(interval), **panel_queries(interval)}.items():
            if "INTERVAL" in sql or label == ranges[0]:
                found[f"{name} ({label})" if "INTERVAL" in sql else name] = sql
    return found


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def drop_caches(client: Client) -> None:
    for statement in DROP_CACHES:
        client.command(statement)


def cold_and_warm(client: Client, sql: str, warm: int) -> tuple[float, float]:
    drop_caches(client)
    cold = seconds(lambda: client.query(sql))
    return cold, statistics.median(seconds(lambda: client.query(sql)) for _ in range(warm))


def time_state(client: Client, args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    found = list(queries(args.ranges).items())[: args.limit]
    return {name: cold_and_warm(client, sql, args.warm) for name, sql in found}


def peak_contacts_per_minute(contacts: int) -> float:
    """This population's contacts per minute in the peak hour (the simulator's peak load is
    2.75 times the average: Monday 1.25 x 08:00 2.2)."""
    return contacts / SPAN.total_seconds() * 60 * 2.75


def states(jobs: Jobs, args: argparse.Namespace, phone: str) -> list[State]:
    """The states in order, each with the change that leads to it and whether the analyst store
    is refreshed first."""
    client, population = jobs.client, jobs.population
    burst_contacts = max(1, round(args.burst / 2.45))  # 2.45 events per simulated contact

    def ten_minutes() -> str:
        contacts = max(1, round(peak_contacts_per_minute(args.contacts) * 10))
        events = traffic(client, population, contacts, timedelta(minutes=10))
        return f"{contacts:,} contacts, {events:,} events in the last 10 minutes"

    def burst() -> str:
        events = traffic(client, population, burst_contacts, timedelta(hours=1))
        return f"{burst_contacts:,} contacts, {events:,} events of the last hour"

    def rectified() -> str:
        return f"one subject's phone rectified on {jobs.rectify([phone])} contacts"

    def redacted() -> str:
        due = jobs.due()
        jobs.redact(due, "retention")
        return f"{len(due):,} contacts past due redacted in one batch"

    return [
        State("fresh", None, True),
        State("traffic 10m", ten_minutes, False),
        State("burst", burst, True),
        State("rectified", rectified, True),
        State("redacted", redacted, True),
    ]


def table(results: dict[str, dict[str, tuple[float, float]]]) -> str:
    names = list(next(iter(results.values())))
    width = max(len(n) for n in names)
    head = f"{'query':<{width}} | " + " | ".join(f"{s:>16}" for s in results)
    lines = [head, f"{'':<{width}} | " + " | ".join(f"{'warm / cold s':>16}" for _ in results)]
    for name in names:
        cells = [f"{results[s][name][1]:6.2f} / {results[s][name][0]:6.2f}" for s in results]
        lines.append(f"{name:<{width}} | " + " | ".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


def parquet_panels(directory: Path, warm: int, limit: int | None) -> dict[str, float]:
    """Warm median of each panel through `contactstream analyst query` (30 days), and SELECT 1."""
    found = {"baseline: SELECT 1": "SELECT 1"}
    for name, sql in list(panel_queries(RANGES["30d"]).items())[:limit]:
        found[name] = sql.replace("contactstream.", "").replace(
            "kpi_service_level(sl_seconds = 60)", "kpi_service_level_60s"
        )
    return {
        name: statistics.median(
            seconds(lambda sql=sql: query_snapshots(directory, sql, "TSV"))  # type: ignore[misc]
            for _ in range(warm)
        )
        for name, sql in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_500_000)
    parser.add_argument("--warm", type=int, default=5, help="warm runs per query (median)")
    parser.add_argument("--burst", type=int, default=20_000, help="events in the burst")
    parser.add_argument("--ranges", nargs="+", choices=list(RANGES), default=list(RANGES))
    parser.add_argument("--limit", type=int, default=None, help="time only the first N queries")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the loaded database here, reuse it later"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5k contacts, 1 warm run, 30 days, 1k burst, 3 queries only",
    )
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.warm, args.burst, args.ranges, args.limit = 5_000, 1, 1_000, ["30d"], 3
    with tempfile.TemporaryDirectory(prefix="bench-analyst-") as tmp:
        run(args, Path(tmp))


def kept(
    args: argparse.Namespace, home: Path, settings: Settings
) -> tuple[Client, Loaded, Population]:
    """A client on the database of an earlier run with --keep, copied to `home`; or on a new
    load (kept in args.keep when given)."""
    marker = args.keep / f"loaded-{args.contacts}.json" if args.keep else None
    if marker and marker.exists():
        saved = json.loads(marker.read_text())
        loaded = Loaded(*saved["loaded"])
        population = Population(settings, args.contacts)
        population.resume(saved["population"])
        # The engine's links (metadata/<db>, data/<db>/<table>) are relative: keep them links.
        shutil.copytree(args.keep / "home", home, symlinks=True, dirs_exist_ok=True)
        print(f"copied the {loaded.contacts:,} contacts loaded earlier from {args.keep}")
    client = open_client(settings)
    migrate(client, settings)
    if marker and marker.exists():
        return client, loaded, population
    population = Population(settings, args.contacts)
    now = datetime.now(UTC)
    started = time.perf_counter()
    loaded = load(client, population, now - SPAN - timedelta(days=1), now, args.contacts)
    print(
        f"loaded {loaded.contacts:,} contacts, {loaded.events:,} events through the worker's "
        f"parse path in {time.perf_counter() - started:.0f} s "
        f"({len(population.people.phones):,} people)",
        flush=True,
    )
    if marker and args.keep:
        client.command("SYSTEM STOP MERGES")  # parts stay put while they are copied
        shutil.rmtree(args.keep / "home", ignore_errors=True)
        shutil.copytree(home, args.keep / "home", symlinks=True)
        client.command("SYSTEM START MERGES")
        marker.write_text(json.dumps({"loaded": loaded, "population": population.position()}))
    return client, loaded, population


def run(args: argparse.Namespace, home: Path) -> None:
    settings = Settings(data_dir=home, mode="dev", analyst_snapshot_seconds=60)
    client, loaded, population = kept(args, home, settings)
    results: dict[str, dict[str, tuple[float, float]]] = {}
    jobs = Jobs(client, population, args.contacts)
    for state, change, refresh in states(jobs, args, loaded.phones[0]):
        if refresh:
            refresh_took = seconds(lambda: refresh_analyst_store(client))
            print(f"[{state}] analyst store refreshed in {refresh_took:.1f} s", flush=True)
        if change is not None:
            started = time.perf_counter()
            detail = change()
            took = time.perf_counter() - started
            print(f"[{state}] {detail} ({took:.1f} s)", flush=True)
        if state == "fresh":
            write_snapshots(client, settings.analyst_path)
        results[state] = time_state(client, args)
    client.close()
    print(table(results), flush=True)
    fresh_worst = max(warm for _, warm in results["fresh"].values())
    for state, timings in results.items():
        worst_name, (_, worst) = max(timings.items(), key=lambda item: item[1][1])
        over = sum(1 for _, warm in timings.values() if warm > 1.0)
        print(
            f"{state}: slowest warm {worst:.2f} s ({worst_name}), {worst / fresh_worst:.2f}x the "
            f"fresh state's slowest; {over} of {len(timings)} over 1 s warm",
            flush=True,
        )
    parquet = parquet_panels(settings.analyst_path, args.warm, args.limit)
    baseline = parquet.pop("baseline: SELECT 1")
    print(f"analyst query (Parquet, sandboxed, 30 days) SELECT 1: {baseline:.2f} s", flush=True)
    for name, took in parquet.items():
        print(f"analyst query {name}: {took:.2f} s, {took / baseline:.2f}x", flush=True)


if __name__ == "__main__":
    main()
