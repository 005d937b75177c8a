"""`contactstream retention status|run`: evidence for the DPO (privacy rule P7).

The figures are those of the configured database and topic prefix only. They are counted in
ClickHouse; while an embedded worker holds the chDB directory (one process only), they come from
the status document its leader's retention run wrote for that same database and prefix
(`Settings.retention_status_path`). A document of another database, prefix, ClickHouse or
retention period is refused; one older than `stale_after` is shown marked STALE and the command
exits 1. The worker's metrics are not used: they carry no database or prefix, so they cannot be
tied to the configured deployment. Read-only use creates nothing (`open_existing_client`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from aiokafka import AIOKafkaProducer

from streams.cli.settings import command_settings
from streams.config import Settings
from streams.errors import ContactstreamError, StorageLocked
from streams.files import require_private_data
from streams.observability.logs import printable
from streams.privacy.retention import retention_tombstones, status_identity
from streams.privacy.sql import (
    ContactKey,
    due_contacts,
    redaction_totals,
    retention_counts,
)
from streams.storage import classify, open_existing_client

EXIT_CURRENT_NONE_OVERDUE = 0
EXIT_NO_CURRENT_EVIDENCE = 1
EXIT_OVERDUE = 2
# A worker's status is stale after three retention intervals, and never before five minutes:
# one slow run (10,000 redactions) or a leadership move must not raise a false alarm.
STALE_INTERVALS = 3
STALE_MIN_SECONDS = 300.0
# A status written this far in the future means a wrong clock: not current evidence either.
_CLOCK_SKEW_SECONDS = 60.0
_STATUS_TABLES = ("contacts_merged", "redaction_log", "retention_runs")
_DUE_TABLES = ("contacts_merged",)

DueEntry = tuple[Any, ...]  # the contact's identifying fields, then its due time


@dataclass(frozen=True)
class Figures:
    """Retention figures of one database and topic prefix, and where they come from."""

    database: str
    topic_prefix: str
    retention_months: int
    overdue: int
    due_30d: int
    last_run: datetime | None
    redacted: dict[str, int]
    source: str  # "clickhouse" or "worker_status"
    as_of: datetime
    status_file: Path | None = None
    stale: bool = False
    due_now: list[DueEntry] = field(default_factory=list)
    oldest_overdue_seconds: float = 0.0

    def to_json(self, stale_after_seconds: float) -> dict[str, Any]:
        return {
            "database": self.database,
            "topic_prefix": self.topic_prefix,
            "retention_months": self.retention_months,
            "overdue": self.overdue,
            "oldest_overdue_seconds": round(self.oldest_overdue_seconds, 1),
            "due_30d": self.due_30d,
            "last_run": self.last_run.isoformat() if self.last_run else None,
            "redacted": dict(sorted(self.redacted.items())),
            "source": self.source,
            "status_file": str(self.status_file) if self.status_file else None,
            "as_of": self.as_of.isoformat(),
            "stale": self.stale,
            "stale_after_seconds": stale_after_seconds,
        }


def stale_after(settings: Settings) -> float:
    """Seconds after which a worker's status document is no longer current evidence."""
    return max(STALE_INTERVALS * settings.retention_interval_seconds, STALE_MIN_SECONDS)


def is_stale(written_at: datetime, now: datetime, bound: float) -> bool:
    age = (now - written_at).total_seconds()
    return age > bound or age < -_CLOCK_SKEW_SECONDS


def late_after(settings: Settings) -> float:
    """Seconds past due after which personal data is held longer than the schedule allows:
    the redaction batch's wait, then time for a retention run to see it and for the redaction
    to finish (two retention intervals, at least 5 minutes). Contacts past due for less are
    waiting for their batch, as designed (docs/operating.md#retention-schedule)."""
    return settings.redaction_batch_seconds + max(
        2 * settings.retention_interval_seconds, STALE_MIN_SECONDS
    )


def is_late(figures: Figures, bound: float) -> bool:
    return figures.overdue > 0 and figures.oldest_overdue_seconds > bound


def exit_code(figures: Figures, late_bound: float) -> int:
    if figures.stale:
        return EXIT_NO_CURRENT_EVIDENCE
    return EXIT_OVERDUE if is_late(figures, late_bound) else EXIT_CURRENT_NONE_OVERDUE


