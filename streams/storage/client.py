"""Open ClickHouse through clickhouse-connect: chDB in-process for chdb:// DSNs, HTTP otherwise.

ClickHouse error texts can quote the data they choke on, so errors leaving this module carry the
ClickHouse error code and name only, never the server's message.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import struct
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import (
    DatabaseError,
    DataError,
    OperationalError,
    ProgrammingError,
)

from streams.config import Settings
from streams.errors import (
    NotMigrated,
    StorageError,
    StorageLocked,
    StorageRejected,
    StorageUnavailable,
)
from streams.extras import require_embedded_engine
from streams.storage.failures import KNOWN_CODES, failure_kind

_UNKNOWN_DATABASE = "UNKNOWN_DATABASE"
_CODE = re.compile(r"Code: (\d+)\.")
_NAME = re.compile(r"[A-Z][A-Z0-9_]{2,63}")
_LAST_NAME = re.compile(r"\(([A-Z][A-Z0-9_]{2,63})\)\s*$")


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
    require_embedded_engine(settings)  # one line naming the extra, before any driver error
    try:
        client = _connect(settings, db)
    except Exception as exc:
        raise classify(exc, settings) from None
    if settings.is_embedded:
        spool_inserts_beside_the_data(settings)
    return client


def _connect(settings: Settings, db: str) -> Client:
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
    return client


def open_existing_client(settings: Settings, tables: Sequence[str]) -> Client:
    """A client for a read-only command, which creates nothing: no chDB directory, no database
    (unlike `open_client`). NotMigrated, in one line, when the configured database or one of
    `tables` does not exist yet; it is checked in system.tables before any query touches it."""
    db = settings.clickhouse_database
    require_embedded_engine(settings)
    if settings.is_embedded and not _holds_data(Path(_chdb_path(settings))):
        raise _not_migrated(settings, "no ClickHouse data there yet")
    try:
        with _native_stderr_silenced(settings.is_embedded):
            client = clickhouse_connect.get_client(dsn=settings.dsn, database=db)
    except Exception as exc:
        if _UNKNOWN_DATABASE in str(exc):
            raise _not_migrated(settings, "the database does not exist") from None
        raise classify(exc, settings) from None
    try:
        found = client.query(
            "SELECT name FROM system.tables "
            "WHERE database = {db:String} AND name IN {names:Array(String)}",
            parameters={"db": db, "names": list(tables)},
        ).result_rows
    except Exception as exc:
        client.close()
        raise classify(exc, settings) from None
    missing = sorted(set(tables) - {str(row[0]) for row in found})
    if missing:
        client.close()
        raise _not_migrated(settings, f"missing: {', '.join(missing)}")
    return client


def _holds_data(path: Path) -> bool:
    """Whether a chDB directory exists and is not empty (opening one that does not would
    create it)."""
    return path.is_dir() and any(path.iterdir())


def _not_migrated(settings: Settings, detail: str) -> NotMigrated:
    return NotMigrated(
        f"database {settings.clickhouse_database} in {settings.dsn_for_display} has no "
        f"contactstream tables ({detail}): run the worker (or `contactstream migrate`) first"
    )


def insert_spool(settings: Settings) -> Path:
    """Where an embedded engine's inserts are spooled: under the data directory, one directory
    per chDB directory (whose process alone uses it)."""
    path = Path(_chdb_path(settings)).resolve()
    tag = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return settings.data_dir / "insert-spool" / f"{path.name}-{tag}"


def spool_inserts_beside_the_data(settings: Settings) -> None:
    """clickhouse-connect's chDB backend writes each insert's rows (personal data included) to a
    temporary file, inserts it with FROM INFILE and deletes it. In /tmp, a process killed in
    between would leave those rows there for good, past any retention. So this process's
    temporary files go to a 0700 directory under the data directory, and what a killed
    process left there is deleted at the first open: only the process holding the chDB
    directory (this one, once the engine opened) uses it. A later client of the same process
    (a second Store) leaves it alone: the first one's insert may be spooling there."""
    spool = insert_spool(settings)
    if str(spool) == tempfile.tempdir:
        return  # set up by this process's first client: its files may be in use by now
    spool.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    spool.mkdir(mode=0o700, exist_ok=True)
    for leftover in spool.iterdir():
        if leftover.is_file() or leftover.is_symlink():
            leftover.unlink(missing_ok=True)
    tempfile.tempdir = str(spool)  # process-wide: what tempfile.gettempdir() returns


