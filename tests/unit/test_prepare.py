"""Batch preparation (streams.prepare) and where it runs (streams.parsepool): a real spawned
parse process, killed for real, gives the same rows as the inline path."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from schemas.contact import ContactEvent
from schemas.examples import raw_payload
from schemas.limits import DEFAULT_LIMITS
from schemas.normalize import normalize_phone
from schemas.validate import parse_event
from streams.parsepool import ParsePool
from streams.prepare import Item, Task, encode_row, prepare, strip_line
from streams.rows import EVENT_COLUMNS, PERSONAL_COLUMNS, Origin, event_row

REPO = Path(__file__).resolve().parents[2]
CHANNELS = {"raw.phone": "phone", "raw.sms": "sms", "raw.email": "email", "raw.form": "form"}
NOW = datetime.now(UTC)


def _items(count: int) -> list[Item]:
    """Every channel, in turns; every seventh one invalid, every eleventh dated next year."""
    items = []
    for n in range(count):
        topic = list(CHANNELS)[n % 4]
        channel = CHANNELS[topic]
        if n % 7 == 3:
            value = b'{"event_id": "broken'
        elif n % 11 == 5:
            value = raw_payload(channel, contact_id=f"c{n}", occurred_at="2099-01-01T00:00:00Z")
        else:
            value = raw_payload(channel, event_id=f"e{n}", contact_id=f"c{n}")
        items.append(Item(topic, n % 3, 1000 + n, value))
    return items


def _task(items: list[Item], base: int = 0) -> Task:
    return Task(CHANNELS, items, base, NOW + timedelta(days=1), b"salt", DEFAULT_LIMITS, 60.0)


def test_prepare_accounts_for_every_item_and_encodes_the_rows_parse_event_gives() -> None:
    items = _items(200)
    rows = prepare(_task(items, base=5))
    assert sorted([a.at for a in rows.accepted] + [r.at for r in rows.refused]) == list(
        range(5, 205)
    )
    codes = {r.code for r in rows.refused}
    assert codes == {"invalid_json", "future_timestamp"}, codes
    assert len(rows.lines) == len(rows.accepted)
    for line, accepted in zip(rows.lines, rows.accepted, strict=True):
        item = items[accepted.at - 5]
        event = parse_event(CHANNELS[item.topic], item.value)
        assert isinstance(event, ContactEvent)
        origin = Origin(item.topic, item.partition, item.offset)
        assert line == encode_row(event_row(event, origin, b"salt"))
        assert accepted.contact_id == event.contact_id
        assert accepted.month == event.occurred_at.year * 100 + event.occurred_at.month
        assert accepted.occurred_at == event.occurred_at.timestamp()


def test_a_stripped_line_keeps_everything_but_the_personal_columns() -> None:
    line = prepare(_task(_items(1))).lines[0]
    before = dict(zip(EVENT_COLUMNS, orjson.loads(line), strict=True))
    after = dict(zip(EVENT_COLUMNS, orjson.loads(strip_line(line)), strict=True))
    assert before["phone"] is not None
    assert all(after[c] is None for c in PERSONAL_COLUMNS)
    assert {c: v for c, v in after.items() if c not in PERSONAL_COLUMNS} == {
        c: v for c, v in before.items() if c not in PERSONAL_COLUMNS
    }


def test_prepare_empties_the_normalization_caches_on_its_interval() -> None:
    normalize_phone("+358501234567")
    assert normalize_phone.cache_info().currsize > 0
    prepare(_task([]))  # the interval (60 s) has not passed since the last emptying
    prepare(_task([])._replace(forget_after=0.0))
    assert normalize_phone.cache_info().currsize == 0


async def test_a_parse_process_gives_the_inline_rows_and_a_killed_one_is_replaced() -> None:
    items = _items(3000)
    inline = await ParsePool(0).prepare(_task(items))
    pool = ParsePool(1)
    pool.start()
    try:
        assert await pool.prepare(_task(items)) == inline
        assert pool._executor is not None
        (child,) = pool._executor._processes
        os.kill(child, signal.SIGKILL)
        await asyncio.sleep(0.5)
        assert await pool.prepare(_task(items)) == inline  # a new process, the same rows
        assert pool._executor is not None
        assert list(pool._executor._processes) != [child]
    finally:
        pool.stop()


def test_a_parse_process_exits_when_its_worker_is_killed(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from streams.parsepool import ParsePool\n"
        "pool = ParsePool(1)\n"
        "pool.start()\n"
        "pool._executor.submit(int).result()\n"
        "print(*pool._executor._processes, flush=True)\n"
        "sys.stdin.read()\n"
    )
    worker = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    child = int(worker.stdout.readline())
    os.kill(child, 0)  # alive
    worker.kill()
    worker.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child), "the parse process outlived its killed worker"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.parametrize("processes", [0, 1])
async def test_an_empty_chunk_is_prepared(processes: int) -> None:
    pool = ParsePool(processes)
    try:
        rows = await pool.prepare(_task([]))
        assert rows.lines == rows.accepted == rows.refused == []
    finally:
        pool.stop()
