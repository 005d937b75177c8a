"""What a redaction leaves to the disk (issue 22), on the real ClickHouse engine: it rewrites only
the parts of the months its contacts lived in, and the parts it replaced leave the disk within
the promised bound even on a table that idled long enough for the engine to stop looking.

The files a mutation writes are new inodes under the tables' data directories (what it leaves
alone stays hard-linked into the new parts), and a part directory's name starts with its
partition id."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickhouse_connect.driver.client import Client

from streams.config import Settings
from streams.privacy.sql import REDACTABLE_TABLES, ContactKey, due_contacts, redact
from streams.storage import migrate, open_client
from streams.storage.migrations import (
    CLEANUP_PERIOD_SECONDS,
    MIGRATIONS_DIR,
    load_migrations,
    template_params,
)
from streams.storage.store import Store
from tests.support.forgetting import files_holding, insert_marked, marker

NOW = datetime.now(UTC)
MONTHS_AGO = (20, 12, 3)
# 20,000 SMS events of 2,000 contacts within one hour of each of three months, phone and content
# set (random content from the engine: a VALUES text of markers would land in the query log).
_FILL = """
INSERT INTO contact_events (event_id, contact_id, channel, event_type, occurred_at,
    schema_version, source, phone, content, kafka_topic, kafka_partition, kafka_offset)
SELECT concat(toString({months:UInt8}), '-', toString(number)),
    concat('m', toString({months:UInt8}), '-', toString(number % 2000)), 'sms', 'handled',
    {at:DateTime64(3, 'UTC')} + toIntervalSecond(number % 3600), 1, 'test',
    concat('+35840', toString(number)), randomPrintableASCII(100), 'fill', 0, number
FROM numbers(20000)"""
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


def partition_files(client: Client, table: str) -> dict[int, str]:
    """Inode -> partition id of every file of the table's parts (not the mutation records
    beside them)."""
    found = {}
    for path in data_paths(client, (table,)):
        for root, _, names in os.walk(path):
            part = os.path.relpath(root, path).split(os.sep)[0]
            if part == os.curdir:
                continue
            for name in names:
                found[os.stat(os.path.join(root, name)).st_ino] = part.split("_")[0]
    return found


def month_start(months_ago: int) -> datetime:
    """The 2nd of the month `months_ago` months back, 00:00 (an hour from it stays in it)."""
    day = NOW - timedelta(days=30.4 * months_ago)
    return datetime(day.year, day.month, 2, tzinfo=UTC)


def test_a_redaction_batch_rewrites_only_the_parts_of_its_contacts_months(
    chdb_settings: Settings,
) -> None:
    store = Store(chdb_settings)
    try:
        store.call_sync(lambda c: migrate(c, chdb_settings))
        for months in MONTHS_AGO:
            store.call_sync(
                lambda c, m=months: c.command(  # type: ignore[misc]
                    _FILL, parameters={"months": m, "at": month_start(m)}
                )
            )
        for table in REDACTABLE_TABLES:
            store.call_sync(lambda c, t=table: c.command(f"OPTIMIZE TABLE {t} FINAL"))  # type: ignore[misc]
        before = {
            table: store.call_sync(lambda c, t=table: partition_files(c, t))  # type: ignore[misc]
            for table in REDACTABLE_TABLES
        }
        due = [key for key, _ in store.call_sync(lambda c: due_contacts(c, NOW, 18, 5))]
        assert len(due) == 5
        assert all(key.contact_id.startswith("m20-") for key in due)
        store.call_sync(lambda c: redact(c, due, "retention", NOW))

        month = month_start(20).strftime("%Y%m")
        for table, old in before.items():
            new = store.call_sync(lambda c, t=table: partition_files(c, t))  # type: ignore[misc]
            written = {part for inode, part in new.items() if inode not in old}
            assert written == {month}, f"{table}: new files in partitions {sorted(written)}"
    finally:
        store.close()


def test_the_parts_a_redaction_replaced_leave_the_disk_within_the_bound_after_idle_time(
    chdb_settings: Settings,
) -> None:
    settings = chdb_settings.model_copy(update={"old_parts_seconds": 1})
    store = Store(settings)
    try:
        store.call_sync(lambda c: migrate(c, settings))
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


def test_the_migration_partitions_existing_contacts_and_a_run_stopped_after_the_exchange_repeats(
    chdb_settings: Settings, tmp_path: Path
) -> None:
    """0010 keeps every contact as it was (a redaction mark too) in monthly partitions, fed by
    the view again; a run that stopped after its exchange, repeated from the start, too."""
    client = open_client(chdb_settings)
    try:
        before_0010 = tmp_path / "sql"
        before_0010.mkdir()
        for path in MIGRATIONS_DIR.iterdir():
            if path.name.endswith(".sql") and path.name < "0010":
                (before_0010 / path.name).write_text(path.read_text(encoding="utf-8"))
        migrate(client, chdb_settings, before_0010)  # type: ignore[arg-type]  # a Traversable
        for months in MONTHS_AGO:
            client.command(_FILL, parameters={"months": months, "at": month_start(months)})
        redact(client, [ContactKey("m20-1", "sms")], "erasure", NOW)
        merged = "SELECT * FROM contacts_merged ORDER BY contact_id, channel"
        expected = client.query(merged).result_rows
        [partitions] = client.query(
            "SELECT groupUniqArray(partition_id) FROM system.parts "
            "WHERE database = currentDatabase() AND table = 'contacts'"
        ).result_rows[0]
        assert partitions == ["all"]

        [migration] = [m for m in load_migrations() if m.version == 10]
        statements = migration.statements(template_params(chdb_settings))
        exchange = next(n for n, s in enumerate(statements) if s.startswith("EXCHANGE"))
        for statement in statements[: exchange + 1]:
            client.command(statement)
        # Repeated from the start (later migrations follow it).
        assert migrate(client, chdb_settings)[0] == migration.name

        assert client.query(merged).result_rows == expected
        parts = client.query(
            "SELECT DISTINCT partition_id FROM system.parts WHERE database = currentDatabase() "
            "AND table = 'contacts' AND active ORDER BY partition_id"
        ).result_rows
        assert [row[0] for row in parts] == sorted(
            month_start(m).strftime("%Y%m") for m in MONTHS_AGO
        )
        insert_marked(client, "late-1", [marker() for _ in range(6)])
        assert client.query(
            "SELECT count() FROM contacts WHERE contact_id = 'late-1'"
        ).result_rows == [(1,)], "the view feeds the partitioned table"
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{client.database}` SYNC")
