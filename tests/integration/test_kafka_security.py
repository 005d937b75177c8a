"""Kafka with authentication and authorization on the project's own broker (--secure): SCRAM
principals per role and the declared ACLs, deny by default. Every refusal here comes from the
real broker."""

from __future__ import annotations

import asyncio
import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from schemas.examples import raw_event
from streams.config import CHANNELS
from streams.kafka.acls import principals
from tests.support.cli import cli
from tests.support.harness import (
    WorkerProcess,
    end_offsets,
    query,
    raw_group,
    wait_caught_up,
    worker_env,
)
from tests.support.kafka_security import Login, env_of, sasl, secure
from tests.support.rejection_cases import GUIDE, guide_examples

__all__ = ["secure"]  # the fixture: the module's own secure broker


def test_each_role_gets_a_private_credential(secure: tuple[str, Login, Path]) -> None:
    _, login, path = secure
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(login) == set(principals())
    assert len({entry["password"] for entry in login.values()}) == len(login)


async def test_clients_without_valid_credentials_are_refused(
    secure: tuple[str, Login, Path],
) -> None:
    bootstrap, login, _ = secure
    wrong = {**sasl(login, "worker"), "sasl_plain_password": "not-the-password"}
    for config in ({}, wrong):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **config)
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(producer.start(), 30)
        await producer.stop()


