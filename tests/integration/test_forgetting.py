"""Forgetting for real (issue 19), through the worker on the real broker and engine: after
retention, erasure and rectification no erased byte is left in any file of the data directory,
and a subject request reaches only the subject's own rows, whoever produced the others."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from schemas.contact import subject_key
from streams.config import CHANNELS, PLACEHOLDER_SALT
from streams.ingest.rows import PERSONAL_COLUMNS
from streams.kafka.local.broker import free_port
from tests.support.cli import cli
from tests.support.forgetting import files_holding, marker
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
VICTIM, ATTACKER, ATTACKER_NEW = "+358401110001", "+358401110002", "+358401110009"
SHARED_A, SHARED_B = "+358401110003", "+358401110004"
RECTIFIED_OLD, RECTIFIED_NEW = "+358401110005", "+358401110006"
ERASED_EMAIL = "erkki.{m}@example.com"
BIG_CONTACTS, BIG_BYTES = 300, 55_000  # ~16 MB of content: the first insert writes a Wide part
OLD_PARTS_SECONDS = 5


def _sms(cid: str, event_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "contact_id": cid,
        "channel": "sms",
        "schema_version": 1,
        "source": "sms-gw",
        "event_type": "received",
        "occurred_at": at.isoformat(timespec="milliseconds"),
        **fields,
    }


class Plan:
    """The traffic, and which markers must go and which must stay."""

    def __init__(self) -> None:
        self.gone: dict[str, str] = {}  # marker -> what it stood for
        self.kept: dict[str, str] = {}
        recent, due = NOW - timedelta(days=3), months_ago(NOW, 20)
        minute = timedelta(minutes=1)
        events: list[dict[str, Any]] = []
        for n in range(BIG_CONTACTS):  # due: retention, on Wide and Compact parts
            text = self._mark("gone", f"big {n}") + "x" * BIG_BYTES
            events += message_events(
                f"big{n}", "email", {"sender_email": f"big{n}@example.com"}, due, due + minute, text
            )
        # The victim's call, and an SMS of the attacker's with the call's contact and event id.
        call = phone_events("v-call", VICTIM, recent, recent + minute, recent + 3 * minute)
        call[-1]["recording_ref"] = f"rec://acd/{self._mark('gone', 'victim recording')}.opus"
        events += call
        events.append(
            _sms(
                "v-call",
                "v-call-q",
                recent,
                sender_phone=ATTACKER,
                content=self._mark("kept", "attacker sms"),
            )
        )
        self.email = ERASED_EMAIL.format(m=self._mark("gone", "erased email"))
        events += message_events(
            "e-mail",
            "email",
            {"sender_email": self.email},
            recent,
            None,
            self._mark("gone", "erased email text"),
        )
        events += message_events(
            "e-form",
            "form",
            {"sender_email": self.email.upper()},
            recent,
            None,
            self._mark("gone", "erased form text"),
        )
        events[-1]["fields"] = {"message": self._mark("gone", "erased form field")}
        # One SMS contact with two senders: erasing A clears A's rows only.
        events.append(
            _sms(
                "s-two",
                "s-two-1",
                recent,
                sender_phone=SHARED_A,
                content=self._mark("gone", "A's sms"),
            )
        )
        events.append(
            _sms(
                "s-two",
                "s-two-2",
                recent + minute,
                sender_phone=SHARED_B,
                content=self._mark("kept", "B's sms"),
            )
        )
        events.append(_sms("r-sms", "r-sms-1", recent, sender_phone=RECTIFIED_OLD, content="ok"))
        events.append(
            _sms(
                "k-sms",
                "k-sms-1",
                recent,
                sender_phone="+358401110007",
                content=self._mark("kept", "kept sms"),
            )
        )
        self.messages = to_messages(events)

    def _mark(self, fate: str, meaning: str) -> str:
        value = marker()
        (self.gone if fate == "gone" else self.kept)[value] = meaning
        return value


async def test_retention_erasure_and_rectification_leave_no_byte_and_touch_only_the_subject(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    plan = Plan()
    env = worker_env(
        kafka_bootstrap,
        unique_name,
        tmp_path,
        CONTACTSTREAM_METRICS_PORT=str(free_port()),
        CONTACTSTREAM_RETENTION_INTERVAL_SECONDS="2",
        CONTACTSTREAM_OLD_PARTS_SECONDS=str(OLD_PARTS_SECONDS),
    )
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    chdb_dir = tmp_path / "clickhouse"

    def subject(*args: str) -> str:
        return cli("subject", *args, "--verified-by", "dpo-1", env=env).stdout.strip()

    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, plan.messages)
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 180, worker)

        attacker_export = await asyncio.to_thread(subject, "export", "--phone", ATTACKER)
        attacker_file = Path(attacker_export.rsplit(": ", 1)[1])
        document = orjson.loads(attacker_file.read_bytes())
        erased_export = await asyncio.to_thread(subject, "export", "--email", plan.email)
        erased_file = Path(erased_export.rsplit(": ", 1)[1])
        assert erased_file.exists()

        rectified = await asyncio.to_thread(
            subject, "rectify", "--phone", ATTACKER, "--field", "phone", "--value", ATTACKER_NEW
        )
        await asyncio.to_thread(
            subject,
            "rectify",
            "--phone",
            RECTIFIED_OLD,
            "--field",
            "phone",
            "--value",
            RECTIFIED_NEW,
        )
        victim = await asyncio.to_thread(subject, "erase", "--phone", VICTIM)
        shared = await asyncio.to_thread(subject, "erase", "--phone", SHARED_A)
        erased = await asyncio.to_thread(subject, "erase", "--email", plan.email)
        await wait_for_redaction(kafka_bootstrap, env, unique_name, BIG_CONTACTS + 3, worker)
        redacted_by = time.monotonic()
        # Replaced parts go after old_parts_lifetime; poll the files while the worker runs.
        while True:
            left = {m: p for m, p in files_holding([chdb_dir], plan.gone).items() if p}
            if not left or time.monotonic() - redacted_by > OLD_PARTS_SECONDS + 60:
                break
            await asyncio.sleep(1)
        gone_after = time.monotonic() - redacted_by
        worker.stop()

    # The attacker's export holds the attacker's SMS only, nothing of the call.
    text = attacker_file.read_text()
    assert VICTIM not in text
    assert "rec://" not in text
    assert [(e["contact_id"], e["channel"]) for e in document["events"]] == [("v-call", "sms")]
    assert [(c["contact_id"], c["channel"]) for c in document["contacts"]] == [("v-call", "sms")]
    assert rectified.startswith("phone corrected on 1 contacts")
    assert victim.startswith("1 contacts: erased"), "the victim's erasure still reaches the call"
    assert shared.startswith("1 contacts: erased; 1 of them also hold another identifier"), shared
    assert erased.startswith("2 contacts: erased")
    assert not erased_file.exists(), "an erasure deletes the subject's exports"

    assert not left, {plan.gone[m]: [str(p) for p in paths] for m, paths in left.items()}
    print(f"replaced parts with erased values gone {gone_after:.1f} s after the redaction")
    everything = [tmp_path]  # chDB, the insert spool, exports, retention status
    found = files_holding(everything, [*plan.gone, *plan.kept])
    assert not [plan.gone[m] for m in plan.gone if found[m]], "an erased value is on disk"
    assert [plan.kept[m] for m in plan.kept if not found[m]] == [], "the scan sees held values"
    assert not [p for p in chdb_dir.rglob("detached/*")], "nothing left in detached/"

    hidden = " OR ".join(f"({c} IS NULL AND assumeNotNull({c}) != '')" for c in PERSONAL_COLUMNS)
    salt = PLACEHOLDER_SALT.encode()
    erased_phones = " OR ".join(
        f"assumeNotNull(phone) = '{phone}' OR assumeNotNull(subject_key) = "
        f"'{subject_key(phone, salt)}'"
        for phone in (VICTIM, RECTIFIED_OLD, SHARED_A)
    )
    contacts, sql_read, phones_left = query(
        env,
        "SELECT contact_id, channel, phone, redaction_reason FROM contacts_merged "
        "WHERE contact_id IN ('v-call', 's-two', 'r-sms') ORDER BY contact_id, channel",
        f"SELECT (SELECT count() FROM contact_events WHERE {hidden}) "
        f"+ (SELECT count() FROM contacts WHERE {hidden})",
        # Phone numbers and subject keys are checked here, not in the files: they share runs
        # with their neighbours, which LZ4 folds away (tests/support/forgetting.py).
        f"SELECT (SELECT count() FROM contact_events WHERE {erased_phones}) "
        f"+ (SELECT count() FROM contacts WHERE {erased_phones})",
    )
    assert contacts == [
        ["r-sms", "sms", RECTIFIED_NEW, None],
        ["s-two", "sms", SHARED_B, None],
        ["v-call", "phone", None, "erasure"],
        ["v-call", "sms", ATTACKER_NEW, None],
    ]
    assert sql_read == [[0]], "no function reads a cleared value back"
    assert phones_left == [[0]], "an erased or corrected phone number or its key is still held"
    deletions = await read_all(kafka_bootstrap, f"{unique_name}.recording-deletions")
    assert {json.loads(r.value)["contact_id"] for r in deletions} == {"v-call"}
