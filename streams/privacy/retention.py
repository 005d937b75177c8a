"""Retention: on the leader, find contacts past their retention time that still hold personal
data and emit one tombstone each (privacy rules P2, P4). Idempotent: a tick that overlaps a
leadership move, or a re-run, at worst re-emits tombstones that the redaction agent ignores.

Due contacts are released in batches (`release_now`): a redaction's mutation rewrites the parts
holding its contacts whether it names 2 of them or 200, so one batch an hour rewrites a part
once where a release every tick would rewrite it sixty times. The batch goes once its oldest
contact has been due `redaction_batch_seconds` (default 1 h), so nothing holds personal data
longer than that plus a redaction past its due time (docs/operating.md: the bound, its alert)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from schemas.control import Tombstone
from streams.config import Settings
from streams.files import write_atomically
from streams.privacy.sql import (
    ContactKey,
    due_contacts,
    redaction_totals,
    retention_counts,
)
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)
# A tombstone emitted less than this long ago is not emitted again (redaction is still running).
_REEMIT_AFTER = timedelta(minutes=10)
_EXPORT_MAX_AGE = timedelta(days=7)


def retention_tombstones(due: list[tuple[ContactKey, datetime]], now: datetime) -> list[Tombstone]:
    """One retention tombstone per due contact (ClickHouse returns UTC times without a zone)."""
    return [
        Tombstone(
            contact_id=key.contact_id,
            channel=key.channel,
            reason="retention",
            issued_at=now,
            due_at=due_at.replace(tzinfo=UTC),
        )
        for key, due_at in due
    ]


def release_now(
    due: Sequence[tuple[ContactKey, datetime]], now: datetime, wait: timedelta, size: int
) -> bool:
    """Whether the due contacts (oldest first, as due_contacts returns them) go to redaction
    now: once the oldest has been due `wait`, or a full batch is due (pure)."""
    if not due:
        return False
    return len(due) >= size or now - due[0][1].replace(tzinfo=UTC) >= wait


def oldest_overdue_seconds(due: Sequence[tuple[ContactKey, datetime]], now: datetime) -> float:
    """How long the oldest due contact has been past its due time (0: none due)."""
    return (now - due[0][1].replace(tzinfo=UTC)).total_seconds() if due else 0.0


@dataclass(frozen=True)
class RetentionRun:
    run_at: datetime
    due_found: int
    tombstones: int
    overdue: int
    due_30d: int
    duration_ms: int
    oldest_overdue_seconds: float = 0.0


class RetentionJob:
    def __init__(self, runtime: Runtime, tombstones: Any) -> None:
        self.runtime = runtime
        self.tombstones = tombstones
        self._emitted: dict[ContactKey, datetime] = {}

    async def run_once(self, now: datetime | None = None) -> RetentionRun:
        started = time.monotonic()
        now = now or datetime.now(UTC)
        settings = self.runtime.settings
        store = self.runtime.mutations
        due = await store.call(
            lambda c: due_contacts(c, now, settings.retention_months, settings.retention_batch_size)
        )
        wait = timedelta(seconds=settings.redaction_batch_seconds)
        released = due if release_now(due, now, wait, settings.retention_batch_size) else []
        fresh = [
            (key, at)
            for key, at in released
            if now - self._emitted.get(key, now - _REEMIT_AFTER) >= _REEMIT_AFTER
        ]
        await self._emit(fresh, now)
        overdue, due_30d, _ = await store.call(
            lambda c: retention_counts(c, now, settings.retention_months)
        )
        run = RetentionRun(
            now,
            len(due),
            len(fresh),
            overdue,
            due_30d,
            int((time.monotonic() - started) * 1000),
            oldest_overdue_seconds(due, now),
        )
        await store.call(lambda c: _record(c, run, settings.retention_months))
        redacted = await store.call(redaction_totals)
        write_status(settings, run, redacted, due)
        self._observe(run)
        purge_exports(self.runtime.settings.exports_path, now)
        return run

    async def _emit(self, due: list[tuple[ContactKey, datetime]], now: datetime) -> None:
        futures = []
        for tombstone in retention_tombstones(due, now):
            futures.append(
                await self.tombstones.send(
                    key=tombstone.contact_id.encode(), value=tombstone.to_json()
                )
            )
        for future in futures:
            await future
        self._emitted = {cid: at for cid, at in self._emitted.items() if now - at < _REEMIT_AFTER}
        self._emitted.update((key, now) for key, _ in due)

    def _observe(self, run: RetentionRun) -> None:
        metrics = self.runtime.metrics
        metrics.tombstones_emitted.labels("retention").inc(run.tombstones)
        metrics.retention_overdue_contacts.set(run.overdue)
        metrics.retention_oldest_overdue.set(run.oldest_overdue_seconds)
        metrics.retention_due_30d_contacts.set(run.due_30d)
        metrics.retention_last_success.set(run.run_at.timestamp())
        log.info(
            "retention run: %d due, %d tombstones emitted, %d overdue, %d due in 30 days",
            run.due_found,
            run.tombstones,
            run.overdue,
            run.due_30d,
        )


def _record(client: Any, run: RetentionRun, months: int) -> None:
    client.insert(
        "retention_runs",
        [[run.run_at, months, run.due_found, run.tombstones, run.duration_ms]],
        column_names=["run_at", "retention_months", "due_found", "tombstones", "duration_ms"],
    )


def status_identity(settings: Settings) -> dict[str, Any]:
    """Whose figures a status document holds: `retention status` shows only a document whose
    identity is the configured deployment's."""
    return {
        "database": settings.clickhouse_database,
        "topic_prefix": settings.topic_prefix,
        "clickhouse": settings.dsn_for_display,
        "retention_months": settings.retention_months,
    }


