"""Retention and data-subject rights against the real broker and ClickHouse engine (P2-P7)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.control import RecordingDeletion, Tombstone
from streams.config import CHANNELS
from tests.support.cli import cli
from tests.support.harness import (
    WorkerProcess,
    query,
    raw_group,
    read_all,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.retention import (
    message_events,
    months_ago,
    phone_events,
    to_messages,
    wait_for_redaction,
)
from tests.support.traffic import produce

NOW = datetime.now(UTC)


def all_values(env: dict[str, str]) -> str:
    """Every value of every column of every table and view of the database, as one text."""
    columns = query(
        env,
        "SELECT table, name, type FROM system.columns "
        "WHERE database = currentDatabase() ORDER BY table, position",
    )[0]
    selects: dict[str, list[str]] = {}
    for table, name, kind in columns:
        value = (
            f"finalizeAggregation(`{name}`)"
            if kind.startswith("AggregateFunction")
            else f"`{name}`"
        )
        selects.setdefault(table, []).append(f"toString({value})")
    dumps = query(
        env, *[f"SELECT {', '.join(cols)} FROM `{table}`" for table, cols in selects.items()]
    )
    return json.dumps(dumps, default=str)


async def test_retention_redacts_due_contacts_everywhere_and_only_them(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    due_handled = months_ago(NOW, 18) - timedelta(days=1)
    kept_handled = months_ago(NOW, 18) + timedelta(days=1)
    planted = {
        "+358501110001",
        "kaukana@example.com",
        "vanha viesti 1",
        "tuore viesti 2",
        "+358501110003",
        "rec://acd/old-call.opus",
    }
    events = [
        *phone_events(
            "old-call",
            "+358501110001",
            due_handled - timedelta(minutes=10),
            due_handled - timedelta(minutes=5),
            due_handled,
        ),
        *message_events(
            "old-unanswered",
            "email",
            {"sender_email": "kaukana@example.com"},
            due_handled - timedelta(hours=1),
            None,
            "vanha viesti 1",
        ),
        *message_events(
            "recent-sms",
            "sms",
            {"sender_phone": "+358501110003"},
            kept_handled - timedelta(hours=1),
            kept_handled,
            "tuore viesti 2",
        ),
        # handled recently although it arrived long ago: the clock starts at handling (P2)
        *message_events(
            "late-handled",
            "email",
            {"sender_email": "myohassa@example.org"},
            due_handled - timedelta(days=40),
            kept_handled,
            "odotti kauan",
        ),
    ]
    env = worker_env(
        kafka_bootstrap, unique_name, tmp_path, CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="2"
    )
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, to_messages(events))
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)
        await wait_for_redaction(kafka_bootstrap, env, unique_name, 2, worker)
        worker.stop()
    first_log = worker.log_text()

    merged = {
        r[0]: r[1:]
        for r in query(
            env,
            "SELECT contact_id, phone, email, content, "
            "recording_ref, redaction_reason, redacted_at IS NOT NULL "
            "FROM contacts_merged",
        )[0]
    }
    assert merged["old-call"] == [None, None, None, None, "retention", 1]
    assert merged["old-unanswered"] == [None, None, None, None, "retention", 1]
    assert merged["recent-sms"][:3] == ["+358501110003", None, "tuore viesti 2"]
    assert merged["late-handled"][1:3] == ["myohassa@example.org", "odotti kauan"]
    everything = all_values(env)
    for value in (
        "+358501110001",
        "kaukana@example.com",
        "vanha viesti 1",
        "rec://acd/old-call.opus",
    ):
        assert value not in everything, "a redacted value is still stored somewhere"
    assert "tuore viesti 2" in everything
    audit = query(env, "SELECT contact_id, reason FROM redaction_log ORDER BY contact_id")[0]
    assert audit == [["old-call", "retention"], ["old-unanswered", "retention"]]
    deletions = [
        RecordingDeletion.from_json(r.value)
        for r in await read_all(kafka_bootstrap, f"{unique_name}.recording-deletions")
    ]
    assert [(d.contact_id, d.recording_ref) for d in deletions] == [
        ("old-call", "rec://acd/old-call.opus")
    ]

    # Re-running retention and re-delivering tombstones changes nothing (idempotent).
    before = query(env, "SELECT contact_id, redacted_at FROM contacts_merged ORDER BY 1")[0]
    await _send_tombstones(kafka_bootstrap, unique_name, ["old-call", "old-unanswered"])
    with WorkerProcess(env, tmp_path / "worker2.log") as again:
        await wait_for_redaction(kafka_bootstrap, env, unique_name, 4, again)
        await asyncio.sleep(3)  # at least one more retention tick
        again.stop()
    assert query(env, "SELECT contact_id, redacted_at FROM contacts_merged ORDER BY 1")[0] == before
    assert query(env, "SELECT count() FROM redaction_log")[0] == [[2]]
    runs = query(env, "SELECT count() FROM retention_runs")[0][0][0]
    assert runs >= 2, "the timer ran on the leader"
    for text in (first_log, again.log_text()):
        assert not [v for v in planted if v in text], "personal data in the worker log"

    status = cli("retention", "status", env=env)
    assert "past due with personal data: 0" in status.stdout
    assert "retention 2" in status.stdout
    assert f"database:                    {unique_name} (topic prefix {unique_name})" in (
        status.stdout.splitlines()
    )
    assert "(counted in ClickHouse at " in status.stdout
    figures = json.loads(cli("retention", "status", "--json", env=env).stdout)
    assert figures["database"] == unique_name
    assert figures["source"] == "clickhouse"
    assert (figures["overdue"], figures["redacted"], figures["stale"]) == (
        0,
        {"retention": 2},
        False,
    )
    dry = cli("retention", "run", "--dry-run", env=env)
    assert "0 contacts would be redacted now" in dry.stdout


async def _send_tombstones(bootstrap: str, prefix: str, ids: list[str]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for cid in ids:
            tomb = Tombstone(contact_id=cid, reason="retention", issued_at=datetime.now(UTC))
            await producer.send_and_wait(f"{prefix}.tombstones", tomb.to_json(), key=cid.encode())
    finally:
        await producer.stop()


async def test_retention_commands_work_while_the_embedded_worker_runs(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    due_handled = months_ago(NOW, 18) - timedelta(days=2)
    events = [
        *phone_events(
            "due-call",
            "+358501110091",
            due_handled - timedelta(minutes=9),
            due_handled - timedelta(minutes=4),
            due_handled,
        ),
        *phone_events(
            "new-call",
            "+358501110092",
            NOW - timedelta(hours=2),
            NOW - timedelta(hours=2) + timedelta(minutes=1),
            NOW - timedelta(hours=1),
        ),
    ]
    env = worker_env(
        kafka_bootstrap, unique_name, tmp_path, CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="2"
    )
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, to_messages(events))
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)
        for _ in range(90):  # until the leader's first retention runs have redacted it
            status = await asyncio.to_thread(cli, "retention", "status", env=env, check=False)
            if "redacted so far:             retention 1" in status.stdout:
                break
            await asyncio.sleep(1)
        dry = await asyncio.to_thread(cli, "retention", "run", "--dry-run", env=env)
        as_json = await asyncio.to_thread(cli, "retention", "status", "--json", env=env)
        # Another deployment sharing the data directory (as `make demo` does) is never shown
        # this worker's figures, nor this one the other's.
        other = {**env, "CONTACTSTREAM_CLICKHOUSE_DATABASE": "other_db"}
        foreign = await asyncio.to_thread(cli, "retention", "status", env=other, check=False)
        assert worker.returncode is None
        worker.stop()
    lines = status.stdout.splitlines()
    assert status.returncode == 0, status.stderr
    assert f"database:                    {unique_name} (topic prefix {unique_name})" in lines
    assert "past due with personal data: 0" in lines
    assert "redacted so far:             retention 1" in lines, status.stdout
    assert "from the running worker's retention run at" in status.stdout
    assert "counted in ClickHouse" in status.stdout
    status_file = tmp_path / "retention" / f"{unique_name}.{unique_name}.json"
    assert dry.stdout.strip().endswith(f"counted in ClickHouse ({status_file}))")
    assert f"database {unique_name}: 0 contacts would be redacted now (dry run" in dry.stdout
    figures = json.loads(as_json.stdout)
    assert figures["database"] == figures["topic_prefix"] == unique_name
    assert figures["source"] == "worker_status"
    assert figures["status_file"] == str(status_file)
    assert (figures["overdue"], figures["stale"], figures["retention_months"]) == (0, False, 18)
    assert foreign.returncode == 1
    assert foreign.stdout == ""
    [line] = foreign.stderr.strip().splitlines()
    assert "no retention status of database other_db" in line, line
    assert "Traceback" not in foreign.stderr


async def test_retention_status_exit_codes_and_another_retention_period(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    """Exit 2 while contacts are past due longer than the redaction schedule allows; a worker's
    status counted with another retention period is refused, not shown."""
    due_handled = months_ago(NOW, 18) - timedelta(days=3)
    events = phone_events(
        "overdue-call",
        "+358501110095",
        due_handled - timedelta(minutes=9),
        due_handled - timedelta(minutes=4),
        due_handled,
    )
    # The worker keeps 120 months, so it redacts nothing; the DPO asks about 18.
    env = worker_env(
        kafka_bootstrap,
        unique_name,
        tmp_path,
        CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="2",
        CONTACTSTREAM_RETENTION_MONTHS="120",
    )
    eighteen = {**env, "CONTACTSTREAM_RETENTION_MONTHS": "18"}
    status_file = tmp_path / "retention" / f"{unique_name}.{unique_name}.json"
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, to_messages(events))
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)
        for _ in range(60):
            if status_file.exists():
                break
            await asyncio.sleep(0.5)
        refused = await asyncio.to_thread(cli, "retention", "status", env=eighteen, check=False)
        held = await asyncio.to_thread(cli, "retention", "status", "--json", env=env, check=False)
        assert worker.returncode is None
        worker.stop()
    assert refused.returncode == 1
    assert refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    for part in ("120 months", "18 months", "refusing"):
        assert part in line, line
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout)["retention_months"] == 120

    overdue = cli("retention", "status", "--json", env=eighteen, check=False)
    assert overdue.returncode == 2, overdue.stderr
    figures = json.loads(overdue.stdout)
    assert (figures["database"], figures["source"]) == (unique_name, "clickhouse")
    assert (figures["overdue"], figures["retention_months"], figures["stale"]) == (1, 18, False)
    # Three days past due when the module was imported (NOW), counted in ClickHouse: far beyond
    # the hourly batch. The suite may have run for many minutes since NOW.
    since_now = (datetime.now(UTC) - NOW).total_seconds()
    overdue_at_now = figures["oldest_overdue_seconds"] - since_now
    assert 3 * 86_400 - 600 < overdue_at_now < 3 * 86_400 + 600, figures
    assert (figures["late"], figures["late_after_seconds"]) == (True, 3600 + 300)
    text = cli("retention", "status", env=eighteen, check=False)
    assert text.returncode == 2
    assert (
        "past due with personal data: 1 (LATE: the oldest 3 days past due, over the schedule's "
        "65 min)" in text.stdout.splitlines()
    ), text.stdout
    dry = cli("retention", "run", "--dry-run", env=eighteen)
    assert dry.stdout.splitlines()[0].startswith("overdue-call\tphone\tdue ")
    assert f"database {unique_name}: 1 contacts would be redacted now" in dry.stdout
    assert cli("retention", "status", env=env).returncode == 0
