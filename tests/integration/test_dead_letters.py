"""The dead-letter workflow on the real broker and worker (docs/dead-letters.md): 200 letters of
three reasons counted by `dlq summary`; a limit raised through a setting makes one reason valid;
`dlq redrive` stores those once, also when killed mid-way and run again, and leaves the others;
an erased subject's letter never brings their personal data back."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
from prometheus_client import CollectorRegistry

from schemas.examples import raw_event
from streams.config import CHANNELS, Settings
from streams.deadletters.watch import DeadLetterWatch
from streams.kafka.local.broker import free_port
from streams.observability.metrics import Metrics
from tests.support.cli import CLI, REPO, cli
from tests.support.harness import (
    WorkerProcess,
    query,
    raw_group,
    read_all,
    wait_caught_up,
    wait_for_metric,
    wait_for_topics,
    worker_env,
)
from tests.support.traffic import produce

ERASED_PHONE = "+358401110000"
LARGE, BAD_PHONE, NO_SOURCE = 80, 60, 60
SMALL_LIMIT, RAISED_LIMIT = "1024", "4096"


def invalid_traffic() -> list[tuple[str, bytes | None, bytes]]:
    """80 too large for the first limit (10 of them the erased subject's), 60 with an impossible
    phone number, 60 without their source."""
    at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    messages = []
    for n in range(LARGE + BAD_PHONE + NO_SOURCE):
        contact = f"dl-{n}"
        event = raw_event(
            "sms",
            contact_id=contact,
            event_id=f"{contact}-received",
            occurred_at=at,
            sender_phone=ERASED_PHONE if n < 10 else f"+35850{n:07d}",
        )
        if n < LARGE:
            event["content"] = f"viesti {n} " + "x" * 2000
        elif n < LARGE + BAD_PHONE:
            event["sender_phone"] = "12"
        else:
            del event["source"]
        messages.append(("sms", contact.encode(), orjson.dumps(event)))
    return messages


def dlq_cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return cli("dlq", *argv, env=env)


async def test_summary_redrive_once_and_erasure_wins(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env(
        kafka_bootstrap,
        unique_name,
        tmp_path,
        CONTACTSTREAM_MAX_TEXT_BYTES=SMALL_LIMIT,
        CONTACTSTREAM_DLQ_WATCH_SECONDS="1",
        CONTACTSTREAM_METRICS_PORT=str(port),
    )
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, [*raw, f"{unique_name}.dlq-actions"], worker)
        await produce(kafka_bootstrap, unique_name, invalid_traffic())
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)
        # The subject of 10 letters asks for erasure before anyone redrives them.
        erased = await asyncio.to_thread(
            cli, "subject", "erase", "--phone", ERASED_PHONE, "--verified-by", "dpo-1", env=env
        )
        assert erased.stdout.startswith("0 contacts"), erased.stdout
        watched = await wait_for_metric(
            port, "contactstream_dlq_oldest_unhandled_age_seconds", worker
        )
        worker.stop()

    summary = json.loads(dlq_cli(env, "summary", "--json").stdout)
    assert summary["letters"] == 200
    assert summary["unhandled"] == 200
    rows = summary["by_channel_and_reason"]
    assert {(r["channel"], r["reason"], r["letters"]) for r in rows} == {
        ("sms", "too_large", LARGE),
        ("sms", "invalid_phone", BAD_PHONE),
        ("sms", "missing_field", NO_SOURCE),
    }
    assert summary["oldest_unhandled"]["expires_in_seconds"] > 6 * 86_400
    assert 0 < watched <= summary["oldest_unhandled"]["age_seconds"]
    text = dlq_cli(env, "summary").stdout
    assert "200 letters, 0 redriven, 200 unhandled" in text
    assert ERASED_PHONE not in text
    assert "viesti" not in text

    # One letter: its origin and reason; its value only when asked, and that is audited.
    oldest = summary["oldest_unhandled"]["letter"]
    shown = json.loads(dlq_cli(env, "show", oldest, "--json").stdout)
    assert shown["origin"]["topic"] == f"{unique_name}.raw.sms"
    assert shown["error_headers"]["contactstream.error.error_code"] == shown["error_code"]
    assert "value" not in shown
    assert "+3585" not in json.dumps(shown)
    with_value = json.loads(dlq_cli(env, "show", oldest, "--value", "--json").stdout)
    assert orjson.loads(with_value["value"])["contact_id"] == with_value["key"]
    missing = cli("dlq", "show", "0:999999", env=env, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"contactstream: error: no letter 0:999999 in {unique_name}.dlq (never written, or "
        "deleted by Kafka's retention)"
    )
    wrong = cli("dlq", "show", "first", env=env, check=False)
    assert wrong.returncode == 2
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert "is not PARTITION:OFFSET" in wrong.stderr

    # The limit is raised across the deployment (worker and tool alike).
    raised = {**env, "CONTACTSTREAM_MAX_TEXT_BYTES": RAISED_LIMIT}
    dry = json.loads(dlq_cli(raised, "redrive", "--dry-run", "--json").stdout)
    assert dry == {
        "chosen": 200,
        "redriven": 0,
        "would_redrive": LARGE,
        "already_redriven": 0,
        "still_invalid": {"invalid_phone": BAD_PHONE, "missing_field": NO_SOURCE},
        "dry_run": True,
    }

    # Killed after its first round of 10 was recorded, then run again to the end.
    killed = await asyncio.create_subprocess_exec(
        *CLI,
        "dlq",
        "redrive",
        "--channel",
        "sms",
        "--chunk",
        "10",
        cwd=REPO,
        env={**os.environ, **raised},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert killed.stderr is not None
    first = (await asyncio.wait_for(killed.stderr.readline(), 120)).decode()
    assert first.startswith("... 10 redriven"), first
    killed.send_signal(signal.SIGKILL)
    await asyncio.wait_for(killed.wait(), 30)
    again = dlq_cli(raised, "redrive", "--channel", "sms")
    redriven_now = int(again.stdout.split(": ")[1].split(" redriven")[0])
    assert 0 < redriven_now <= LARGE - 10
    assert f"still invalid ({'invalid_phone'} {BAD_PHONE}, missing_field {NO_SOURCE})" in (
        again.stdout
    )
    third = json.loads(dlq_cli(raised, "redrive", "--json").stdout)
    assert third["redriven"] == 0
    assert third["already_redriven"] == LARGE

    with WorkerProcess(raised, tmp_path / "worker2.log") as worker:
        await wait_caught_up(kafka_bootstrap, raw_group(raised), raw, 120, worker)
        worker.stop()
    stored, erased_rows, kept = query(
        raised,
        "SELECT count(), uniqExact(event_id) FROM contact_events FINAL",
        "SELECT count() FROM contact_events FINAL WHERE contact_id IN "
        "(SELECT concat('dl-', toString(number)) FROM numbers(10)) "
        "AND phone IS NULL AND content IS NULL AND subject_key IS NULL",
        "SELECT count() FROM contact_events FINAL WHERE phone LIKE '+35850%' "
        "AND content LIKE 'viesti %'",
    )
    assert stored == [[LARGE, LARGE]], "each redriven letter stored once"
    assert erased_rows == [[10]], "the erased subject's letters came back without their data"
    assert kept == [[LARGE - 10]]

    after = json.loads(dlq_cli(env, "summary", "--json").stdout)
    assert (after["redriven"], after["unhandled"]) == (LARGE, BAD_PHONE + NO_SOURCE)
    # The worker's watch passes over the redriven letters: the oldest unhandled one is the
    # first still-invalid letter, as the summary says.
    oldest_after = json.loads(
        dlq_cli(env, "show", after["oldest_unhandled"]["letter"], "--json").stdout
    )
    assert oldest_after["error_code"] == "invalid_phone"
    settings = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=unique_name, raw_retention_ms=604_800_000
    )
    metrics = Metrics.create(CollectorRegistry())
    watch = DeadLetterWatch(SimpleNamespace(settings=settings, metrics=metrics))  # type: ignore[arg-type]
    now = datetime.now(UTC).timestamp()
    written = datetime.fromisoformat(oldest_after["written_at"]).timestamp()
    assert await watch.look(now) == pytest.approx(now - written, abs=0.01)
    assert watch.cursors is not None
    assert sum(watch.cursors.values()) >= LARGE, "the redriven letters were passed over"
    actions = [
        orjson.loads(r.value) for r in await read_all(kafka_bootstrap, f"{unique_name}.dlq-actions")
    ]
    assert [(a["letter"], a["by"][:3]) for a in actions if a["kind"] == "value_shown"] == [
        (oldest, "os:")
    ]
    runs = [a for a in actions if a["kind"] == "redrive_run"]
    assert [(r["dry_run"], r["counts"].get("redriven", 0)) for r in runs] == [
        (True, 0),
        (False, redriven_now),
        (False, 0),
    ], "every finished run audited (the killed one never finished)"
    assert runs[1]["filters"] == {"channel": "sms"}
    assert all(r["by"].startswith("os:") for r in runs)
