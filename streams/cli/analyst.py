"""`contactstream analyst`: analysts' read-only queries over the snapshots."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from streams.config import Settings
from streams.errors import ContactstreamError


@click.group("analyst")
def analyst() -> None:
    """Analysts' read-only access to the snapshots the worker writes on the embedded default."""


@analyst.command("query")
@click.argument("sql")
@click.option(
    "--format",
    "output",
    type=click.Choice(["table", "csv"]),
    default="table",
    show_default=True,
    help="A table on screen, or CSV with a header for scripts.",
)
def analyst_query(sql: str, output: str) -> None:
    """Run read-only SQL over the analyst snapshots (tables analyst_contacts, kpi_hourly,
    kpi_daily, kpi_backlog, kpi_service_level_60s; rewritten by the leader worker every
    CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS, 60 s by default), in a sandbox that reads no other
    file and leaves no file behind (Linux Landlock)."""
    from streams.analyst.snapshots import query_snapshots
    from streams.storage.client import classify

    directory = Settings().analyst_path  # no Kafka here: no local-broker notice
    try:
        if output == "csv":
            click.echo(query_snapshots(directory, sql, "CSVWithNames"), nl=False)
            return
        document = json.loads(query_snapshots(directory, sql, "JSONCompact"))
    except ContactstreamError:
        raise
    except Exception as exc:
        raise ContactstreamError(str(classify(exc))) from None
    table = Table(*(column["name"] for column in document["meta"]))
    for row in document["data"]:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)
    click.echo(f"{document['rows']} row(s) from {directory}")


