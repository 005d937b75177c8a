"""`contactstream retention status|run`: evidence for the DPO (privacy rule P7)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import click
from aiokafka import AIOKafkaProducer

from streams.agents.retention import retention_tombstones
from streams.commands.settings import command_settings
from streams.config import Settings
from streams.errors import StorageLocked
from streams.files import require_private_data
from streams.storage import open_client
from streams.storage.redaction import due_contacts, redaction_totals, retention_counts

_GAUGES = {
    "contactstream_retention_overdue_contacts": "overdue",
    "contactstream_retention_due_30d_contacts": "due_30d",
    "contactstream_retention_last_success_timestamp_seconds": "last_run",
}


def status_from_clickhouse(settings: Settings, now: datetime) -> dict[str, Any]:
    client = open_client(settings)
    try:
        overdue, due_30d = retention_counts(client, now, settings.retention_months)
        last = client.query("SELECT max(run_at), count() FROM retention_runs").result_rows[0]
        redacted = redaction_totals(client)
    finally:
        client.close()
    return {
        "overdue": overdue,
        "due_30d": due_30d,
        "last_run": last[0] if last[1] else None,
        "redacted": redacted,
        "source": "ClickHouse",
    }


def status_from_worker(settings: Settings) -> dict[str, Any] | None:
    """The running worker's last retention figures (counts from ClickHouse), if it wrote any."""
    path = settings.retention_status_path
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    written = datetime.fromisoformat(document["written_at"])
    return {
        "overdue": int(document["overdue"]),
        "due_30d": int(document["due_30d"]),
        "last_run": datetime.fromisoformat(document["last_run"]),
        "redacted": {str(k): int(v) for k, v in document["redacted"].items()},
        "due_now": [(str(cid), datetime.fromisoformat(at)) for cid, at in document["due_now"]],
        "source": f"the running worker's retention run at {written:%Y-%m-%d %H:%M:%S} UTC, "
        f"counted in ClickHouse ({path})",
    }


def status_from_metrics(settings: Settings) -> dict[str, Any]:
    """The running worker's gauges, when it holds the embedded ClickHouse directory."""
    url = f"http://127.0.0.1:{settings.metrics_port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        raise StorageLocked(
            f"ClickHouse is held by a running worker and its metrics endpoint {url} does not answer"
        ) from None
    values: dict[str, Any] = {"source": f"worker metrics at {url}", "redacted": {}}
    for line in text.splitlines():
        name, _, number = line.partition(" ")
        if name in _GAUGES:
            values[_GAUGES[name]] = float(number)
        if name.startswith("contactstream_redactions_applied_total{"):
            reason = name.split('reason="')[1].split('"')[0]
            values["redacted"][reason] = int(float(number))
    last = values.get("last_run")
    values["last_run"] = datetime.fromtimestamp(last, UTC) if last else None
    return values


@click.group("retention")
def retention() -> None:
    """Retention evidence and manual runs (personal data removed after the retention period)."""


@retention.command("status")
def status() -> None:
    """Contacts past due still holding personal data (must be 0), due in 30 days, last run."""
    settings = command_settings()
    if settings.is_embedded:  # it opens chDB (or reads the worker's status) in the data dir
        require_private_data(settings)
    try:
        figures = status_from_clickhouse(settings, datetime.now(UTC))
    except StorageLocked:
        figures = status_from_worker(settings) or status_from_metrics(settings)
    click.echo(f"retention period:            {settings.retention_months} months after handling")
    click.echo(f"past due with personal data: {int(figures.get('overdue', 0))}")
    click.echo(f"due in the next 30 days:     {int(figures.get('due_30d', 0))}")
    click.echo(f"last retention run:          {figures.get('last_run') or 'never'}")
    redacted = figures.get("redacted") or {}
    click.echo(
        "redacted so far:             "
        + (", ".join(f"{reason} {count}" for reason, count in sorted(redacted.items())) or "none")
    )
    click.echo(f"(from {figures['source']})")


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="List what would be redacted now; change nothing.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="At most this many contacts.",
)
def run(dry_run: bool, limit: int) -> None:
    """Find contacts due now and emit their tombstones (the worker redacts them)."""
    settings = command_settings()
    if settings.is_embedded:  # it opens chDB (or reads the worker's status) in the data dir
        require_private_data(settings)
    now = datetime.now(UTC)
    source = ""
    try:
        client = open_client(settings)
    except StorageLocked:
        # The embedded worker holds the database: its own retention run already does this
        # every CONTACTSTREAM_RETENTION_INTERVAL_SECONDS; a dry run shows what it found last.
        worker = status_from_worker(settings) if dry_run else None
        if worker is None:
            raise
        due, source = worker["due_now"][:limit], f" (from {worker['source']})"
    else:
        try:
            due = due_contacts(client, now, settings.retention_months, limit)
        finally:
            client.close()
    if dry_run:
        for contact_id, due_at in due:
            click.echo(f"{contact_id}\tdue {due_at:%Y-%m-%d %H:%M}")
        click.echo(f"{len(due)} contacts would be redacted now (dry run: nothing changed){source}")
        return
    asyncio.run(_emit(settings, due, now))
    click.echo(f"{len(due)} tombstones emitted to {settings.topic('tombstones')}")


async def _emit(settings: Settings, due: list[tuple[str, datetime]], now: datetime) -> None:
    producer = AIOKafkaProducer(acks="all", **settings.kafka_client_config())
    await producer.start()
    try:
        for tombstone in retention_tombstones(due, now):
            await producer.send(
                settings.topic("tombstones"), tombstone.to_json(), key=tombstone.contact_id.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()
