"""Data-subject requests through the CLI and the running worker (privacy rule P5)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.control import SubjectRequest
from streams.config import CHANNELS, Settings
from streams.kafka.local.broker import free_port
from streams.subjects.signing import SIGNATURE_HEADER, sign, signing_key
from tests.support.cli import CLI, REPO, cli
from tests.support.harness import (
    WorkerProcess,
    query,
    raw_group,
    read_all,
    scrape_metrics,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.retention import (
    message_events,
    phone_events,
    to_messages,
    wait_for_redaction,
)
from tests.support.subject_requests import read_results, send_requests
from tests.support.traffic import produce

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
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)

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
    events, mutations = query(
        env,
        "SELECT DISTINCT phone FROM contact_events FINAL WHERE contact_id = 'z1' "
        "AND phone IS NOT NULL",
        "SELECT command FROM system.mutations",
    )
    assert events == [[Z_NEW]]
    assert mutations, "the rectification and erasure ran as mutations"
    for value in (Z_NEW, Z_PHONE, Y_EMAIL):
        assert not [m for m in mutations if value in m[0]], "a personal value in a mutation text"
        # Outside the tables' own column data (where the corrected value belongs until redacted)
        # no file of the chDB directory may hold it: mutation_N.txt, metadata, logs, Join tables.
        leaks = [
            path
            for path in (tmp_path / "clickhouse").rglob("*")
            if path.is_file()
            and not re.search(r"\.(bin|cmrk\d?|mrk\d?|idx)$|^(primary|skp_idx)", path.name)
            and value.encode() in path.read_bytes()
        ]
        assert not leaks, f"{value[:4]}... in {leaks}"
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


def _signed(settings: Settings, request: SubjectRequest) -> tuple[bytes, list[tuple[str, bytes]]]:
    payload = request.to_json()
    return payload, [(SIGNATURE_HEADER, sign(signing_key(settings), payload))]


def _request(env: dict[str, str], kind: str = "erasure", **overrides: object) -> SubjectRequest:
    now = datetime.now(UTC)
    document = {
        "request_id": str(uuid.uuid4()),
        "kind": kind,
        "phone": X_PHONE,
        "verified_by": "dpo-1",
        "deployment": {
            "topic_prefix": env["CONTACTSTREAM_TOPIC_PREFIX"],
            "app_id": env["CONTACTSTREAM_APP_ID"],
        },
        "verified_at": now,
        "requested_at": now,
        "expires_at": now + timedelta(hours=24),
        **overrides,
    }
    return SubjectRequest.model_validate(document)


async def test_unauthorized_requests_are_refused_and_audited(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    """Anyone who can write the requests topic could send these; none may touch anyone's data."""
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    settings = Settings(data_dir=tmp_path, mode="dev")
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    unsigned = _request(env)
    forged_payload = _request(env).to_json()
    forged = (
        forged_payload,
        [(SIGNATURE_HEADER, sign(Ed25519PrivateKey.generate(), forged_payload))],
    )
    past = datetime.now(UTC) - timedelta(days=2)
    expired = _request(
        env, verified_at=past, requested_at=past, expires_at=past + timedelta(hours=1)
    )
    valid = _request(env, kind="access")
    path_like = orjson.dumps(
        {**orjson.loads(_request(env, kind="access").to_json()), "request_id": "../../escaped"}
    )
    messages = [
        (unsigned.to_json(), []),
        forged,
        _signed(settings, expired),
        _signed(settings, valid),
        (path_like, [(SIGNATURE_HEADER, sign(signing_key(settings), path_like))]),
    ]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, traffic())
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)
        await send_requests(kafka_bootstrap, unique_name, messages)
        await send_requests(kafka_bootstrap, unique_name, [messages[3]])  # the valid one, replayed
        results = await read_results(kafka_bootstrap, unique_name, 5, worker)
        worker.stop()
    by_id: dict[str, list[str]] = {}
    for result in results:
        by_id.setdefault(result.request_id, []).append(f"{result.status} {result.detail}")
    assert by_id[unsigned.request_id][0].startswith("rejected unsigned")
    forged_id = orjson.loads(forged_payload)["request_id"]
    assert by_id[forged_id][0].startswith("rejected bad_signature")
    assert by_id[expired.request_id][0].startswith("rejected expired")
    assert by_id[valid.request_id][0].startswith("done 3 contacts exported")
    assert any(line.startswith("rejected replayed") for line in by_id[valid.request_id])
    audit = query(env, "SELECT status, detail FROM subject_request_log ORDER BY completed_at")[0]
    codes = sorted(detail.split(":")[0] for status, detail in audit if status == "rejected")
    assert codes == ["bad_signature", "expired", "malformed", "replayed", "unsigned"]
    phones = query(env, "SELECT count() FROM contact_events WHERE phone = '+358501112221'")[0]
    assert phones[0][0] > 0, "nobody's data was erased"
    exports = list((tmp_path / "exports").iterdir())
    assert [p.name for p in exports] == [f"{valid.request_id}.json"]
    assert not (tmp_path.parent / "escaped.json").exists()
    dump = json.dumps(query(env, "SELECT * FROM subject_request_log")[0], default=str)
    assert X_PHONE not in dump, "a refusal is audited without the identifier"