def _utc(moment: datetime) -> datetime:
    """ClickHouse returns UTC times without a zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def status_from_clickhouse(settings: Settings, now: datetime) -> Figures:
    client = open_existing_client(settings, _STATUS_TABLES)
    try:
        counts = retention_counts(client, now, settings.retention_months)
        last = client.query("SELECT max(run_at), count() FROM retention_runs").result_rows[0]
        redacted = redaction_totals(client)
    except Exception as exc:
        raise classify(exc, settings) from None
    finally:
        client.close()
    return Figures(
        database=settings.clickhouse_database,
        topic_prefix=settings.topic_prefix,
        retention_months=settings.retention_months,
        overdue=counts.overdue,
        due_30d=counts.due_30d,
        last_run=_utc(last[0]) if last[1] else None,
        redacted=redacted,
        source="clickhouse",
        as_of=now,
        oldest_overdue_seconds=counts.oldest_overdue_seconds,
    )


def _describe(identity: dict[str, Any]) -> str:
    return (
        f"database {identity.get('database')} (topic prefix {identity.get('topic_prefix')}, "
        f"{identity.get('retention_months')} months, {identity.get('clickhouse')})"
    )


def foreign_reason(document: dict[str, Any], settings: Settings, path: Path) -> str | None:
    """Why this status document is not the configured deployment's, or None when it is."""
    ours = status_identity(settings)
    theirs = {key: document.get(key) for key in ours}
    if theirs == ours:
        return None
    return (
        f"{path} holds the retention status of {_describe(theirs)}, not of the configured "
        f"{_describe(ours)}: refusing to show another database's figures"
    )


def figures_from_document(
    document: dict[str, Any], settings: Settings, path: Path, now: datetime
) -> Figures:
    written = _utc(datetime.fromisoformat(document["written_at"]))
    due_now: list[DueEntry] = [
        (*map(str, entry[:-1]), datetime.fromisoformat(entry[-1])) for entry in document["due_now"]
    ]
    # A document without it (an older worker): as late as its oldest listed entry.
    oldest_listed = min((_utc(entry[-1]) for entry in due_now), default=written)
    return Figures(
        database=str(document["database"]),
        topic_prefix=str(document["topic_prefix"]),
        retention_months=int(document["retention_months"]),
        overdue=int(document["overdue"]),
        due_30d=int(document["due_30d"]),
        last_run=_utc(datetime.fromisoformat(document["last_run"])),
        redacted={str(k): int(v) for k, v in document["redacted"].items()},
        source="worker_status",
        as_of=written,
        status_file=path,
        stale=is_stale(written, now, stale_after(settings)),
        due_now=due_now,
        oldest_overdue_seconds=float(
            document.get(
                "oldest_overdue_seconds", max(0.0, (written - oldest_listed).total_seconds())
            )
        ),
    )


def status_from_worker(settings: Settings, now: datetime, locked: StorageLocked) -> Figures:
    """The figures of the configured database from the status document the worker holding
    ClickHouse wrote; one-line errors when there is none, it is unreadable or foreign."""
    path = settings.retention_status_path
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise StorageLocked(
            f"{locked} (no retention status of database {settings.clickhouse_database}, "
            f"topic prefix {settings.topic_prefix} at {path} yet: the worker's leader writes "
            f"it after each retention run, every {settings.retention_interval_seconds:g} s)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ContactstreamError(
            f"{path}: cannot read the worker's retention status ({type(exc).__name__})"
        ) from None
    if not isinstance(document, dict):
        raise ContactstreamError(f"{path}: not a retention status document")
    reason = foreign_reason(document, settings, path)
    if reason is not None:
        raise ContactstreamError(reason)
    try:
        return figures_from_document(document, settings, path, now)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        raise ContactstreamError(f"{path}: not a complete retention status document") from None


def current_figures(settings: Settings, now: datetime) -> Figures:
    try:
        return status_from_clickhouse(settings, now)
    except StorageLocked as locked:
        return status_from_worker(settings, now, locked)


def source_line(figures: Figures) -> str:
    if figures.source == "clickhouse":
        return f"(counted in ClickHouse at {figures.as_of:%Y-%m-%d %H:%M:%S} UTC)"
    marker = "STALE: " if figures.stale else ""
    return (
        f"({marker}from the running worker's retention run at "
        f"{figures.as_of:%Y-%m-%d %H:%M:%S} UTC, counted in ClickHouse ({figures.status_file}))"
    )


def duration(seconds: float) -> str:
    """A short human reading of an age: 45 s, 12 min, 5 h, 3 days."""
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if abs(seconds) >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def stale_line(figures: Figures, now: datetime, bound: float) -> str:
    age = (now - figures.as_of).total_seconds()
    when = f"{duration(age)} ago" if age >= 0 else f"{duration(-age)} in the future"
    return (
        f"STALE: the worker's retention status of database {figures.database} was written "
        f"{when} (current for {bound:g} s): these are not current figures; is the worker's "
        "retention job running?"
    )


def overdue_note(figures: Figures, late_bound: float) -> str:
    if figures.overdue == 0:
        return ""
    oldest = duration(figures.oldest_overdue_seconds)
    if is_late(figures, late_bound):
        return f" (LATE: the oldest {oldest} past due, over the schedule's {duration(late_bound)})"
    return f" (waiting for their redaction batch: the oldest {oldest} past due)"


