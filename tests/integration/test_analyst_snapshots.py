"""Analysts on the embedded default: the leader worker writes the analyst views as Parquet, and
another process queries them read-only while the worker holds the chDB directory."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from schemas.contact import PERSONAL_FIELDS
from streams.analyst.snapshots import ANALYST_VIEWS, write_snapshots
from streams.config import CHANNELS, Settings
from streams.privacy import sql as redaction
from streams.storage import migrate, open_client
from tests.support.cli import cli
from tests.support.harness import (
    WorkerProcess,
    raw_group,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.kpi_dataset import at, event, insert
from tests.support.traffic import build_traffic, produce


async def test_snapshots_are_read_by_another_process_while_the_worker_runs(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    env = worker_env(
        kafka_bootstrap, unique_name, tmp_path, CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS="2"
    )
    none_yet = cli("analyst", "query", "SELECT 1", env=env, check=False)
    assert none_yet.returncode == 1
    assert "no analyst snapshots in" in none_yet.stderr
    traffic = build_traffic(seed=21, target_events=1200, invalid_fraction=0.0)
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, traffic.messages)
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)
        expected = f"sum(contacts)\n{len(traffic.contacts)}\n"
        for _ in range(60):  # the next snapshot after the last batch
            result = await asyncio.to_thread(
                cli,
                "analyst",
                "query",
                "SELECT sum(contacts) FROM kpi_hourly",
                "--format",
                "csv",
                env=env,
                check=False,
            )
            if result.stdout.replace('"', "") == expected:
                break
            await asyncio.sleep(1)
        assert result.stdout.replace('"', "") == expected, result.stderr
        table = await asyncio.to_thread(
            cli,
            "analyst",
            "query",
            "SELECT channel, count() AS n FROM analyst_contacts GROUP BY channel ORDER BY channel",
            env=env,
        )
        columns = await asyncio.to_thread(
            cli,
            "analyst",
            "query",
            "SELECT name FROM system.columns WHERE database = currentDatabase()",
            "--format",
            "csv",
            env=env,
        )
        refused = await asyncio.to_thread(
            cli, "analyst", "query", "DROP TABLE kpi_hourly", env=env, check=False
        )
        assert worker.returncode is None, "the worker kept running"
        worker.stop()
    assert "channel" in table.stdout
    assert "row(s) from" in table.stdout
    names = {line.strip('"') for line in columns.stdout.splitlines()[1:]}
    assert "contact_id" in names
    assert not names & PERSONAL_FIELDS, "a personal column in a snapshot"
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "READONLY" in refused.stderr
    analyst = tmp_path / "analyst"
    assert sorted(p.name for p in analyst.iterdir()) == ["current", "rounds"], "no temporary"
    assert sorted(p.name for p in (analyst / "current").iterdir()) == [
        "analyst_contacts",
        "kpi_backlog",
        "kpi_daily",
        "kpi_hourly",
        "kpi_service_level_60s",
        "manifest.json",
    ]


# A round costs what changed (issue 22): the engine-level rounds, on four past months of calls.
MONTHS = (3, 4, 5, 6)


@pytest.fixture
def months(chdb_settings: Settings) -> Client:
    client = open_client(chdb_settings)
    migrate(client, chdb_settings)
    rows = []
    for month in MONTHS:
        for n in range(3):
            queued = at(10, f"09:{10 * n:02d}:00", month)
            rows.append(
                event(
                    f"C{month}-{n}",
                    "phone",
                    "complete",
                    queued + timedelta(minutes=5),
                    arrived_at=queued,
                    handling_started_at=queued + timedelta(minutes=1),
                    handled_at=queued + timedelta(minutes=5),
                    subject_key=f"K{n}",
                    queue="q1",
                    reason="billing",
                    advisor_id="a1",
                )
            )
    insert(client, rows, ingested=datetime.now(UTC) - timedelta(hours=1))
    return client


def files_of(directory: Path) -> dict[str, int]:
    """The current round's Parquet files, by view/name, and their inodes."""
    current = (directory / "current").resolve()
    return {str(p.relative_to(current)): p.stat().st_ino for p in current.rglob("*.parquet")}


