"""What a redaction leaves to the disk (issue 22), on the real ClickHouse engine: the parts it
replaced leave the disk within the promised bound even on a table that idled long enough for the
engine to stop looking."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from streams.config import Settings
from streams.storage.migrations import CLEANUP_PERIOD_SECONDS
from streams.storage.redaction import REDACTABLE_TABLES, ContactKey, redact
from streams.storage.store import Store
from tests.integration.test_forgetting_engine import files_holding, insert_marked, marker

NOW = datetime.now(UTC)
# The engine's cleanup thread passes 30-40 s after a table starts, then (defaults) every 300 s
# once a pass deleted few parts: a redaction after this idle time meets that long period.
IDLE_SECONDS = 45
LOAD_MARGIN_SECONDS = 15  # the machine the tests run on is shared and loaded


def data_paths(client: Client, tables: tuple[str, ...]) -> list[str]:
    rows = client.query(
        "SELECT arrayJoin(data_paths) FROM system.tables "
        "WHERE database = currentDatabase() AND name IN {t:Array(String)}",
        parameters={"t": list(tables)},
    ).result_rows
    return [str(row[0]) for row in rows]


def test_the_parts_a_redaction_replaced_leave_the_disk_within_the_bound_after_idle_time(
    chdb_settings: Settings,
) -> None:
    settings = chdb_settings.model_copy(update={"old_parts_seconds": 1})
    store = Store(settings)
    try:
        store.migrate()
        tables_started = time.monotonic()
        markers = [marker() for _ in range(6)]
        store.call_sync(lambda c: insert_marked(c, "c1", markers))
        paths = store.call_sync(lambda c: data_paths(c, REDACTABLE_TABLES))
        assert all(files_holding(paths, markers).values()), "the scan sees the values"
        time.sleep(max(0.0, IDLE_SECONDS - (time.monotonic() - tables_started)))

        store.call_sync(lambda c: redact(c, [ContactKey("c1", "email")], "erasure", NOW))
        redacted = time.monotonic()
        bound = settings.old_parts_seconds + CLEANUP_PERIOD_SECONDS + LOAD_MARGIN_SECONDS
        while (left := {m: p for m, p in files_holding(paths, markers).items() if p}) and (
            time.monotonic() - redacted < bound
        ):
            time.sleep(0.5)
        gone = time.monotonic() - redacted
        assert not left, f"erased values still on disk {gone:.0f} s after the redaction: {left}"
        print(f"replaced parts gone {gone:.1f} s after the redaction")
    finally:
        store.close()