async def test_without_a_worker_a_request_is_not_left_behind_unless_asked(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    await asyncio.to_thread(cli, "topics", "ensure", env=env)
    refused = await asyncio.to_thread(
        cli,
        "subject",
        "erase",
        "--phone",
        X_PHONE,
        "--verified-by",
        "dpo-1",
        env=env,
        check=False,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "contactstream: error: request not sent: no worker is running; start one "
        "('contactstream worker') or send it with --no-wait to have it run when one starts"
    )
    assert await read_all(kafka_bootstrap, f"{unique_name}.subject-requests") == []
    queued = await asyncio.to_thread(
        cli,
        "subject",
        "erase",
        "--phone",
        X_PHONE,
        "--verified-by",
        "dpo-1",
        "--no-wait",
        env=env,
    )
    assert queued.stdout.startswith("request ")
    assert "sent; a worker will execute it" in queued.stdout
    assert len(await read_all(kafka_bootstrap, f"{unique_name}.subject-requests")) == 1


async def test_waiting_for_an_answer_shows_progress_and_ctrl_c_says_what_happened(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    await asyncio.to_thread(cli, "topics", "ensure", env=env)
    # A member in the workers' group that never answers (a worker stuck elsewhere).
    member = AIOKafkaConsumer(
        f"{unique_name}.tombstones",
        bootstrap_servers=kafka_bootstrap,
        group_id=env["CONTACTSTREAM_APP_ID"],
    )
    await member.start()
    try:
        await member.getmany(timeout_ms=3000)  # joined
        proc = await asyncio.create_subprocess_exec(
            *CLI,
            "subject",
            "erase",
            "--phone",
            X_PHONE,
            "--verified-by",
            "dpo-1",
            cwd=REPO,
            env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Interrupt once the first plain progress line (every 10 s) is out, however slowly a
        # loaded machine gets there.
        assert proc.stderr is not None
        seen: list[bytes] = []
        while not seen or b"waiting for the worker's answer" not in seen[-1]:
            line = await asyncio.wait_for(proc.stderr.readline(), 90)
            if not line:
                break
            seen.append(line)
        proc.send_signal(signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        await member.stop()
    err = b"".join(seen).decode() + err_bytes.decode()
    assert proc.returncode == 130, err
    assert re.search(r"^waiting for the worker's answer \(s\): \d+ of 120$", err, re.M), err
    assert re.search(
        r"^interrupted after \d+ s: request [0-9a-f-]{36} was sent and a worker will still "
        r"execute it$",
        err,
        re.M,
    ), err
    assert "Traceback" not in err
