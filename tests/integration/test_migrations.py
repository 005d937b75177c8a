"""Migrations through the storage thread a worker uses (streams/storage/store.py): an applied
migration edited afterwards is refused by name, not as a storage failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from streams.config import Settings
from streams.errors import ConfigError
from streams.storage import migrate
from streams.storage.migrations import MIGRATIONS_DIR
from streams.storage.store import Store


def test_an_edited_migration_is_named_through_the_storage_thread(
    chdb_settings: Settings, tmp_path: Path
) -> None:
    migrations = tmp_path / "sql"
    shutil.copytree(str(MIGRATIONS_DIR), migrations)
    store = Store(chdb_settings)
    try:
        applied = store.call_sync(lambda client: migrate(client, chdb_settings, migrations))
        assert applied, "a new database: every migration applied"
        edited = sorted(migrations.glob("[0-9]*.sql"))[-1]
        edited.write_text(edited.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
        with pytest.raises(
            ConfigError, match=f"migration {edited.name} changed after it was applied"
        ):
            store.call_sync(lambda client: migrate(client, chdb_settings, migrations))
        # The storage thread still works: the unedited migrations are up to date.
        shutil.copy(Path(str(MIGRATIONS_DIR)) / edited.name, edited)
        assert store.call_sync(lambda client: migrate(client, chdb_settings, migrations)) == []
    finally:
        store.close()