def test_kafka_errors_name_the_local_broker_used_and_the_refused_principal(
    secure: tuple[str, Login, Path], unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As typed against `broker start --secure`, no bootstrap set: the command finds the local
    broker's port in its state file, and its errors name that address (not the default
    127.0.0.1:9092), the principal, and a refused login as such; never the password."""
    bootstrap, login, path = secure
    monkeypatch.delenv("CONTACTSTREAM_KAFKA_BOOTSTRAP", raising=False)
    wrong = "wrong-" + login["worker"]["password"][:8]
    env = env_of(bootstrap, login, "worker", unique_name)
    del env["CONTACTSTREAM_KAFKA_BOOTSTRAP"]
    env |= {
        "CONTACTSTREAM_DATA_DIR": str(path.parent.parent),
        "CONTACTSTREAM_KAFKA_PASSWORD": wrong,
    }
    found = f"using the local broker at {bootstrap} (from {path.parent / 'broker.json'}; "
    refused = cli("topics", "ensure", env=env, check=False)
    assert refused.returncode == 1
    notice, error = refused.stderr.splitlines()
    assert notice.startswith(found)
    assert error == (
        f"contactstream: error: authentication failed: Kafka at {bootstrap} refused principal "
        "User:worker (SCRAM-SHA-512); check CONTACTSTREAM_KAFKA_USERNAME and "
        "CONTACTSTREAM_KAFKA_PASSWORD"
    )
    assert wrong not in refused.stdout + refused.stderr
    mechanism = {**env, "CONTACTSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"}
    unoffered = cli("topics", "ensure", env=mechanism, check=False).stderr.splitlines()[-1]
    assert unoffered == (
        f"contactstream: error: authentication failed: Kafka at {bootstrap} does not offer "
        "SCRAM-SHA-256 (principal User:worker); check CONTACTSTREAM_KAFKA_SASL_MECHANISM"
    )
    env |= {
        "CONTACTSTREAM_KAFKA_USERNAME": "producer-sms",
        "CONTACTSTREAM_KAFKA_PASSWORD": login["producer-sms"]["password"],
    }
    not_allowed = cli("dlq", "summary", env=env, check=False)
    assert not_allowed.returncode == 1
    notice, error = not_allowed.stderr.splitlines()
    assert notice.startswith(found)
    assert error.startswith(
        f"contactstream: error: Kafka at {bootstrap} failed: TopicAuthorizationFailedError "
        "(is principal User:producer-sms allowed to do this?"
    )


def test_topics_ensure_applies_the_declared_acls_and_reports_drift(
    secure: tuple[str, Login, Path], unique_name: str
) -> None:
    bootstrap, login, _ = secure
    admin = env_of(bootstrap, login, "admin", unique_name)
    first = cli("topics", "ensure", env=admin)
    assert "acl added User:producer-sms WRITE TOPIC " + f"{unique_name}.raw.sms" in first.stdout
    again = cli("topics", "ensure", env=admin)
    assert "acls: 0 added" in again.stdout
    as_worker = cli(
        "topics", "ensure", env=env_of(bootstrap, login, "worker", unique_name), check=False
    )
    assert as_worker.returncode == 1
    assert as_worker.stderr.count("\n") == 1, as_worker.stderr
    assert f"Kafka at {bootstrap} did not apply the ACLs for principal User:worker (" in (
        as_worker.stderr
    )


async def test_a_producer_writes_only_its_own_raw_topic(
    secure: tuple[str, Login, Path], unique_name: str
) -> None:
    bootstrap, login, _ = secure
    cli("topics", "ensure", env=env_of(bootstrap, login, "admin", unique_name))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **sasl(login, "producer-sms"))
    await producer.start()
    try:
        await producer.send_and_wait(f"{unique_name}.raw.sms", b"{}")
        for topic in ("subject-requests", "raw.phone", "tombstones"):
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(f"{unique_name}.{topic}", b"{}")
    finally:
        await producer.stop()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, **sasl(login, "producer-sms"))
    await reader.start()
    try:
        tp = TopicPartition(f"{unique_name}.raw.sms", 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(reader.getone(), 30)
    finally:
        await reader.stop()


async def test_worker_and_dpo_work_end_to_end(
    secure: tuple[str, Login, Path], unique_name: str, tmp_path: Path
) -> None:
    bootstrap, login, _ = secure
    cli("topics", "ensure", env=env_of(bootstrap, login, "admin", unique_name))
    env = {
        **worker_env(bootstrap, unique_name, tmp_path),
        **env_of(bootstrap, login, "worker", unique_name),
    }
    cli("migrate", env=env)
    phone = "+358501119991"
    events = [raw_event(ch, event_id=f"{ch}-s-1", contact_id=f"{ch}-s-1") for ch in CHANNELS]
    events[0]["caller_phone"] = phone
    with WorkerProcess(env, tmp_path / "worker.log", "--no-setup") as worker:
        for channel, event in zip(CHANNELS, events, strict=True):
            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, **sasl(login, f"producer-{channel}")
            )
            await producer.start()
            try:
                await producer.send_and_wait(f"{unique_name}.raw.{channel}", orjson.dumps(event))
            finally:
                await producer.stop()
        raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
        await wait_caught_up(bootstrap, raw_group(env), raw, 120, worker, **sasl(login, "admin"))
        dpo = {**env, **env_of(bootstrap, login, "dpo", unique_name)}
        exported = await asyncio.to_thread(
            cli, "subject", "export", "--phone", phone, "--verified-by", "dpo-1", env=dpo
        )
        worker.stop()
    assert "1 contacts exported" in exported.stdout
    [[stored]] = query(env, "SELECT count() FROM contact_events")[0]
    assert stored == len(CHANNELS)
    assert "Unclosed" not in worker.log_text()


async def test_the_operator_works_the_dead_letters_and_producers_cannot_read_them(
    secure: tuple[str, Login, Path], unique_name: str, tmp_path: Path
) -> None:
    bootstrap, login, _ = secure
    cli("topics", "ensure", env=env_of(bootstrap, login, "admin", unique_name))
    env = {
        **worker_env(bootstrap, unique_name, tmp_path),
        **env_of(bootstrap, login, "worker", unique_name),
        "CONTACTSTREAM_MAX_TEXT_BYTES": "1024",
        "CONTACTSTREAM_DLQ_WATCH_SECONDS": "1",
    }
    cli("migrate", env=env)
    too_large = raw_event("sms", contact_id="sms-d-1", event_id="sms-d-1", content="x" * 2000)
    bad_phone = raw_event("sms", contact_id="sms-d-2", event_id="sms-d-2", sender_phone="12")
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log", "--no-setup") as worker:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **sasl(login, "producer-sms"))
        await producer.start()
        try:
            for event in (too_large, bad_phone):
                await producer.send_and_wait(f"{unique_name}.raw.sms", orjson.dumps(event))
        finally:
            await producer.stop()
        await wait_caught_up(bootstrap, raw_group(env), raw, 120, worker, **sasl(login, "admin"))
        await asyncio.sleep(3)  # a few rounds of the dead-letter watch, as the worker principal
        worker.stop()
    assert "dead-letter watch failed" not in worker.log_text()
    as_producer = env_of(bootstrap, login, "producer-sms", unique_name)
    refused = cli("dlq", "summary", env=as_producer, check=False)
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "TopicAuthorizationFailedError" in refused.stderr
    operator = {
        **env_of(bootstrap, login, "operator", unique_name),
        "CONTACTSTREAM_MAX_TEXT_BYTES": "4096",
    }
    summary = json.loads(cli("dlq", "summary", "--json", env=operator).stdout)
    assert summary["letters"] == 2
    redriven = json.loads(cli("dlq", "redrive", "--json", env=operator).stdout)
    assert (redriven["redriven"], redriven["still_invalid"]) == (1, {"invalid_phone": 1})
    raised = {**env, "CONTACTSTREAM_MAX_TEXT_BYTES": "4096"}
    with WorkerProcess(raised, tmp_path / "worker2.log", "--no-setup") as worker:
        await wait_caught_up(bootstrap, raw_group(env), raw, 120, worker, **sasl(login, "admin"))
        worker.stop()
    assert query(env, "SELECT contact_id FROM contact_events")[0] == [["sms-d-1"]]


def test_simulate_writes_one_channel_as_its_producer(
    secure: tuple[str, Login, Path], unique_name: str
) -> None:
    bootstrap, login, _ = secure
    cli("topics", "ensure", env=env_of(bootstrap, login, "admin", unique_name))
    as_producer = env_of(bootstrap, login, "producer-sms", unique_name)
    everyone = cli("simulate", "--count", "5", env=as_producer, check=False)
    assert everyone.returncode == 1, "all four raw topics: refused"
    assert "TopicAuthorizationFailedError" in everyone.stderr
    assert len(everyone.stderr.splitlines()) == 1, everyone.stderr
    sms = cli("simulate", "--channel", "sms", "--count", "20", env=as_producer)
    [row, _] = sms.stdout.splitlines()
    assert row.split()[:3] == ["sms", "contacts=", "20"], sms.stdout
    ends = asyncio.run(
        end_offsets(
            bootstrap, [f"{unique_name}.raw.{ch}" for ch in CHANNELS], **sasl(login, "admin")
        )
    )
    written = {tp.topic.rsplit(".", 1)[1] for tp, end in ends.items() if end > 0}
    assert written == {"sms"}


def guide_program() -> str:
    [program] = re.findall(
        r"^```python producer-example\n(.*?)^```$", GUIDE.read_text("utf-8"), re.M | re.S
    )
    return str(program)


async def test_the_guide_s_example_sends_as_its_producer(
    secure: tuple[str, Login, Path], unique_name: str, tmp_path: Path
) -> None:
    bootstrap, login, _ = secure
    await asyncio.to_thread(
        cli, "topics", "ensure", env=env_of(bootstrap, login, "admin", unique_name)
    )
    program = tmp_path / "send_events.py"
    program.write_text(guide_program())
    # The guide's SMS examples; the last example is the dead letter's original, refused.
    valid = [payload for ch, payload in guide_examples()[:-1] if ch == "sms"]
    lines = b"\n".join(valid)
    # As the guide says: check with the pipeline's rules, then send.
    checked = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streams", "schemas", "validate", "--channel", "sms", "-"],
        input=lines,
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
    env = {
        **env_of(bootstrap, login, "producer-sms", unique_name),
        "CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",  # the local broker has no TLS
    }
    sent = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(program), "sms"],
        input=lines,
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    topic = f"{unique_name}.raw.sms"
    assert sent.stdout.decode() == f"sent {len(valid)} event(s) to {topic}\n"
    records = await read_as_admin(bootstrap, login, topic, len(valid))
    received = sorted((orjson.loads(record.value) for record in records), key=_event_id)
    assert received == sorted((orjson.loads(payload) for payload in valid), key=_event_id)
    assert all(r.key == orjson.loads(r.value)["contact_id"].encode() for r in records), "key"


def _event_id(event: dict[str, Any]) -> str:
    return str(event["event_id"])


async def read_as_admin(bootstrap: str, login: Login, topic: str, count: int) -> list[Any]:
    """The first `count` records of `topic`, read as the admin principal."""
    reader = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **sasl(login, "admin")
    )
    await reader.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < count:
                got = await reader.getmany(timeout_ms=1000)
                records.extend(record for batch in got.values() for record in batch)
    finally:
        await reader.stop()
    return records
