"""Analyst snapshots for the embedded default: the analyst views as Parquet files.

With chDB the worker owns the data directory, so no other process can open it. The leader worker
writes every analyst view to $DATA_DIR/analyst/<view>.parquet on a timer (a fresh temporary
file renamed into place, so a reader never sees half a file); `contactstream analyst query`
(sandboxed: streams/analyst_sandbox.py) and any Parquet reader (DuckDB, pandas, polars, ...)
read them. Only the analyst views are written, and none of them has a personal column (checked
here too, before writing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from clickhouse_connect.driver.client import Client

from schemas.contact import PERSONAL_FIELDS
from streams.errors import ConfigError, StorageError
from streams.extras import require
from streams.files import write_atomically
from streams.storage.client import error_label

ANALYST_VIEWS: Final = {
    "analyst_contacts": "analyst_contacts",
    "kpi_hourly": "kpi_hourly",
    "kpi_daily": "kpi_daily",
    "kpi_backlog": "kpi_backlog",
    # Parameterized: at the analyst dashboard's default threshold (other thresholds: from
    # analyst_contacts.wait_seconds).
    "kpi_service_level_60s": "kpi_service_level(sl_seconds = 60)",
}
"""Snapshot (file and table) name -> the analyst view it is taken from."""


def write_snapshots(client: Client, directory: Path) -> list[Path]:
    """Write each analyst view to `directory/<view>.parquet`; the paths written."""
    written = []
    for view, source in ANALYST_VIEWS.items():
        columns = {
            str(row[0]) for row in client.query(f"DESCRIBE (SELECT * FROM {source})").result_rows
        }
        leaked = columns & PERSONAL_FIELDS
        if leaked:  # the views are built never to have one; a snapshot must not either
            raise ConfigError(f"analyst view {view} has personal columns {sorted(leaked)}")
        data = client.raw_query(f"SELECT * FROM {source}", fmt="Parquet")
        target = directory / f"{view}.parquet"
        write_atomically(target, data)
        written.append(target)
    return written


def query_snapshots(directory: Path, sql: str, fmt: str) -> str:
    """Run `sql` over the snapshots in a sandboxed child process (streams/analyst_sandbox.py),
    read-only and unable to touch any other file; the result in ClickHouse format `fmt`. Each
    snapshot is a table named like its view."""
    require("embedded", "contactstream analyst query", importing=False)
    present = [v for v in ANALYST_VIEWS if (directory / f"{v}.parquet").is_file()]
    if not present:
        raise ConfigError(
            f"no analyst snapshots in {directory} yet: a running worker writes them every "
            "CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS"
        )
    request = {"directory": str(directory.resolve()), "views": present, "sql": sql, "format": fmt}
    with tempfile.TemporaryDirectory(prefix="contactstream-analyst-") as scratch:
        done = subprocess.run(
            [sys.executable, "-I", "-m", "streams.analyst_sandbox"],
            input=json.dumps(request).encode(),
            capture_output=True,
            cwd=scratch,
            env=sandbox_environment(scratch, os.environ),
            check=False,
        )
    return sandbox_answer(done.returncode, done.stdout)


def sandbox_environment(scratch: str, parent: Mapping[str, str]) -> dict[str, str]:
    """None of the parent's variables (secrets live there) but the time zone, which decides how
    the engine shows times; the scratch directory as the engine's temporary directory."""
    timezone = {"TZ": parent["TZ"]} if "TZ" in parent else {}
    return {"PATH": os.defpath, "TMPDIR": scratch, **timezone}


def sandbox_answer(returncode: int, stdout: bytes) -> str:
    """The sandboxed child's result, or the error it reported (exit statuses: its docstring).
    An engine's refusal keeps its message (`engine_words`), unlike any other ClickHouse error
    (streams.storage.client.classify: code and name only, since its text can quote stored
    data): the snapshots hold no personal data, the analyst wrote the SQL, and the sandbox
    lets the engine read nothing else. A file the sandbox denies is ClickHouse error 76
    CANNOT_OPEN_FILE."""
    text = stdout.decode(errors="replace")
    if returncode == 0:
        return text
    if returncode == 2:
        raise ConfigError(text.strip())
    if returncode == 1:
        label, code = error_label(RuntimeError(text))
        if code == READONLY:  # the session is read-only: not a failure that passes
            raise StorageError(f"read-only: analysts cannot change data ({label})", code)
        raise StorageError(f"{label}: {engine_words(text)}", code)
    raise StorageError(f"the analyst query's sandboxed process ended with status {returncode}")


READONLY: Final = 164
_MESSAGE_LIMIT: Final = 1000
_EXCEPTION_PREFIX = re.compile(r"Code: \d+\. DB::\w+: ")
# "(NAME)", maybe "(version X)": once per exception a refusal wraps (one of a format does).
_NAME_SUFFIX = re.compile(r"\s*\([A-Z][A-Z0-9_]{2,63}\)(?:\s*\(version [^)]*\))?\.?\s*$")


def engine_words(text: str) -> str:
    """The engine's message without its code, name and version (the label says them), on one
    line and at most 1,000 characters (pure)."""
    words = _EXCEPTION_PREFIX.split(text)[-1]
    while (shorter := _NAME_SUFFIX.sub("", words, count=1)) != words:
        words = shorter
    words = " ".join(words.split())
    if len(words) > _MESSAGE_LIMIT:
        words = words[: _MESSAGE_LIMIT - 1] + "…"
    return words or "ClickHouse refused the analyst query"
