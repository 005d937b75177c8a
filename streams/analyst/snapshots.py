"""Analyst snapshots for the embedded default: the analyst views as Parquet files.

With chDB the worker owns the data directory, so no other process can open it. The leader worker
writes every analyst view as Parquet on a timer; `contactstream analyst query` (sandboxed:
streams/analyst/sandbox.py) and any Parquet reader (DuckDB, pandas, polars, ...) read them. Only
the analyst views are written, and none of them has a personal column (checked here too).

A round costs what changed (streams/analyst/changes.py): each view with a time column is one
file per period (a day of the current month, a month before), and a round writes only the
periods that may have changed. Its files go to a new directory, rounds/<round>/<view>/, where
the unchanged files of the last round are hard links (no byte written); then the link
`current` is switched to it in one rename, so a reader that resolves `current` once sees one
whole round. A round with nothing changed writes nothing. The round a switch replaced is kept
until the next round, for the readers that resolved it just before the switch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final, NamedTuple

from clickhouse_connect.driver.client import Client

from schemas.contact import PERSONAL_FIELDS
from streams.analyst.changes import (
    Clock,
    Granule,
    affected_granules,
    changed_days,
    granule_named,
    granule_of,
    month_start,
    ranges,
    regranuled,
    round_clock,
)
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
TIME_COLUMNS: Final = {
    "analyst_contacts": "contact_at",
    "kpi_hourly": "period_start",
    "kpi_daily": "period_start",
    "kpi_service_level_60s": "period_start",
}
"""The column whose UTC day puts a row in its period's file; a view not here (the backlog: a
few rows about now) is one file, ALL, written again when its content changed."""
ALL: Final = "all"
EMPTY: Final = "empty"
"""The file of a view that has no row at all (a Parquet file with the columns only)."""
CURRENT: Final = "current"
MANIFEST: Final = "manifest.json"


class Manifest(NamedTuple):
    """A round: its directory's name, what the next round needs, and each view's files."""

    name: str
    clock: Clock
    files: dict[str, list[str]]


def round_directory(directory: Path, name: str) -> Path:
    return directory / "rounds" / name


def read_manifest(directory: Path) -> Manifest | None:
    """The current round's manifest; None when there is none (or it cannot be read)."""
    try:
        raw = json.loads((directory / CURRENT / MANIFEST).read_bytes())
        clock = Clock(int(raw["started_ms"]), int(raw["window_rows"]), int(raw["schema"]))
        files = {str(v): [str(f) for f in names] for v, names in raw["files"].items()}
        return Manifest(str(raw["round"]), clock, files)
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def staged(client: Client, view: str, where: str = "") -> Iterator[str]:
    """The view's rows (of a WHERE condition) in a memory table, read once and split after;
    refused if it has a personal column (the views are built never to have one; a snapshot
    must not either)."""
    stage = f"analyst_round_{uuid.uuid4().hex}"
    client.command(
        f"CREATE TABLE {stage} ENGINE = Memory AS SELECT * FROM {ANALYST_VIEWS[view]}{where}"
    )
    try:
        described = client.query(f"DESCRIBE TABLE {stage}").result_rows
        leaked = {str(row[0]) for row in described} & PERSONAL_FIELDS
        if leaked:
            raise ConfigError(f"analyst view {view} has personal columns {sorted(leaked)}")
        yield stage
    finally:
        client.command(f"DROP TABLE IF EXISTS {stage} SYNC")


def in_ranges(column: str, granules: set[Granule]) -> str:
    """A WHERE condition: the column's UTC day is in one of the granules (pure)."""
    return " OR ".join(
        f"(toDate({column}) >= toDate('{first}') AND toDate({column}) < toDate('{end}'))"
        for first, end in ranges(granules)
    )


def write_periods(
    client: Client, view: str, granules: set[Granule] | None, month: date, into: Path
) -> list[str]:
    """Write the view's rows of these granules (None: all) to one file per granule that has
    rows, under `into`; their names."""
    if granules is not None and not granules:
        return []
    column = TIME_COLUMNS[view]
    where = "" if granules is None else f" WHERE {in_ranges(column, granules)}"
    with staged(client, view, where) as stage:
        days = client.query(f"SELECT DISTINCT toDate({column}) FROM {stage}").result_rows
        found = {granule_of(row[0], month) for row in days}
        for granule in found:
            data = client.raw_query(
                f"SELECT * FROM {stage} WHERE {in_ranges(column, {granule})}", fmt="Parquet"
            )
            write_atomically(into / f"{granule.name}.parquet", data)
    return sorted(granule.name for granule in found)


def kept(last: Manifest | None, view: str, granules: set[Granule] | None, month: date) -> list[str]:
    """The last round's period files of a view that this round links instead of writing: those
    of granules it does not write, still of the same shape (pure)."""
    if last is None or granules is None:
        return []
    names = [name for name in last.files.get(view, []) if name not in (ALL, EMPTY)]
    return [
        name
        for name in names
        if (granule := granule_named(name)) not in granules
        and granule_of(granule.first, month) == granule
    ]