def status_document(
    settings: Settings,
    run: RetentionRun,
    redacted: dict[str, int],
    due: Sequence[tuple[ContactKey, datetime]],
) -> dict[str, Any]:
    """The DPO's evidence from this run, for `retention status|run --dry-run` while the worker
    holds the embedded database: whose figures they are (database, topic prefix, ClickHouse,
    retention period) and when they were counted, the counts from ClickHouse and the contacts
    due now (identifiers then the due time; no personal data)."""
    return {
        **status_identity(settings),
        "interval_seconds": settings.retention_interval_seconds,
        "written_at": run.run_at.isoformat(),
        "overdue": run.overdue,
        "oldest_overdue_seconds": run.oldest_overdue_seconds,
        "due_30d": run.due_30d,
        "last_run": run.run_at.isoformat(),
        "redacted": redacted,
        "due_now": [[key.contact_id, key.channel, at.isoformat()] for key, at in due],
    }


def write_status(
    settings: Settings,
    run: RetentionRun,
    redacted: dict[str, int],
    due: Sequence[tuple[ContactKey, datetime]],
) -> None:
    """Write this run's status document to `settings.retention_status_path` (one file per
    database and topic prefix), atomically."""
    document = status_document(settings, run, redacted, due)
    write_atomically(settings.retention_status_path, json.dumps(document).encode())


def purge_exports(directory: Any, now: datetime) -> int:
    """Subject exports hold personal data too (P3): remove those older than a week."""
    removed = 0
    if not directory.exists():
        return 0
    cutoff = (now - _EXPORT_MAX_AGE).timestamp()
    for path in directory.glob("*.json"):
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def register(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    topic = app.topic(settings.topic("tombstones"), key_serializer="raw", value_serializer="raw")
    job = RetentionJob(runtime, topic)

    async def retention_tick() -> None:
        try:
            await job.run_once()
        except Exception as exc:
            log.error("retention run failed: %s", type(exc).__name__)

    app.timer(settings.retention_interval_seconds, on_leader=True, name="contactstream.retention")(
        retention_tick
    )