def classify(exc: BaseException, settings: Settings | None = None) -> StorageError:
    """Turn a driver exception into our error, keeping only codes (no data, no server text).

    The kind follows the failure rule (streams.storage.failures): refused values ->
    StorageRejected, a wrong statement or deployment -> StorageError, anything else ->
    StorageUnavailable (wait and retry).
    """
    known = exc if isinstance(exc, StorageError) else _spool_failure(exc)
    if known is not None:
        return known
    text = str(exc)
    if "EmbeddedServer" in text or "already initialized with path" in text:
        return _open_failure(settings)
    label, code = error_label(exc)
    if code is None and isinstance(exc, DataError | OverflowError | struct.error):
        return StorageRejected(f"{label}: the client could not encode the values", None)
    kind = failure_kind(code)
    if kind == "event":
        return StorageRejected(f"{label}: ClickHouse refused the values", code)
    if kind == "operation" or (code is None and not _is_connection_error(exc)):
        return StorageError(f"{label}: ClickHouse refused the operation", code)
    return StorageUnavailable(f"{label}: ClickHouse cannot store now", code)


def error_label(exc: BaseException) -> tuple[str, int | None]:
    """`ClickHouse error CODE NAME` of a driver exception (no data, no server text), and the
    code (None when it has none: then the label is the exception's type)."""
    code, name = _code_and_name(exc, str(exc))
    return (f"ClickHouse error {code} {name}" if code is not None else name), code


def _code_and_name(exc: BaseException, text: str) -> tuple[int | None, str]:
    """ClickHouse's code and name: from the driver's fields, else the text's *last* (NAME)
    (an earlier one may be quoted data, e.g. a constraint error lists the row's values)."""
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        match = _CODE.search(text)
        code = int(match.group(1)) if match else None
    name = KNOWN_CODES.get(code) if code is not None else None
    name = name or getattr(exc, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        found = _LAST_NAME.search(text)
        name = found.group(1) if found and code is not None else type(exc).__name__
    return code, name


def _open_failure(settings: Settings | None) -> StorageError:
    """chDB says the same thing for a directory another process holds and one it cannot write."""
    path = Path(_chdb_path(settings)) if settings else None
    where = str(path) if path else "the chDB directory"
    if path is not None and not _writable(path):
        return StorageError(
            f"{where} is not writable by this process (permissions or a read-only file "
            "system); fix its ownership or point CONTACTSTREAM_DATA_DIR elsewhere"
        )
    return StorageLocked(
        f"{where} is in use by another process (a running worker holds it); "
        "stop that process or point CONTACTSTREAM_CLICKHOUSE_DSN at a ClickHouse server"
    )


def _writable(path: Path) -> bool:
    """Whether this process can create files in `path` (or in its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    probe = path / f".contactstream-write-probe-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return True


def _spool_failure(exc: BaseException) -> StorageUnavailable | None:
    """Writing an embedded insert's spool file failed (the driver's own file, before the
    engine): disk full or read-only, a state of the system like any other."""
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError) and exc.errno:
        reason = errno.errorcode.get(exc.errno, str(exc.errno))
        return StorageUnavailable(f"the insert spool cannot be written ({reason})", None)
    return None


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, DatabaseError) and not isinstance(exc, ProgrammingError)


def _chdb_path(settings: Settings) -> str:
    return str(Path(settings.dsn.removeprefix("chdb://")))