def status_lines(figures: Figures, now: datetime, bound: float, late_bound: float) -> list[str]:
    redacted = ", ".join(f"{reason} {count}" for reason, count in sorted(figures.redacted.items()))
    last = f"{figures.last_run:%Y-%m-%d %H:%M:%S} UTC" if figures.last_run else "never"
    lines = [stale_line(figures, now, bound)] if figures.stale else []
    return [
        *lines,
        f"database:                    {figures.database} (topic prefix {figures.topic_prefix})",
        f"retention period:            {figures.retention_months} months after handling",
        f"past due with personal data: {figures.overdue}{overdue_note(figures, late_bound)}",
        f"due in the next 30 days:     {figures.due_30d}",
        f"last retention run:          {last}",
        f"redacted so far:             {redacted or 'none'}",
        source_line(figures),
    ]


@click.group("retention")
def retention() -> None:
    """Retention evidence and manual runs (personal data removed after the retention period)."""


@retention.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Contacts past due still holding personal data (none longer than the redaction schedule
    allows), due in 30 days, last run,
    redactions so far: of the configured database and topic prefix only. While an embedded
    worker holds ClickHouse, from the status its last retention run wrote (another database's
    is refused; one older than 3 retention intervals, at least 5 minutes, is shown as STALE).

    Exit codes: 0 current figures, none past due longer than the redaction schedule allows
    (CONTACTSTREAM_REDACTION_BATCH_SECONDS plus two retention intervals, at least 5 minutes);
    2 current figures, personal data held past that; 1 no current figures (an error, a STALE
    worker status, another database's status, a database not migrated)."""
    settings = command_settings()
    if settings.is_embedded:  # it opens chDB (or reads the worker's status) in the data dir
        require_private_data(settings)
    now = datetime.now(UTC)
    figures = current_figures(settings, now)
    bound, late_bound = stale_after(settings), late_after(settings)
    if as_json:
        document = figures.to_json(bound)
        document.update(late_after_seconds=late_bound, late=is_late(figures, late_bound))
        click.echo(json.dumps(document))
    else:
        for line in status_lines(figures, now, bound, late_bound):
            click.echo(line)
    if figures.stale:
        click.echo(f"contactstream: error: {stale_line(figures, now, bound)}", err=True)
    ctx.exit(exit_code(figures, late_bound))


def due_line(entry: Sequence[Any]) -> str:
    *identity, due_at = entry
    return "\t".join([*(printable(str(part)) for part in identity), f"due {due_at:%Y-%m-%d %H:%M}"])


def _due_now(
    settings: Settings, now: datetime, limit: int
) -> tuple[list[DueEntry], Figures | None]:
    """What is due now: from ClickHouse, or from the holding worker's last run (its figures)."""
    try:
        client = open_existing_client(settings, _DUE_TABLES)
    except StorageLocked as locked:
        figures = status_from_worker(settings, now, locked)
        return figures.due_now[:limit], figures
    try:
        due = due_contacts(client, now, settings.retention_months, limit)
    except Exception as exc:
        raise classify(exc, settings) from None
    finally:
        client.close()
    return [(*key, due_at) for key, due_at in due], None


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="List what would be redacted now; change nothing.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="At most this many contacts.",
)
@click.pass_context
def run(ctx: click.Context, dry_run: bool, limit: int) -> None:
    """Find contacts due now and emit their tombstones (the worker redacts them).

    While an embedded worker holds ClickHouse, a dry run lists what its last retention run
    found (exit 1 when that status is STALE); a real run is left to the worker."""
    settings = command_settings()
    if settings.is_embedded:  # it opens chDB (or reads the worker's status) in the data dir
        require_private_data(settings)
    now = datetime.now(UTC)
    if dry_run:
        entries, figures = _due_now(settings, now, limit)
        for entry in entries:
            click.echo(due_line(entry))
        source = f" {source_line(figures)}" if figures else ""
        click.echo(
            f"database {settings.clickhouse_database}: {len(entries)} contacts would be "
            f"redacted now (dry run: nothing changed){source}"
        )
        ctx.exit(EXIT_NO_CURRENT_EVIDENCE if figures and figures.stale else 0)
    # The embedded worker holding the database runs this itself every retention interval.
    client = open_existing_client(settings, _DUE_TABLES)
    try:
        due = due_contacts(client, now, settings.retention_months, limit)
    except Exception as exc:
        raise classify(exc, settings) from None
    finally:
        client.close()
    asyncio.run(_emit(settings, due, now))
    click.echo(f"{len(due)} tombstones emitted to {settings.topic('tombstones')}")


async def _emit(settings: Settings, due: list[tuple[ContactKey, datetime]], now: datetime) -> None:
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
