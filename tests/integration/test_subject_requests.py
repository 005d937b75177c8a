"""Data-subject requests through the CLI and the running worker (privacy rule P5)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.config import CHANNELS
from streams.localkafka.broker import free_port
from tests.conftest import cli
from tests.integration.harness import (
    WorkerProcess,
    query,
    scrape_metrics,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.integration.test_retention import (
    message_events,
    phone_events,
    to_messages,
    wait_for_redaction,
)
from tests.integration.traffic import produce

X_PHONE, Y_EMAIL, Z_PHONE, Z_NEW = (
    "+358501112221",
    "ylva@example.com",
    "+358501112223",
    "+358501112229",
)


def traffic() -> list[tuple[str, bytes | None, bytes]]:
    t = datetime.now(UTC) - timedelta(days=3)
    minute = timedelta(minutes=1)
    events = [
        *phone_events("x1", X_PHONE, t, t + minute, t + 5 * minute),
        *phone_events("x2", "050 1112221", t + 60 * minute, None, t + 62 * minute),
        *message_events("x3", "sms", {"sender_phone": X_PHONE}, t, t + minute, "x:n viesti"),
        *message_events("y1", "email", {"sender_email": Y_EMAIL}, t, t + minute, "y:n viesti"),
        *message_events("y2", "form", {"sender_email": "Ylva@EXAMPLE.com"}, t, None, "lomake"),
        *message_events("z1", "sms", {"sender_phone": Z_PHONE}, t, t + minute, "z:n viesti"),
    ]
    return to_messages(events)


async def test_export_rectify_erase_touch_only_the_subject(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env(kafka_bootstrap, unique_name, tmp_path, CONTACTSTREAM_METRICS_PORT=str(port))
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, traffic())
        await wait_caught_up(kafka_bootstrap, env["CONTACTSTREAM_APP_ID"], raw, 120, worker)

        exported = await asyncio.to_thread(
            cli,
            "subject",
            "export",
            "--email",
            " ylva@Example.com ",
            "--verified-by",
            "dpo-1",
            env=env,
        )
        path = Path(exported.stdout.strip().rsplit(": ", 1)[1])
        document = json.loads(path.read_text())
        assert {c["contact_id"] for c in document["contacts"]} == {"y1", "y2"}
        assert {e["contact_id"] for e in document["events"]} == {"y1", "y2"}
        assert X_PHONE not in path.read_text()
        assert Z_PHONE not in path.read_text()

        rectified = await asyncio.to_thread(
            cli,
            "subject",
            "rectify",
            "--phone",
            Z_PHONE,
            "--field",
            "phone",
            "--value",
            "050 1112229",
            "--verified-by",
            "dpo-1",
            env=env,
        )
        assert "phone corrected on 1 contacts" in rectified.stdout

        erased = await asyncio.to_thread(
            cli, "subject", "erase", "--phone", "050-1112221", "--verified-by", "dpo-1", env=env
        )
        assert erased.stdout.startswith("3 contacts")
        await wait_for_redaction(kafka_bootstrap, env, unique_name, 3, worker)
        metrics = await asyncio.to_thread(scrape_metrics, port)
        worker.stop()
    assert 'contactstream_redactions_applied_total{reason="erasure"} 3.0' in metrics

    rows = {
        r[0]: r[1:]
        for r in query(
            env, "SELECT contact_id, phone, email, content, redaction_reason FROM contacts_merged"
        )[0]
    }
    for cid in ("x1", "x2", "x3"):
        assert rows[cid] == [None, None, None, "erasure"]
    assert rows["y1"] == [None, Y_EMAIL, "y:n viesti", None]
    assert rows["y2"] == [None, "Ylva@example.com", "lomake", None]
    assert rows["z1"] == [Z_NEW, None, "z:n viesti", None], "only the named field changed"
    events = query(
        env,
        "SELECT DISTINCT phone FROM contact_events FINAL WHERE contact_id = 'z1' "
        "AND phone IS NOT NULL",
    )[0]
    assert events == [[Z_NEW]]
    audit, redactions = query(
        env,
        "SELECT kind, status, contacts, verified_by FROM subject_request_log ORDER BY kind",
        "SELECT contact_id, reason, request_id IS NOT NULL FROM redaction_log ORDER BY 1",
    )
    assert audit == [
        ["erasure", "done", 3, "dpo-1"],
        ["portability", "done", 2, "dpo-1"],
        ["rectification", "done", 1, "dpo-1"],
    ]
    assert redactions == [["x1", "erasure", 1], ["x2", "erasure", 1], ["x3", "erasure", 1]]
    dump = json.dumps(
        query(env, "SELECT * FROM subject_request_log", "SELECT * FROM redaction_log")
    )
    log = worker.log_text()
    for value in (X_PHONE, Y_EMAIL, Z_PHONE, Z_NEW, "x:n viesti", "y:n viesti"):
        assert value not in dump, "personal data in an audit table"
        assert value not in metrics, "personal data in the metrics output"
        assert value not in log, "personal data in the worker log"