def on_files(client: Client, directory: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Each view's rows as the current round's files hold them, and as the view answers."""
    found = {}
    for view, source in ANALYST_VIEWS.items():
        every = "* EXCEPT oldest_age_seconds" if view == "kpi_backlog" else "*"  # the clock's
        files = f"file('{directory}/current/{view}/*.parquet', Parquet)"
        for name, sql in (("files", files), ("view", source)):
            rows = client.query(f"SELECT {every} FROM {sql}").result_rows
            found[f"{view} {name}"] = sorted(
                (tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row))
                for row in rows
            )
    return found


def same_answers(client: Client, directory: Path) -> None:
    found = on_files(client, directory)
    for view in ANALYST_VIEWS:
        assert found[f"{view} files"] == found[f"{view} view"], view


def test_a_round_writes_only_the_months_that_changed(months: Client, tmp_path: Path) -> None:
    directory = tmp_path / "analyst"
    first = write_snapshots(months, directory)
    before = files_of(directory)
    expected = {
        f"{view}/2025{month:02d}.parquet"
        for view in ("analyst_contacts", "kpi_hourly", "kpi_daily", "kpi_service_level_60s")
        for month in MONTHS
    } | {"kpi_backlog/all.parquet"}
    assert set(before) == expected
    assert len(first) == len(expected)
    same_answers(months, directory)

    assert write_snapshots(months, directory) == [], "nothing changed: nothing written"
    assert files_of(directory) == before

    # A late event of one April call: its advisor changes.
    late = event("C4-1", "phone", "updated", at(10, "09:30:00", 4), advisor_id="a2")
    insert(months, [late])
    written = write_snapshots(months, directory)
    after = files_of(directory)
    april = {
        f"{view}/202504.parquet"
        for view in ("analyst_contacts", "kpi_hourly", "kpi_daily", "kpi_service_level_60s")
    }
    current = (directory / "current").resolve()
    assert {str(p.relative_to(current)) for p in written} == april
    assert {name for name in after if after[name] != before[name]} == april, "others linked"
    assert set(after) == expected
    same_answers(months, directory)
    assert write_snapshots(months, directory) == [], "the late event was written once"


def test_a_redacted_contact_is_in_no_snapshot_file_after_the_next_round(
    months: Client, tmp_path: Path
) -> None:
    directory = tmp_path / "analyst"
    write_snapshots(months, directory)
    redaction.redact(months, [redaction.ContactKey("C4-1", "phone")], "erasure", datetime.now(UTC))
    written = write_snapshots(months, directory)
    # Its key K1 is also C3-1's, C5-1's and C6-1's, but none is within 7 days after it.
    assert {f"{p.parent.name}/{p.name}" for p in written} == {
        f"{view}/202504.parquet"
        for view in ("analyst_contacts", "kpi_hourly", "kpi_daily", "kpi_service_level_60s")
    }
    same_answers(months, directory)
    assert write_snapshots(months, directory) == []  # and the replaced round is deleted
    assert len(list((directory / "rounds").iterdir())) == 1
    held = [
        row
        for path in directory.rglob("analyst_contacts/*.parquet")
        for row in months.query(
            f"SELECT redacted, repeat_eligible FROM file('{path}', Parquet) "
            "WHERE contact_id = 'C4-1'"
        ).result_rows
    ]
    assert held == [(1, 0)], "no file holds the contact as it was before the erasure"


def test_a_reader_reads_one_whole_round(months: Client, tmp_path: Path) -> None:
    directory = tmp_path / "analyst"
    write_snapshots(months, directory)
    first = (directory / "current").resolve()
    insert(months, [event("C5-0", "phone", "updated", at(10, "09:30:00", 5), advisor_id="a9")])
    write_snapshots(months, directory)
    second = (directory / "current").resolve()
    assert first != second
    assert first.is_dir(), "the replaced round stays for its readers"
    manifest = json.loads((second / "manifest.json").read_bytes())
    listed = {f"{v}/{n}.parquet" for v, names in manifest["files"].items() for n in names}
    assert listed == set(files_of(directory)), "the manifest lists the round's files"
    assert not [p for p in directory.iterdir() if p.name.startswith(".")], "no temporary left"
