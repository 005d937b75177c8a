"""Redaction leaves no erased byte in the engine's files (issue 19), on the real ClickHouse engine.

The markers and the scan of the files for them: tests/support/forgetting.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from streams.config import Settings
from streams.ingest.rows import PERSONAL_COLUMNS
from streams.privacy.sql import CLEARED, ContactKey, redaction_sql
from streams.storage import migrate, open_client
from streams.storage.migrations import MIGRATIONS_DIR
from tests.support.forgetting import files_holding, insert_marked, marker

NOW = datetime.now(UTC)


def active_part_paths(client: Client, table: str | None = None) -> list[Path]:
    """The active parts of the current database (of one table, if named)."""
    rows = client.query(
        "SELECT path FROM system.parts WHERE database = currentDatabase() AND active "
        "AND (table = {t:String} OR {t:String} = '')",
        parameters={"t": table or ""},
    ).result_rows
    return [Path(row[0]) for row in rows]


@pytest.fixture
def engine(chdb_session: Path, unique_name: str) -> Iterator[tuple[Client, Settings]]:
    settings = Settings(
        clickhouse_dsn=f"chdb://{chdb_session}",
        clickhouse_database=unique_name,
        data_dir=chdb_session.parent / f"{unique_name}-data",
    )
    client = open_client(settings)
    yield client, settings
    client.command(f"DROP DATABASE IF EXISTS `{unique_name}` SYNC")


def _redacted_database(
    chdb: Path, name: str, part_type: str, cleared: str
) -> tuple[Client, list[str]]:
    """A migrated database of its own (no merge can mix its rows with another test's), one
    email event with a marker in every text personal column, redacted with `cleared`."""
    settings = Settings(clickhouse_dsn=f"chdb://{chdb}", clickhouse_database=name)
    client = open_client(settings)
    migrate(client, settings)
    if part_type == "Wide":
        for table in ("contact_events", "contacts"):
            client.command(
                f"ALTER TABLE {table} MODIFY SETTING min_bytes_for_wide_part = 0, "
                "min_rows_for_wide_part = 0"
            )
    markers = [marker() for _ in range(6)]
    insert_marked(client, "c1", markers)
    types = client.query(
        "SELECT DISTINCT part_type FROM system.parts WHERE database = currentDatabase() "
        "AND table IN ('contact_events', 'contacts') AND active"
    ).result_rows
    assert types == [(part_type,)]
    for table in ("contact_events", "contacts"):
        sql = redaction_sql(table, [ContactKey("c1", "email")], "erasure", NOW)
        client.command(sql.replace(CLEARED, cleared), settings={"mutations_sync": 2})
    return client, markers


@pytest.mark.parametrize("part_type", ["Compact", "Wide"])
def test_a_constant_null_keeps_the_value_on_disk_and_the_cleared_column_does_not(
    chdb_session: Path, unique_name: str, part_type: str
) -> None:
    """The old mechanism (`col = NULL`) fails the scan; the product's passes, on both part
    types of both tables; and no SQL function reads anything back."""
    old, old_markers = _redacted_database(chdb_session, f"{unique_name}_old", part_type, "NULL")
    new, new_markers = _redacted_database(chdb_session, f"{unique_name}_new", part_type, CLEARED)
    try:
        found = files_holding(active_part_paths(old), old_markers)
        assert all(found.values()), "the scan finds what a constant NULL leaves"
        found = files_holding(active_part_paths(new), new_markers)
        assert not any(found.values()), {m[:8]: p for m, p in found.items() if p}
        for table in ("contact_events", "contacts"):
            read_back = new.query(
                f"SELECT {', '.join(f'assumeNotNull({c})' for c in PERSONAL_COLUMNS)} FROM {table}"
            ).result_rows
            assert read_back
            assert all(value == "" for row in read_back for value in row)
    finally:
        for client in (old, new):
            client.command(f"DROP DATABASE IF EXISTS `{client.database}` SYNC")


def test_the_migration_rewrites_values_redacted_the_old_way_and_splits_contacts_by_channel(
    engine: tuple[Client, Settings], tmp_path: Path
) -> None:
    client, settings = engine
    before = tmp_path / "sql"
    before.mkdir()
    for path in MIGRATIONS_DIR.iterdir():
        if path.name.endswith(".sql") and path.name < "0008":
            (before / path.name).write_text(path.read_text(encoding="utf-8"))
    migrate(client, settings, before)  # type: ignore[arg-type]  # a Path is a Traversable
    erased, kept = marker(), marker()
    columns = (
        "event_id, contact_id, channel, event_type, occurred_at, schema_version, source, "
        "phone, content, kafka_topic, kafka_partition, kafka_offset"
    )
    # As data (Native format), the way the worker inserts: a VALUES text would put the markers
    # in the engine's query log, which the scan below reads too.
    client.insert(
        "contact_events",
        [
            ["a-1", "c1", "phone", "queued", NOW, 1, "acd", "+358401234561", erased, "t", 0, 1],
            ["b-1", "c1", "sms", "received", NOW, 1, "sms", "+358401234562", kept, "t", 0, 2],
        ],
        column_names=[c.strip() for c in columns.split(",")],
    )
    # Redacted as the product did before: contact c1, constant NULLs, marked and audited.
    client.command(
        "ALTER TABLE contact_events UPDATE phone = NULL, content = NULL "
        "WHERE contact_id = 'c1' AND channel = 'phone'",
        settings={"mutations_sync": 2},
    )
    client.command(
        "INSERT INTO redaction_log (contact_id, channel, reason, redacted_at) "
        "VALUES ('c1', 'phone', 'erasure', now64(3))"
    )
    assert files_holding(active_part_paths(client), [erased])[erased], "written the old way"

    assert migrate(client, settings)[0] == "0008_contact_identity.sql"

    chdb_dir = Path(settings.dsn.removeprefix("chdb://"))
    found = files_holding([chdb_dir], [erased, kept])
    assert not found[erased], found[erased]
    assert found[kept], "the scan sees values that are still held"
    assert client.query(
        "SELECT contact_id, channel, phone IS NULL, assumeNotNull(content) FROM contacts_merged "
        "ORDER BY channel"
    ).result_rows == [("c1", "phone", 1, ""), ("c1", "sms", 0, kept)]
    assert client.query(
        "SELECT assumeNotNull(content) FROM contact_events WHERE channel = 'phone'"
    ).result_rows == [("",)]
    shutil.rmtree(before)


def test_the_ttl_backstop_leaves_no_byte_either(chdb_session: Path, unique_name: str) -> None:
    """The column TTL on contact_events (retention + 6 months) is a backstop for the retention
    agent; when it fires it must not keep what it clears either."""
    settings = Settings(clickhouse_dsn=f"chdb://{chdb_session}", clickhouse_database=unique_name)
    client = open_client(settings)
    try:
        migrate(client, settings)
        expired, fresh = marker(), marker()
        old = NOW.replace(year=NOW.year - 3)
        for contact_id, at, text in (("old", old, expired), ("new", NOW, fresh)):
            client.insert(
                "contact_events",
                [[f"{contact_id}-r", contact_id, "sms", "received", at, 1, "gw", text, "t", 0, 1]],
                column_names=[
                    "event_id", "contact_id", "channel", "event_type", "occurred_at",
                    "schema_version", "source", "content", "kafka_topic", "kafka_partition",
                    "kafka_offset",
                ],
            )  # fmt: skip
        client.command("ALTER TABLE contact_events MATERIALIZE TTL", settings={"mutations_sync": 2})
        # contacts has no TTL (the retention agent is its only mechanism): events only.
        found = files_holding(active_part_paths(client, "contact_events"), [expired, fresh])
        assert not found[expired], found[expired]
        assert found[fresh]
        assert client.query(
            "SELECT contact_id, content IS NULL, assumeNotNull(content) FROM contact_events "
            "ORDER BY contact_id"
        ).result_rows == [("new", 0, fresh), ("old", 1, "")]
    finally:
        client.command(f"DROP DATABASE IF EXISTS `{unique_name}` SYNC")
