"""Ingestion never waits behind a mutation (issue 22), on the real ClickHouse engine (chDB).

The worker's sink inserts on its storage lane (Runtime.store); the redaction agent mutates on
the mutation lane (Runtime.mutations), a thread and chDB client of its own. While a redaction's
mutation is still running, a sink insert of the same worker completes.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry

from schemas.control import Tombstone
from streams.config import Settings
from streams.ingest.rows import EVENT_COLUMNS
from streams.ingest.sink import ClickHouseSink
from streams.observability.metrics import Metrics
from streams.privacy.redaction import Redactor
from streams.privacy.sql import ContactKey, remaining_personal
from streams.storage.migrations import migrate
from streams.storage.store import Store
from streams.worker.runtime import Runtime

# 300,000 SMS events of 100,000 contacts over 18 months, each with 300 bytes of content: a
# redaction of 60 of them rewrites the personal columns of every monthly part (seconds).
_FILL = """
INSERT INTO contact_events (event_id, contact_id, channel, event_type, occurred_at,
    schema_version, source, phone, content, subject_key, kafka_topic, kafka_partition,
    kafka_offset)
SELECT toString(number), toString(number % 100000), 'sms', 'handled',
    now64(3) - toIntervalDay(number % 540), 1, 'test', concat('+358', toString(number)),
    randomPrintableASCII(300), hex(number), 'fill', 0, number
FROM numbers(300000)"""
_RUNNING = (
    "SELECT count() FROM system.mutations WHERE database = currentDatabase() AND NOT is_done"
)


def running_mutations(client: Client) -> int:
    return int(client.query(_RUNNING).result_rows[0][0])


def a_fresh_event(number: int) -> list[object]:
    row: dict[str, object] = dict.fromkeys(EVENT_COLUMNS)
    row.update(
        event_id=f"new-{number}", contact_id=f"new-{number}", channel="sms",
        event_type="received", occurred_at=datetime.now(UTC), schema_version=1, source="test",
        kafka_topic="t", kafka_partition=0, kafka_offset=number,
    )
    return list(row.values())


async def test_an_insert_completes_while_a_redaction_mutation_runs(
    chdb_settings: Settings,
) -> None:
    runtime = Runtime(chdb_settings, Store(chdb_settings), Metrics.create(CollectorRegistry()))
    watcher = Store(chdb_settings)  # a third client: sees the mutations whichever lane waits
    try:
        runtime.store.call_sync(lambda c: migrate(c, chdb_settings))
        runtime.store.call_sync(lambda c: c.command(_FILL))
        keys = [ContactKey(str(n * 1601), "sms") for n in range(60)]
        tombstones = [
            Tombstone(
                contact_id=key.contact_id, channel="sms", reason="erasure",
                issued_at=datetime.now(UTC), request_id="r-1",
            ).to_json()
            for key in keys
        ]
        # SMS contacts have no recordings: nothing is sent to the recording-deletions topic.
        redaction = asyncio.ensure_future(Redactor(runtime, None).handle(tombstones))
        deadline = time.monotonic() + 120
        while not await watcher.call(running_mutations):
            assert not redaction.done(), "the redaction ended before its mutation was seen"
            assert time.monotonic() < deadline, "no mutation started"
            await asyncio.sleep(0.05)

        sink = ClickHouseSink(runtime.store, runtime.metrics, "contact_events", EVENT_COLUMNS)
        started = time.monotonic()
        assert await sink.write([a_fresh_event(n) for n in range(200)], "lane-test") == []
        inserted = time.monotonic() - started
        still_running = await watcher.call(running_mutations)

        assert await redaction == len(keys)
        assert still_running, f"the insert ({inserted:.1f} s) waited for the mutation to end"
        assert runtime.store.call_sync(lambda c: remaining_personal(c, keys)) == 0
    finally:
        for hook in runtime.on_shutdown:
            await hook()
        watcher.close()
        runtime.store.close()
