"""Analyst snapshots for the embedded default: the analyst views as Parquet files.

With chDB the worker owns the data directory, so no other process can open it. The leader worker
writes every analyst view to $DATA_DIR/analyst/<view>.parquet on a timer (a fresh temporary
file renamed into place, so a reader never sees half a file); `contactstream analyst query`
and any Parquet reader (DuckDB, pandas, polars, ...) read them. Only the analyst views are
written, and none of them has a personal column (checked here too, before writing).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from clickhouse_connect.driver.client import Client

from schemas.contact import PERSONAL_FIELDS
from streams.errors import ConfigError
from streams.extras import require
from streams.files import write_atomically

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


_WRITES = re.compile(r"\binto\s+outfile\b", re.IGNORECASE)


def query_snapshots(directory: Path, sql: str, fmt: str) -> str:
    """Run read-only `sql` over the snapshots in a throwaway in-memory engine; the result in
    ClickHouse format `fmt`. Each snapshot is a table named like its view."""
    require("embedded", "contactstream analyst query")
    from chdb import session

    present = [v for v in ANALYST_VIEWS if (directory / f"{v}.parquet").is_file()]
    if not present:
        raise ConfigError(
            f"no analyst snapshots in {directory} yet: a running worker writes them every "
            "CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS"
        )
    if _WRITES.search(sql):
        raise ConfigError("analyst queries are read-only: INTO OUTFILE is not allowed")
    engine: Any = session.Session()  # type: ignore[no-untyped-call]  # chdb is untyped
    try:
        for view in present:
            path = str(directory / f"{view}.parquet").replace("'", "\\'")
            engine.query(
                f"CREATE TABLE {view} ENGINE = Memory AS SELECT * FROM file('{path}', Parquet)"
            )
        engine.query("SET readonly = 1")  # the user's SQL can read these tables and no more
        return str(engine.query(sql, fmt))
    finally:
        engine.close()
