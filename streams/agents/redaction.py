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
from streams.retry import until_done
from streams.runtime import Runtime
from streams.storage.queries import redacted_among
from streams.storage.redaction import needing_redaction, redact, remaining_personal

log = logging.getLogger(__name__)
_AUDIT_COLUMNS = ["contact_id", "channel", "reason", "request_id", "due_at", "redacted_at"]


def latest_tombstones(values: Sequence[bytes]) -> dict[str, Tombstone]:
    """One tombstone per contact (pure); an erasure outranks retention for the audit reason."""
    chosen: dict[str, Tombstone] = {}
    for value in values:
        try:
            tombstone = Tombstone.from_json(value)
        except ValidationError:
            log.warning("ignored a tombstone that does not validate")
            continue
        current = chosen.get(tombstone.contact_id)
        if current is None or (current.reason == "retention" and tombstone.reason == "erasure"):
            chosen[tombstone.contact_id] = tombstone
    return chosen


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
        )

    async def _process(self, tombstones: dict[str, Tombstone]) -> int:
        store = self.runtime.store
        ids = list(tombstones)
        need = await store.call(lambda c: needing_redaction(c, ids))
        if not need:
            return 0
        now = datetime.now(UTC)
        # Audit first: from this moment late events of these contacts are stored stripped.
        await store.call(lambda c: _audit(c, need, tombstones, now))
        await self._request_recording_deletions(need, tombstones, now)
        by_reason: dict[str, list[str]] = defaultdict(list)
        for contact_id in need:
            by_reason[tombstones[contact_id].reason].append(contact_id)
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
        self, need: dict[str, dict[str, Any]], tombstones: dict[str, Tombstone], now: datetime
    ) -> None:
        futures = []
        for contact_id, info in need.items():
            if info["channel"] == "phone" and info["recording_ref"]:
                request = RecordingDeletion(
                    contact_id=contact_id,
                    recording_ref=info["recording_ref"],
                    reason=tombstones[contact_id].reason,
                    requested_at=now,
                )
                futures.append(
                    await self.recording_deletions.send(
                        key=contact_id.encode(), value=request.to_json()
                    )
                )
        for future in futures:
            await future


def _audit(
    client: Any, need: dict[str, dict[str, Any]], tombstones: dict[str, Tombstone], now: datetime
) -> None:
    """One audit row per contact, the first time it is redacted (no personal data)."""
    done = redacted_among(client, list(need))
    rows = [
        [
            cid,
            info["channel"],
            tombstones[cid].reason,
            tombstones[cid].request_id,
            tombstones[cid].due_at,
            now,
        ]
        for cid, info in need.items()
        if cid not in done
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
        async for events in stream.noack_take(settings.retention_batch_size, within=1.0):
            await redactor.handle([event.message.value or b"" for event in events])
            for event in events:
                await stream.ack(event)

    app.agent(topic, name="contactstream.redaction")(redact_contacts)
