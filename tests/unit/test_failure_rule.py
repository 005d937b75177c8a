"""The failure rule's pure parts: which failures are an event's, batch shapes that avoid
ClickHouse's limits, broker-side lag and progress, and throttled logging."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import TopicPartition
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from schemas import parse_event
from schemas.contact import ContactEvent
from schemas.examples import raw_payload
from schemas.validate import too_far_ahead
from streams.errors import StorageError, StorageRejected, StorageUnavailable
from streams.ingest.service import MAX_MONTHS_PER_INSERT, byte_chunks
from streams.ingest.sink import partition_blocks
from streams.kafka.lag import ProgressClock, lag_by_partition
from streams.kafka.records import RawRecord
from streams.observability.logs import RepeatFilter, Throttle
from streams.storage.client import classify
from streams.storage.failures import EVENT_CODES, OPERATION_CODES, failure_kind

OPERATING = Path(__file__).resolve().parents[2] / "docs" / "operating.md"


def engine_error(code: int, name: str, detail: str = "") -> DatabaseError:
    """What clickhouse-connect raises for a chDB engine error (text as the engine writes it)."""
    error = DatabaseError(f"Code: {code}. DB::Exception: {detail}. ({name})")
    error.code, error.name = code, name  # type: ignore[attr-defined]
    return error


def test_only_refused_values_are_an_events_fault() -> None:
    assert failure_kind(469) == "event"
    assert failure_kind(243) == failure_kind(1001) == failure_kind(252) == "system"
    assert failure_kind(None) == failure_kind(999_999) == "system"
    assert failure_kind(62) == "operation"
    assert isinstance(classify(engine_error(469, "VIOLATED_CONSTRAINT")), StorageRejected)
    full = classify(engine_error(243, "NOT_ENOUGH_SPACE", "Cannot reserve 12.77 MiB"))
    assert isinstance(full, StorageUnavailable)
    assert full.code == 243
    assert isinstance(
        classify(engine_error(1001, "STD_EXCEPTION", "Permission denied")), StorageUnavailable
    )
    assert isinstance(classify(OperationalError("connection refused")), StorageUnavailable)
    syntax = classify(engine_error(62, "SYNTAX_ERROR"))
    assert type(syntax) is StorageError


def test_a_classified_error_never_carries_the_engines_text() -> None:
    # A constraint error lists the row's values, and a value may look like an error name.
    error = engine_error(469, "VIOLATED_CONSTRAINT", "Column values: s = 'a (JOHN_DOE_SSN) b'")
    error.name = "JOHN_DOE_SSN"  # type: ignore[attr-defined]  # a driver reading the first (NAME)
    text = str(classify(error))
    assert text == "ClickHouse error 469 VIOLATED_CONSTRAINT: ClickHouse refused the values"
    untyped = classify(Exception("Code: 243. x = '+358501234567'. (NOT_ENOUGH_SPACE)"))
    assert "358" not in str(untyped)
    assert "NOT_ENOUGH_SPACE" in str(untyped)


def test_the_operators_table_lists_every_classified_code() -> None:
    section = OPERATING.read_text().split("## Failure rule", 1)[1].split("\n## ", 1)[0]
    rows = {
        line.split("|")[3].strip(): line
        for line in section.splitlines()
        if line.startswith("| ClickHouse |")
    }
    listed = {
        kind: {int(c) for c in re.findall(r"\b(\d+) [A-Z_]+", line)} for kind, line in rows.items()
    }
    assert listed["event"] == set(EVENT_CODES)
    assert listed["system (a wrong deployment)"] == set(OPERATION_CODES)
    assert not listed["system"] & (set(EVENT_CODES) | set(OPERATION_CODES))


def test_blocks_never_span_more_partitions_than_allowed() -> None:
    months = [(2015 + i // 12) * 100 + i % 12 + 1 for i in range(108)]  # nine years
    rows = [[m, n] for n, m in enumerate(months * 3)]
    keys = [row[0] for row in rows]
    blocks = partition_blocks(keys, len(rows), MAX_MONTHS_PER_INSERT)
    assert sorted(i for block in blocks for i in block) == list(range(len(rows)))
    assert all(len({rows[i][0] for i in block}) <= MAX_MONTHS_PER_INSERT for block in blocks)
    assert all(block == sorted(block) for block in blocks)
    assert blocks == partition_blocks(list(keys), len(rows), MAX_MONTHS_PER_INSERT)
    assert partition_blocks(keys[:40], 40, 50) == [list(range(40))]
    assert partition_blocks(None, 3, 1) == [[0, 1, 2]]


def test_byte_chunks_bound_a_batch_in_bytes() -> None:
    records = [
        RawRecord("t", 0, i, None, None, b"x" * size)
        for i, size in enumerate([400, 400, 400, 5000, 10, 10])
    ]
    chunks = byte_chunks(records, 1000)
    assert [[r.offset for r in chunk] for chunk in chunks] == [[0, 1], [2], [3], [4, 5]]


def test_events_dated_too_far_ahead_are_refused() -> None:
    event = parse_event("sms", raw_payload("sms"))
    assert isinstance(event, ContactEvent)
    assert too_far_ahead(event, event.occurred_at) is None
    refused = too_far_ahead(event, event.occurred_at - timedelta(seconds=1))
    assert refused is not None
    assert refused.code == "future_timestamp"
    assert refused.contact_id == event.contact_id


@pytest.mark.parametrize(
    "field", ["occurred_at", "arrived_at", "handling_started_at", "handled_at"]
)
def test_any_one_time_too_far_ahead_refuses_the_event(field: str) -> None:
    event = parse_event("sms", raw_payload("sms"))
    assert isinstance(event, ContactEvent)
    limit = event.occurred_at + timedelta(hours=1)
    at_limit = event.model_copy(update={"arrived_at": limit, "handled_at": None})
    assert too_far_ahead(at_limit, limit) is None
    late = event.model_copy(update={field: limit + timedelta(milliseconds=1)})
    refused = too_far_ahead(late, limit)
    assert refused is not None
    assert refused.code == "future_timestamp"


def test_lag_and_progress_come_from_committed_offsets() -> None:
    a, b = TopicPartition("raw.sms", 0), TopicPartition("raw.sms", 1)
    assert lag_by_partition({a: 100, b: 10}, {a: 40}) == {a: 60, b: 10}
    now = [1000.0]
    clock = ProgressClock(lambda: now[0])
    now[0] += 5
    clock.observe({a: 40}, {a: 60, b: 10})  # first seen behind: not moved since the start
    assert clock.ages({a: 60, b: 10}) == {a: 5.0, b: 5.0}
    now[0] += 120
    clock.observe({a: 40}, {a: 70, b: 0})  # a stuck, b caught up
    assert clock.ages({a: 70, b: 0}) == {a: 125.0, b: 0.0}
    now[0] += 30
    clock.observe({a: 90}, {a: 5, b: 0})  # a moved
    assert clock.ages({a: 5, b: 0}) == {a: 0.0, b: 0.0}


def test_repeated_lines_are_throttled_with_a_count() -> None:
    now = [0.0]
    throttle = Throttle(30.0, lambda: now[0])
    assert throttle.allow("k") == 0
    assert throttle.allow("k") is None
    assert throttle.allow("other") == 0
    now[0] = 31.0
    assert throttle.allow("k") == 1
    repeats = RepeatFilter(30.0)
    shown = [
        repeats.filter(logging.LogRecord("aiokafka", logging.ERROR, "", 0, msg, (), None))
        for msg in (f"Unable connect to node with id {n}" for n in range(100))
    ]
    assert shown.count(True) == 1
    start = logging.LogRecord(
        "aiokafka.consumer.group_coordinator",
        logging.ERROR,
        "",
        0,
        "Group Coordinator Request failed: [Error 15] CoordinatorNotAvailableError",
        (),
        None,
    )
    assert repeats.filter(start)
    assert start.levelno == logging.INFO


def test_a_spool_file_that_cannot_be_written_makes_the_batch_wait() -> None:
    """The chDB backend writes each insert to a spool file first: the kernel's own ENOSPC
    (/dev/full) is a system state, classified so the batch waits, not rerouted."""
    try:
        with Path("/dev/full").open("wb") as full:
            full.write(b"rows")
            full.flush()
    except OSError as exc:
        failure = classify(exc)
    assert isinstance(failure, StorageUnavailable)
    assert str(failure) == "the insert spool cannot be written (ENOSPC)"