def write_whole(client: Client, view: str, last: Path | None, into: Path) -> bool:
    """Write a view without a time column as one file unless the last round's holds the same
    bytes; whether it wrote."""
    with staged(client, view) as stage:
        data = client.raw_query(f"SELECT * FROM {stage}", fmt="Parquet")
    if last is not None and last.is_file() and last.read_bytes() == data:
        return False
    write_atomically(into / f"{ALL}.parquet", data)
    return True


def to_write(
    client: Client, last: Manifest | None, clock: Clock, month: date
) -> set[Granule] | None:
    """The granules this round writes; None: all of them."""
    days = None if last is None else changed_days(client, last.clock, clock)
    if last is None or days is None:
        return None
    shapes = {name for names in last.files.values() for name in names if name not in (ALL, EMPTY)}
    return affected_granules(days, month) | regranuled(shapes, month)


def write_snapshots(client: Client, directory: Path) -> list[Path]:
    """One round: write what changed since the last round into a new round directory, link the
    rest, switch `current` to it; the paths written (none when nothing changed)."""
    last = read_manifest(directory)
    clock = round_clock(client)
    month = month_start(datetime.fromtimestamp(clock.started_ms / 1000, UTC).date())
    plan = Plan(last, to_write(client, last, clock, month), month)
    target = round_directory(directory, f"{clock.started_ms}-{uuid.uuid4().hex[:8]}")
    previous = target.with_name(last.name if last else target.name)  # links need a last round
    files: dict[str, list[str]] = {}
    written: list[Path] = []
    for view in ANALYST_VIEWS:
        new, links = view_files(client, view, plan, target / view)
        written += [target / view / f"{name}.parquet" for name in new]
        files[view] = sorted({*new, *links})
        for name in links:
            link(previous / view / f"{name}.parquet", target / view / f"{name}.parquet")
    if not written:
        shutil.rmtree(target, ignore_errors=True)  # only links, if anything
        if last is not None:  # the round replaced a tick ago has had its readers
            prune(directory, keep={last.name})
        return []
    manifest = {"round": target.name, **clock._asdict(), "files": files}
    write_atomically(target / MANIFEST, json.dumps(manifest, indent=1).encode())
    switch(directory, target)
    prune(directory, keep={target.name, *([] if last is None else [last.name])})
    return written


class Plan(NamedTuple):
    """A round's plan: the last round, the granules to write (None: all), the current month."""

    last: Manifest | None
    granules: set[Granule] | None
    month: date


def view_files(client: Client, view: str, plan: Plan, into: Path) -> tuple[list[str], list[str]]:
    """(written, to link from the last round): a view's files in this round."""
    last, granules, month = plan
    if view in TIME_COLUMNS:
        new = write_periods(client, view, granules, month, into)
        links = kept(last, view, granules, month)
    else:
        rounds = into.parents[1]
        same = None if last is None else rounds / last.name / view / f"{ALL}.parquet"
        new = [ALL] if write_whole(client, view, same, into) else []
        links = [] if new or last is None else [ALL]
    if new or links:
        return new, links
    # No row at all: the columns only.
    reuse = last is not None and granules is not None and last.files.get(view) == [EMPTY]
    return empty_file(client, view, reuse, into)


def empty_file(client: Client, view: str, reuse: bool, into: Path) -> tuple[list[str], list[str]]:
    """(written, linked): the file of a view with no row, the last round's if `reuse`."""
    if reuse:
        return [], [EMPTY]
    with staged(client, view, " LIMIT 0") as stage:
        data = client.raw_query(f"SELECT * FROM {stage}", fmt="Parquet")
    write_atomically(into / f"{EMPTY}.parquet", data)
    return [EMPTY], []


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.link(source, target)


def switch(directory: Path, target: Path) -> None:
    """Point `current` at the round in one rename (a reader resolves it once)."""
    temporary = directory / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(target.relative_to(directory), temporary)
    os.replace(temporary, directory / CURRENT)


def prune(directory: Path, keep: set[str]) -> None:
    """Delete the rounds but these, and the single files of the layout before rounds. A round
    keeps the one it replaced, for the readers that resolved `current` just before; the next
    round deletes it, written or not: no replaced file outlives a tick (an erased contact's
    old row among them)."""
    for old in (directory / "rounds").iterdir():
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    for view in ANALYST_VIEWS:
        (directory / f"{view}.parquet").unlink(missing_ok=True)


def query_snapshots(directory: Path, sql: str, fmt: str) -> str:
    """Run `sql` over the current round of snapshots in a sandboxed child process
    (streams/analyst/sandbox.py), read-only and unable to touch any other file; the result in
    ClickHouse format `fmt`. Each snapshot is a table named like its view."""
    require("embedded", "contactstream analyst query", importing=False)
    manifest = read_manifest(directory)
    if manifest is None:
        raise ConfigError(
            f"no analyst snapshots in {directory} yet: a running worker writes them every "
            "CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS"
        )
    request = {
        "directory": str(directory.resolve()),
        "round": manifest.name,  # `current` resolved once: one whole round
        "views": sorted(manifest.files),
        "sql": sql,
        "format": fmt,
    }
    with tempfile.TemporaryDirectory(prefix="contactstream-analyst-") as scratch:
        done = subprocess.run(
            [sys.executable, "-I", "-m", "streams.analyst.sandbox"],
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
