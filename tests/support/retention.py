"""Contacts of a chosen age as raw events, and the wait for the redaction agent: shared by the
retention, forgetting, subject-request and withheld-number tests."""

from __future__ import annotations

import asyncio
from calendar import monthrange
from datetime import datetime
from typing import Any

from streams.dev.simulator.events import encode
from tests.support.harness import WorkerProcess, end_offsets, wait_caught_up


def months_ago(moment: datetime, months: int) -> datetime:
    """Calendar months back, clamping the day like ClickHouse's addMonths."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def phone_events(
    cid: str, phone: str, queued: datetime, answered: datetime | None, ended: datetime
) -> list[dict[str, Any]]:
    base = {"contact_id": cid, "channel": "phone", "schema_version": 1, "source": "acd"}
    events = [
        {
            **base,
            "event_id": f"{cid}-q",
            "event_type": "queued",
            "occurred_at": stamp(queued),
            "caller_phone": phone,
            "reason": "billing",
            "queue": "billing",
        }
    ]
    if answered:
        events.append(
            {
                **base,
                "event_id": f"{cid}-a",
                "event_type": "answered",
                "occurred_at": stamp(answered),
                "advisor_id": "adv-001",
            }
        )
    events.append(
        {
            **base,
            "event_id": f"{cid}-e",
            "event_type": "ended",
            "occurred_at": stamp(ended),
            "advisor_id": "adv-001" if answered else None,
            "recording_ref": f"rec://acd/{cid}.opus" if answered else None,
        }
    )
    return [{k: v for k, v in e.items() if v is not None} for e in events]


def message_events(
    cid: str,
    channel: str,
    who: dict[str, str],
    received: datetime,
    handled: datetime | None,
    content: str,
) -> list[dict[str, Any]]:
    base = {"contact_id": cid, "channel": channel, "schema_version": 1, "source": "mail"}
    events = [
        {
            **base,
            "event_id": f"{cid}-r",
            "event_type": "received",
            "occurred_at": stamp(received),
            "content": content,
            "reason": "delivery_problem",
            **who,
        }
    ]
    if handled:
        events.append(
            {
                **base,
                "event_id": f"{cid}-h",
                "event_type": "handled",
                "occurred_at": stamp(handled),
                "advisor_id": "adv-002",
            }
        )
    return events


def to_messages(events: list[dict[str, Any]]) -> list[tuple[str, bytes | None, bytes]]:
    return [(e["channel"], e["contact_id"].encode(), encode(e)) for e in events]


async def wait_for_redaction(
    bootstrap: str, env: dict[str, str], prefix: str, tombstones: int, worker: WorkerProcess
) -> None:
    """Until at least `tombstones` were emitted and the redaction agent consumed them all."""
    topic = f"{prefix}.tombstones"
    for _ in range(240):
        assert worker.returncode is None, worker.log_text()[-3000:]
        if sum((await end_offsets(bootstrap, [topic])).values()) >= tombstones:
            break
        await asyncio.sleep(0.5)
    await wait_caught_up(bootstrap, env["CONTACTSTREAM_APP_ID"], [topic], 120, worker)
