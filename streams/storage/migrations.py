"""Apply the ordered DDL files of streams/storage/sql/ once each, recording what was applied.

The files are package data, read with importlib.resources: an installed wheel migrates as well
as a source checkout does.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Final

from clickhouse_connect.driver.client import Client

from streams.config import Settings
from streams.errors import ConfigError
from streams.privacy.sql import PERSONAL_TABLES
from streams.storage.client import classify

MIGRATIONS_DIR: Traversable = files("streams.storage") / "sql"
_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations
(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = MergeTree ORDER BY version"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self, params: dict[str, str]) -> list[str]:
        text = self.sql
        for key, value in params.items():
            text = text.replace("{" + key + "}", value)
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
        return [stmt.strip() for stmt in body.split(";\n") if stmt.strip().rstrip(";")]


def load_migrations(directory: Traversable = MIGRATIONS_DIR) -> list[Migration]:
    """Ordered migrations; files that are not NNNN_name.sql are not migrations."""
    found = []
    for path in sorted(directory.iterdir(), key=lambda entry: entry.name):
        match = _FILE.match(path.name)
        if match and path.is_file():
            found.append(
                Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8"))
            )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"two migrations share a version number in {directory}")
    return found


def template_params(settings: Settings) -> dict[str, str]:
    # The TTL backstop leaves six months of slack after the retention period: the retention
    # agent is the mechanism, TTL only catches what it would miss.
    return {"ttl_backstop_months": str(settings.retention_months + 6)}


def migrate(
    client: Client, settings: Settings, directory: Traversable = MIGRATIONS_DIR
) -> list[str]:
    """Apply pending migrations in order; return the names applied (empty when up to date)."""
    try:
        client.command(_LEDGER)
        rows = client.query("SELECT version, checksum FROM schema_migrations").result_rows
    except Exception as exc:
        raise classify(exc, settings) from None
    applied = {int(version): str(checksum) for version, checksum in rows}
    done: list[str] = []
    migrations = load_migrations(directory)
    for migration in migrations:
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise ConfigError(
                    f"migration {migration.name} changed after it was applied; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        _apply(client, migration, template_params(settings))
        done.append(migration.name)
    if any(m.version >= _IDENTITY_VERSION for m in migrations):
        keep_replaced_parts_for(client, settings.old_parts_seconds)
    return done


_IDENTITY_VERSION = 8  # 0008 created the personal tables as they are now


CLEANUP_PERIOD_SECONDS: Final = 5
"""How often the engine looks for replaced parts to delete in the tables with personal columns."""


def replaced_parts_settings(seconds: int) -> str:
    """The table settings that delete a replaced part `seconds` after it was replaced, within
    CLEANUP_PERIOD_SECONDS more (pure).

    The engine deletes a replaced part on a pass of the table's cleanup thread once it is
    old_parts_lifetime old, but the thread paces itself: 30-40 s after the table starts, then,
    after a pass that deleted few parts, max_cleanup_delay_period (300 s) plus up to
    cleanup_delay_period_random_add (10 s). A part replaced just after such a pass kept its
    erased values 286 s with a 5 s lifetime (measured, see docs/privacy.md). A fixed short
    period holds the bound; a pass over a few tables' part lists costs next to nothing."""
    period = CLEANUP_PERIOD_SECONDS
    return (
        f"old_parts_lifetime = {int(seconds)}, cleanup_delay_period = {period}, "
        f"max_cleanup_delay_period = {period}, cleanup_delay_period_random_add = 0"
    )


def keep_replaced_parts_for(client: Client, seconds: int) -> None:
    """A mutation or a TTL merge writes new parts and leaves the replaced ones (with the erased
    values) on disk: set how long from the settings at every start (metadata only; a running
    cleanup thread takes the new period after its current sleep, at most 40 s on a new table)."""
    try:
        for table in PERSONAL_TABLES:
            client.command(f"ALTER TABLE {table} MODIFY SETTING {replaced_parts_settings(seconds)}")
    except Exception as exc:
        raise classify(exc) from None


def _apply(client: Client, migration: Migration, params: dict[str, str]) -> None:
    try:
        for statement in migration.statements(params):
            client.command(statement)
        client.insert(
            "schema_migrations",
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
    except Exception as exc:
        error = classify(exc)
        raise type(error)(f"migration {migration.name}: {error}") from None
