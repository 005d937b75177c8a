"""Calls whose number was not presented (caller_presentation restricted or unavailable) go
through the whole pipeline and count in the KPI views like any other call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streams.config import CHANNELS
from tests.support.harness import (
    WorkerProcess,
    query,
    raw_group,
    read_all,
    wait_caught_up,
    wait_for_topics,
    worker_env,
)
from tests.support.retention import phone_events, to_messages
from tests.support.traffic import produce


def withheld(events: list[dict[str, Any]], presentation: str) -> list[dict[str, Any]]:
    """The same call with its number not presented."""
    return [
        {**{k: v for k, v in e.items() if k != "caller_phone"}, "caller_presentation": presentation}
        for e in events
    ]


async def test_withheld_numbers_are_stored_and_counted(
    kafka_bootstrap: str, unique_name: str, tmp_path: Path
) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    minute = timedelta(minutes=1)
    events = [
        # Answered after 30 s, restricted.
        *withheld(phone_events("w1", "", hour, hour + minute / 2, hour + 5 * minute), "restricted"),
        # Abandoned after 2 minutes, number unavailable.
        *withheld(phone_events("w2", "", hour + minute, None, hour + 3 * minute), "unavailable"),
        # A presented call, for comparison.
        *phone_events(
            "w3", "+358501110001", hour + 2 * minute, hour + 3 * minute, hour + 9 * minute
        ),
    ]
    env = worker_env(kafka_bootstrap, unique_name, tmp_path)
    raw = [f"{unique_name}.raw.{ch}" for ch in CHANNELS]
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        await wait_for_topics(kafka_bootstrap, raw, worker)
        await produce(kafka_bootstrap, unique_name, to_messages(events))
        await wait_caught_up(kafka_bootstrap, raw_group(env), raw, 120, worker)
        worker.stop()
    assert await read_all(kafka_bootstrap, f"{unique_name}.dlq") == [], "none refused"
    contacts, kpi = query(
        env,
        "SELECT contact_id, phone IS NULL FROM contacts_merged ORDER BY contact_id",
        "SELECT sum(contacts), sum(offered_calls), sum(answered_calls), sum(abandoned_calls), "
        "sum(answer_wait_count), sum(answer_wait_seconds_sum), sum(repeat_eligible_contacts) "
        "FROM kpi_hourly WHERE channel = 'phone'",
    )
    assert contacts == [["w1", 1], ["w2", 1], ["w3", 0]]
    assert kpi == [[3, 3, 2, 1, 2, 90.0, 1]], "withheld calls count; only repeats leave them out"
