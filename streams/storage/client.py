"""Open ClickHouse through clickhouse-connect: chDB in-process for chdb:// DSNs, HTTP otherwise.

ClickHouse error texts can quote the data they choke on, so errors leaving this module carry the
ClickHouse error code and name only, never the server's message.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import (
    DatabaseError,
    OperationalError,
    ProgrammingError,
)

from streams.config import Settings
from streams.errors import StorageError, StorageLocked, StorageUnavailable

# ClickHouse error codes worth retrying: overload, timeouts, too many parts, memory, shutdown.
RETRIABLE_CODES = frozenset({3, 159, 160, 164, 202, 209, 210, 241, 252, 285, 319, 425, 439, 999})
_UNKNOWN_DATABASE = "UNKNOWN_DATABASE"
_CODE = re.compile(r"Code: (\d+)\.?(?:.*?\(([A-Z_]+)\))?", re.DOTALL)


@contextmanager
def _native_stderr_silenced(active: bool) -> Iterator[None]:
    """chDB's engine writes its start-up failures straight to file descriptor 2; our error says
    the same in one line, so while the engine opens, fd 2 goes to /dev/null."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_client(settings: Settings, database: str | None = None) -> Client:
    """A client on `settings.dsn`; the database is created if missing (`database` overrides)."""
    db = database or settings.clickhouse_database
    try:
        with _native_stderr_silenced(settings.is_embedded):
            try:
                # A least-privilege server user may see only its own database: try that first.
                return clickhouse_connect.get_client(dsn=settings.dsn, database=db)
            except Exception as exc:
                if _UNKNOWN_DATABASE not in str(exc):
                    raise
            client = clickhouse_connect.get_client(dsn=settings.dsn, database="default")
        client.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        client.database = db
        if settings.is_embedded:
            client.command(f"USE `{db}`")
    except Exception as exc:
        raise classify(exc, settings) from None
    return client


def classify(exc: BaseException, settings: Settings | None = None) -> StorageError:
    """Turn a driver exception into our error, keeping only codes (no data, no server text)."""
    if isinstance(exc, StorageError):
        return exc
    text = str(exc)
    if "EmbeddedServer" in text or "already initialized with path" in text:
        where = _chdb_path(settings) if settings else "the chDB directory"
        return StorageLocked(
            f"{where} is in use by another process (a running worker holds it); "
            "stop that process or point CONTACTSTREAM_CLICKHOUSE_DSN at a ClickHouse server"
        )
    match = _CODE.search(text)
    code = int(match.group(1)) if match else None
    name = match.group(2) if match and match.group(2) else type(exc).__name__
    label = f"ClickHouse error {code} {name}" if code is not None else name
    if code in RETRIABLE_CODES or (code is None and _is_connection_error(exc)):
        return StorageUnavailable(f"{label}: ClickHouse is unavailable, will retry")
    return StorageError(f"{label}: ClickHouse refused the operation")


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, DatabaseError) and not isinstance(exc, ProgrammingError)


def _chdb_path(settings: Settings) -> str:
    return str(Path(settings.dsn.removeprefix("chdb://")))


def run(client: Client, sql: str, **kwargs: Any) -> Any:
    """client.command with our error classification."""
    try:
        return client.command(sql, **kwargs)
    except Exception as exc:
        raise classify(exc) from None
