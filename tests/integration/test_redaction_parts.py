"""A redaction rewrites only the parts of the months its contacts lived in (issue 22), on the
real ClickHouse engine: the files a mutation writes are new inodes under the tables' data
directories (what it leaves alone stays hard-linked into the new parts), and a part directory's
name starts with its partition id."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from streams.config import Settings
from streams.storage.redaction import ContactKey, redact
from streams.storage.store import Store

NOW = datetime.now(UTC)
MONTHS_AGO = (20, 12, 3)
# 20,000 SMS events of 2,000 contacts in each of three months, phone and content set.
_FILL = """
INSERT INTO contact_events (event_id, contact_id, channel, event_type, occurred_at,
    schema_version, source, phone, content, kafka_topic, kafka_partition, kafka_offset)
SELECT concat(toString({months:UInt8}), '-', toString(number)),
    concat('m', toString({months:UInt8}), '-', toString(number % 2000)), 'sms', 'handled',
    {at:DateTime64(3, 'UTC')} + toIntervalSecond(number % 3600), 1, 'test',
    concat('+35840', toString(number)), randomPrintableASCII(100), 'fill', 0, number
FROM numbers(20000)"""


def partition_files(client: Client, table: str) -> dict[int, tuple[str, int]]:
    """Inode -> (partition id, size) of every file of the table's parts (not the mutation
    records beside them)."""
    [(path,)] = client.query(
        "SELECT arrayJoin(data_paths) FROM system.tables "
        "WHERE database = currentDatabase() AND name = {t:String}",
        parameters={"t": table},
    ).result_rows
    found = {}
    for root, _, names in os.walk(path):
        part = os.path.relpath(root, path).split(os.sep)[0]
        if part == os.curdir:
            continue
        for name in names:
            stat = os.stat(os.path.join(root, name))
            found[stat.st_ino] = (part.split("_")[0], stat.st_size)
    return found


def test_a_redaction_rewrites_only_its_months_parts(chdb_settings: Settings) -> None:
    store = Store(chdb_settings)
    try:
        store.migrate()
        for months in MONTHS_AGO:
            at = NOW - timedelta(days=30.4 * months)
            store.call_sync(
                lambda c, m=months, t=at: c.command(  # type: ignore[misc]
                    _FILL, parameters={"months": m, "at": t}
                )
            )
        for table in ("contact_events", "contacts"):
            store.call_sync(lambda c, t=table: c.command(f"OPTIMIZE TABLE {t} FINAL"))  # type: ignore[misc]
        before = {t: store.call_sync(lambda c, t=t: partition_files(c, t))  # type: ignore[misc]
                  for t in ("contact_events", "contacts")}
        due = [ContactKey(f"m20-{n}", "sms") for n in range(5)]
        store.call_sync(lambda c: redact(c, due, "retention", NOW))

        month = (NOW - timedelta(days=30.4 * 20)).strftime("%Y%m")
        for table, old in before.items():
            new = store.call_sync(lambda c, t=table: partition_files(c, t))  # type: ignore[misc]
            written = {part for inode, (part, _) in new.items() if inode not in old}
            assert written == {month}, f"{table}: new files in partitions {sorted(written)}"
    finally:
        store.close()
