"""The analyst tests' data set: a hand-computed set of contact events, the builders of such
events, the redaction agent's effect on a contact, and a chDB database migrated and loaded with the
set (the `client` fixture). test_kpi_views.py checks every KPI on it; the analyst store, snapshot
and sandbox tests reuse it.

The data set (UTC, 2025; keys K1..K6 stand for salted subject keys, one person each):

    contact channel  arrived/queued      started    handled    key  notes
    E1      email    03-03 09:10:00      09:15:00   09:20:00   K2
    F1      form     03-03 09:59:59.999  10:10:00   10:20:00   K3
    P1      phone    03-10 09:00:00      09:00:30   09:05:30   K1   events out of order, one twice
    P2      phone    03-10 09:10:00      09:11:30   09:21:30   K2   complete record; E1 7 d before
    S1      sms      03-10 09:15:00      09:45:00   09:50:00   K1
    P3      phone    03-10 09:20:00      -          09:22:00   K1   abandoned: ended unanswered
    R1      sms      03-10 09:30:00      -          -          K1   redacted: no key, no backlog
    P4      phone    03-10 10:00:00      -          -          K3   abandoned: last seen > 1 h ago;
                                                                    F1 is 7 d + 1 ms before
    P5      phone    03-10 10:30:00      10:30:45   10:38:45   K2
    S2      sms      03-11 08:00:00      -          -          K4   open, not started
    E2      email    03-11 09:00:00      09:30:00   -          K5   open, in handling
    P6      phone    now - 60 s          -          -          K6   still in the queue
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from schemas.contact import PERSONAL_FIELDS
from streams.config import Settings
from streams.ingest.rows import EVENT_COLUMNS
from streams.privacy.sql import CLEARED
from streams.storage import migrate, open_client
from tests.support.cli import REPO

PERSONAL_DEFAULTS = {
    "phone": "+358501234567",
    "email": "someone@example.com",
    "subject": "A subject",
    "content": "Some text",
    "form_fields": '{"a":"b"}',
    "recording_ref": "rec://1",
}


def at(day: int, clock: str, month: int = 3) -> datetime:
    hours, minutes, seconds = clock.split(":")
    whole, _, millis = seconds.partition(".")
    return datetime(
        2025, month, day, int(hours), int(minutes), int(whole), int(millis or 0) * 1000, tzinfo=UTC
    )


def event(
    contact: str, channel: str, event_type: str, occurred: datetime, **fields: Any
) -> dict[str, Any]:
    """One contact_events row; personal columns get a placeholder value unless given."""
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    personal = {"phone": "phone", "sms": "phone", "email": "email", "form": "email"}[channel]
    row.update(
        {
            "event_id": f"{contact}-{event_type}",
            "contact_id": contact,
            "channel": channel,
            "event_type": event_type,
            "occurred_at": occurred,
            "schema_version": 1,
            "source": "test",
            personal: PERSONAL_DEFAULTS[personal],
            "kafka_topic": f"contacts.raw.{channel}",
            "kafka_partition": 0,
            "kafka_offset": 0,
        }
    )
    row.update(fields)
    return row


def dataset(now: datetime) -> list[dict[str, Any]]:
    billing_q1 = {"queue": "q1", "reason": "billing"}
    tech_q2 = {"queue": "q2", "reason": "tech"}
    msg = {"queue": "q-msg"}
    p1_queued = event(
        "P1",
        "phone",
        "queued",
        at(10, "09:00:00"),
        arrived_at=at(10, "09:00:00"),
        subject_key="K1",
        **billing_q1,
    )
    return [
        event(
            "E1",
            "email",
            "complete",
            at(3, "09:20:00"),
            arrived_at=at(3, "09:10:00"),
            handling_started_at=at(3, "09:15:00"),
            handled_at=at(3, "09:20:00"),
            advisor_id="a3",
            reason="billing",
            subject_key="K2",
            content="Hello",
            **msg,
        ),
        event(
            "F1",
            "form",
            "received",
            at(3, "09:59:59.999"),
            arrived_at=at(3, "09:59:59.999"),
            subject_key="K3",
            reason="tech",
            **msg,
        ),
        event(
            "F1",
            "form",
            "handling_started",
            at(3, "10:10:00"),
            handling_started_at=at(3, "10:10:00"),
            advisor_id="a3",
        ),
        event("F1", "form", "handled", at(3, "10:20:00"), handled_at=at(3, "10:20:00")),
        # P1 arrives out of order, its queued event twice.
        event(
            "P1",
            "phone",
            "ended",
            at(10, "09:05:30"),
            handled_at=at(10, "09:05:30"),
            advisor_id="a1",
            recording_ref="rec://p1",
            **billing_q1,
        ),
        p1_queued,
        event(
            "P1",
            "phone",
            "answered",
            at(10, "09:00:30"),
            handling_started_at=at(10, "09:00:30"),
            advisor_id="a1",
            **billing_q1,
        ),
        p1_queued,
        event(
            "P2",
            "phone",
            "complete",
            at(10, "09:21:30"),
            arrived_at=at(10, "09:10:00"),
            handling_started_at=at(10, "09:11:30"),
            handled_at=at(10, "09:21:30"),
            advisor_id="a1",
            subject_key="K2",
            **billing_q1,
        ),
        event(
            "S1",
            "sms",
            "received",
            at(10, "09:15:00"),
            arrived_at=at(10, "09:15:00"),
            subject_key="K1",
            reason="billing",
            content="Hi",
            **msg,
        ),
        event(
            "S1",
            "sms",
            "handling_started",
            at(10, "09:45:00"),
            handling_started_at=at(10, "09:45:00"),
            advisor_id="a1",
        ),
        event("S1", "sms", "handled", at(10, "09:50:00"), handled_at=at(10, "09:50:00")),
        event(
            "P3",
            "phone",
            "queued",
            at(10, "09:20:00"),
            arrived_at=at(10, "09:20:00"),
            subject_key="K1",
            **billing_q1,
        ),
        event("P3", "phone", "ended", at(10, "09:22:00"), handled_at=at(10, "09:22:00")),
        event(
            "R1",
            "sms",
            "received",
            at(10, "09:30:00"),
            arrived_at=at(10, "09:30:00"),
            subject_key="K1",
            reason="billing",
            content="Call me",
            **msg,
        ),
        event(
            "P4",
            "phone",
            "queued",
            at(10, "10:00:00"),
            arrived_at=at(10, "10:00:00"),
            subject_key="K3",
            **tech_q2,
        ),
        event(
            "P5",
            "phone",
            "complete",
            at(10, "10:38:45"),
            arrived_at=at(10, "10:30:00"),
            handling_started_at=at(10, "10:30:45"),
            handled_at=at(10, "10:38:45"),
            advisor_id="a2",
            subject_key="K2",
            **tech_q2,
        ),
        event(
            "S2",
            "sms",
            "received",
            at(11, "08:00:00"),
            arrived_at=at(11, "08:00:00"),
            subject_key="K4",
            reason="tech",
            **msg,
        ),
        event(
            "E2",
            "email",
            "received",
            at(11, "09:00:00"),
            arrived_at=at(11, "09:00:00"),
            subject_key="K5",
            reason="billing",
            **msg,
        ),
        event(
            "E2",
            "email",
            "handling_started",
            at(11, "09:30:00"),
            handling_started_at=at(11, "09:30:00"),
            advisor_id="a3",
        ),
        event(
            "P6",
            "phone",
            "queued",
            now - timedelta(seconds=60),
            arrived_at=now - timedelta(seconds=60),
            subject_key="K6",
            **billing_q1,
        ),
    ]


def redact(client: Client, contact_id: str) -> None:
    """What the redaction agent does to a contact (privacy rule P3), in both tables."""
    personal = ", ".join(f"{name} = {CLEARED}" for name in sorted(PERSONAL_FIELDS))
    for table in ("contact_events", "contacts"):
        extra = (
            ", redacted_at = now64(3), redaction_reason = 'retention'"
            if table == "contacts"
            else ""
        )
        client.command(
            f"ALTER TABLE {table} UPDATE {personal}{extra} WHERE contact_id = {{id:String}}",
            parameters={"id": contact_id},
            settings={"mutations_sync": 2},
        )


@pytest.fixture
def client(chdb_settings: Settings) -> Client:
    client = open_client(chdb_settings)
    migrate(client, chdb_settings)
    rows = dataset(datetime.now(UTC))
    client.insert(
        "contact_events",
        [[row[c] for c in EVENT_COLUMNS] for row in rows],
        column_names=list(EVENT_COLUMNS),
    )
    redact(client, "R1")
    return client


def insert(client: Client, rows: list[dict[str, Any]], ingested: datetime | None = None) -> None:
    columns = list(EVENT_COLUMNS) + (["ingested_at"] if ingested else [])
    data = [[row[c] for c in EVENT_COLUMNS] + ([ingested] if ingested else []) for row in rows]
    client.insert("contact_events", data, column_names=columns)


ANALYSTS_DOC = REPO / "docs" / "analysts.md"


def documented_service_level_sql() -> str:
    """docs/analysts.md's query for the service level at another threshold (its 20 s example)."""
    blocks = re.findall(r"```sql\n(.*?)```", ANALYSTS_DOC.read_text(), re.DOTALL)
    [sql] = [block for block in blocks if "analyst_contacts" in block and "wait_seconds" in block]
    assert sql.count("wait_seconds <= 20") == 1, "the example's threshold is 20 s"
    return sql.strip()
