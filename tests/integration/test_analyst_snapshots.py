"""Analysts on the embedded default: the leader worker writes the analyst views as Parquet, and
another process queries them read-only while the worker holds the chDB directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from schemas.contact import PERSONAL_FIELDS
from streams.config import CHANNELS
from tests.conftest import cli
from tests.integration.harness import (
    WorkerProcess,
    raw_group,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.integration.traffic import build_traffic, produce


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
    files = sorted(p.name for p in (tmp_path / "analyst").iterdir())
    assert files == [
        "analyst_contacts.parquet",
        "kpi_backlog.parquet",
        "kpi_daily.parquet",
        "kpi_hourly.parquet",
        "kpi_service_level_60s.parquet",
    ], "no temporary file left behind"
