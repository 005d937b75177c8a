"""Redaction: tombstones -> personal fields removed from every ClickHouse table, audited,
recordings' deletion requested (privacy rules P3, P4). Idempotent: a contact that holds no
personal data any more and is marked redacted is left alone, and gets no second audit row."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import faust
from pydantic import ValidationError

from schemas.control import RecordingDeletion, Tombstone
from streams.errors import StorageError
from streams.privacy.lookups import redacted_among
from streams.privacy.sql import (
    ContactKey,
    needing_redaction,
    redact,
    remaining_personal,
)
from streams.retry import until_done
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)
_AUDIT_COLUMNS = ["contact_id", "channel", "reason", "request_id", "due_at", "redacted_at"]


TombstoneTarget = tuple[str, str | None]
"""(contact_id, channel); channel None in tombstones written before contacts had channels."""


def latest_tombstones(values: Sequence[bytes]) -> dict[TombstoneTarget, Tombstone]:
    """One tombstone per contact (pure); an erasure outranks retention for the audit reason."""
    chosen: dict[TombstoneTarget, Tombstone] = {}
    for value in values:
        try:
            tombstone = Tombstone.from_json(value)
        except ValidationError:
            log.warning("ignored a tombstone that does not validate")
            continue
        target = (tombstone.contact_id, tombstone.channel)
        current = chosen.get(target)
        if current is None or (current.reason == "retention" and tombstone.reason == "erasure"):
            chosen[target] = tombstone
    return chosen


def tombstone_for(
    key: ContactKey, tombstones: dict[TombstoneTarget, Tombstone]
) -> Tombstone | None:
    """The tombstone that names this contact: its own, else an id-only one (pure)."""
    own = tombstones.get((key.contact_id, key.channel))
    legacy = tombstones.get((key.contact_id, None))
    if own is None or legacy is None:
        return own or legacy
    return legacy if (own.reason, legacy.reason) == ("retention", "erasure") else own


class Redactor:
    def __init__(self, runtime: Runtime, recording_deletions: Any) -> None:
        self.runtime = runtime
        self.recording_deletions = recording_deletions

    async def handle(self, values: Sequence[bytes]) -> int:
        """Redact the contacts of these tombstones; retry until done. Returns contacts redacted."""
        return await until_done(
            lambda: self._process(latest_tombstones(values)),
            "redaction",
            self.runtime.settings.sink_retry_max_seconds,
            self.runtime.metrics,
            self.runtime.failure_lines,
        )

    async def _process(self, tombstones: dict[TombstoneTarget, Tombstone]) -> int:
        store = self.runtime.mutations
        ids = sorted({contact_id for contact_id, _ in tombstones})
        found = await store.call(lambda c: needing_redaction(c, ids))
        need: dict[ContactKey, tuple[Tombstone, str | None]] = {}
        for key, recording in found.items():
            tombstone = tombstone_for(key, tombstones)
            if tombstone is not None:
                need[key] = (tombstone, recording)
        if not need:
            return 0
        now = datetime.now(UTC)
        # Audit first: from this moment late events of these contacts are stored stripped.
        await store.call(lambda c: _audit(c, need, now))
        await self.runtime.inserts.drained()
        await self._request_recording_deletions(need, now)
        by_reason: dict[str, list[ContactKey]] = defaultdict(list)
        for key, (tombstone, _) in need.items():
            by_reason[tombstone.reason].append(key)
        for reason, group in sorted(by_reason.items()):
            await store.call(lambda c, g=group, r=reason: redact(c, g, r, now))  # type: ignore[misc]
        left = await store.call(lambda c: remaining_personal(c, list(need)))
        if left:
            raise StorageError(f"{left} rows still hold personal data after redaction")
        for reason, group in by_reason.items():
            self.runtime.metrics.redactions_applied.labels(reason).inc(len(group))
        log.info(
            "redacted %d contacts (%s)",
            len(need),
            ", ".join(f"{r}={len(g)}" for r, g in sorted(by_reason.items())),
        )
        return len(need)

    async def _request_recording_deletions(
        self, need: dict[ContactKey, tuple[Tombstone, str | None]], now: datetime
    ) -> None:
        requests = [
            RecordingDeletion(
                contact_id=key.contact_id,
                recording_ref=recording,
                reason=tombstone.reason,
                requested_at=now,
            )
            for key, (tombstone, recording) in need.items()
            if key.channel == "phone" and recording
        ]
        await send_recording_deletions(self.recording_deletions, requests)


async def send_recording_deletions(topic: Any, requests: Sequence[RecordingDeletion]) -> None:
    """Ask the recording store to delete these recordings (key = contact_id); wait for acks."""
    futures = [
        await topic.send(key=request.contact_id.encode(), value=request.to_json())
        for request in requests
    ]
    for future in futures:
        await future


def _audit(
    client: Any, need: dict[ContactKey, tuple[Tombstone, str | None]], now: datetime
) -> None:
    """One audit row per contact, the first time it is redacted (no personal data)."""
    done = redacted_among(client, sorted({key.contact_id for key in need}))
    rows = [
        [key.contact_id, key.channel, tombstone.reason, tombstone.request_id, tombstone.due_at, now]
        for key, (tombstone, _) in need.items()
        if key not in done
    ]
    if rows:
        client.insert("redaction_log", rows, column_names=_AUDIT_COLUMNS)


def register(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    topic = app.topic(settings.topic("tombstones"), key_serializer="raw", value_serializer="raw")
    deletions = app.topic(
        settings.topic("recording-deletions"), key_serializer="raw", value_serializer="raw"
    )
    redactor = Redactor(runtime, deletions)

    async def redact_contacts(stream: Any) -> None:
        # A window of seconds: erasures requested together share one mutation per table.
        gather = settings.redaction_gather_seconds
        async for events in stream.noack_take(settings.retention_batch_size, within=gather):
            await redactor.handle([event.message.value or b"" for event in events])
            for event in events:
                await stream.ack(event)

    app.agent(topic, name="contactstream.redaction")(redact_contacts)
