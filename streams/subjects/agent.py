"""Data-subject requests (privacy rule P5): erasure, access/portability exports, rectification.

Each request is executed once (a re-delivered request re-announces its recorded result), audited
without the subject's identifier, and answered on the results topic.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple

import faust
import orjson

from schemas.contact import subject_key
from schemas.control import (
    RecordingDeletion,
    RequestKind,
    SubjectRequest,
    SubjectResult,
    Tombstone,
)
from streams.files import write_atomically
from streams.kafka.records import RawRecord, from_faust
from streams.privacy.lookups import record_erased_subject
from streams.privacy.redaction import send_recording_deletions
from streams.retry import until_done
from streams.subjects.authorize import Policy, Refusal, authorize
from streams.subjects.exports import export_file, remove_subject_exports
from streams.subjects.sql import (
    AuditRow,
    Identifier,
    SubjectContact,
    audit_request,
    erase_rows,
    export_data,
    finished_request,
    recordings_of,
    rectify,
    subject_contacts,
)
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)


class SubjectTopics(NamedTuple):
    """Where a request's consequences go (faust topics, raw bytes)."""

    tombstones: Any
    results: Any
    recording_deletions: Any


class SubjectRequests:
    def __init__(
        self,
        runtime: Runtime,
        topics: SubjectTopics,
        policy: Policy,
    ) -> None:
        self.runtime = runtime
        self.tombstones = topics.tombstones
        self.results = topics.results
        self.recording_deletions = topics.recording_deletions
        self.policy = policy

    async def handle(self, record: RawRecord) -> None:
        """Execute one authorized request until it succeeds; refuse (and audit) the rest."""
        verdict = authorize(record.value, record.headers, self.policy, datetime.now(UTC))
        job = (
            (lambda: self._refuse(verdict, record.offset))
            if isinstance(verdict, Refusal)
            else (lambda: self._execute(verdict, record.offset))
        )
        await until_done(
            job,
            "subjects",
            self.runtime.settings.sink_retry_max_seconds,
            self.runtime.metrics,
            self.runtime.failure_lines,
        )

    async def _execute(self, request: SubjectRequest, offset: int) -> None:
        store = self.runtime.mutations
        previous = await store.call(lambda c: finished_request(c, request.request_id))
        if previous is not None and previous.source_offset in (offset, -1):
            # The same message again (a restart before its offset was committed): same answer.
            await self._announce(
                request.request_id,
                request.kind,
                previous.status,
                previous.contacts,
                previous.detail,
                self._export_path(request),
            )
            return
        if previous is not None:
            refusal = Refusal(
                "replayed",
                f"request already executed at {previous.completed_at:%Y-%m-%dT%H:%M:%SZ}",
                request.request_id,
                request.kind,
            )
            await self._refuse(refusal, offset)
            return
        field: Identifier = "phone" if request.phone else "email"
        value = request.phone or request.email
        assert value is not None  # SubjectRequest guarantees exactly one identifier
        found = await store.call(lambda c: subject_contacts(c, field, value))
        detail, export = await self._dispatch(request, found, (field, value))
        now = datetime.now(UTC)
        await store.call(
            lambda c: audit_request(
                c,
                AuditRow(
                    request_id=request.request_id,
                    kind=request.kind,
                    status="done",
                    contacts=len(found),
                    verified_by=request.verified_by,
                    requested_at=request.requested_at,
                    completed_at=now,
                    detail=detail,
                    source_offset=offset,
                ),
            )
        )
        self.runtime.metrics.subject_requests.labels(request.kind, "done").inc()
        log.info("subject request %s (%s) done: %s", request.request_id, request.kind, detail)
        await self._announce(request.request_id, request.kind, "done", len(found), detail, export)

    async def _refuse(self, refusal: Refusal, offset: int) -> None:
        """Audit a refused message without its identifier; answer it if it has a readable id."""
        now = datetime.now(UTC)
        detail = f"{refusal.code}: {refusal.detail}"
        await self.runtime.mutations.call(
            lambda c: audit_request(
                c,
                AuditRow(
                    request_id=refusal.request_id or "",
                    kind=refusal.kind or "unknown",
                    status="rejected",
                    contacts=0,
                    verified_by="",
                    requested_at=now,
                    completed_at=now,
                    detail=detail,
                    source_offset=offset,
                ),
            )
        )
        self.runtime.metrics.subject_requests.labels(refusal.kind or "unknown", "rejected").inc()
        log.warning("subject request refused (offset %d): %s", offset, detail)
        if refusal.request_id is not None:
            await self._announce(refusal.request_id, refusal.kind, "rejected", 0, detail, None)

    async def _dispatch(
        self,
        request: SubjectRequest,
        found: list[SubjectContact],
        subject: tuple[Identifier, str],
    ) -> tuple[str, str | None]:
        shared = sum(1 for contact in found if contact.shared)
        note = (
            f"; {shared} of them also hold another identifier: only the subject's rows there"
            if shared
            else ""
        )
        if request.kind == "erasure":
            await self._erase(request, found, subject)
            return f"{len(found)} contacts: erased{note}", None
        if request.kind == "rectification":
            return await self._rectify(request, found, subject) + note, None
        field, value = subject
        data = await self.runtime.mutations.call(lambda c: export_data(c, found, field, value))
        path = self._write_export(request, data)
        return f"{len(found)} contacts exported{note}", path

    async def _erase(
        self, request: SubjectRequest, found: list[SubjectContact], subject: tuple[Identifier, str]
    ) -> None:
        """The subject's own contacts are redacted whole through tombstones, like retention;
        in a contact that also holds another identifier only the subject's rows are cleared
        (here), and its call recording's deletion is requested all the same."""
        now = datetime.now(UTC)
        field, value = subject
        # First, so a dead letter of theirs redriven from now on is stored without it.
        erased = subject_key(value, self.runtime.salt)
        await self.runtime.mutations.call(lambda c: record_erased_subject(c, erased, now))
        await self.runtime.inserts.drained()  # batches that looked before it finish first
        own = [contact.key for contact in found if not contact.shared]
        shared = [contact.key for contact in found if contact.shared]
        if shared:
            recordings = await self.runtime.mutations.call(lambda c: recordings_of(c, shared))
            # Asked before the rows are cleared: a retry after a failed clear finds the contact
            # again and asks again (harmless), while the reverse order could lose the request.
            await send_recording_deletions(
                self.recording_deletions,
                [
                    RecordingDeletion(
                        contact_id=key.contact_id,
                        recording_ref=ref,
                        reason="erasure",
                        requested_at=now,
                    )
                    for key, ref in recordings.items()
                ],
            )
            await self.runtime.mutations.call(lambda c: erase_rows(c, shared, field, value))
        futures = []
        for key in own:
            tombstone = Tombstone(
                contact_id=key.contact_id,
                channel=key.channel,
                reason="erasure",
                issued_at=now,
                request_id=request.request_id,
            )
            futures.append(
                await self.tombstones.send(key=key.contact_id.encode(), value=tombstone.to_json())
            )
        for future in futures:
            await future
        self.runtime.metrics.tombstones_emitted.labels("erasure").inc(len(own))
        removed = remove_subject_exports(self.runtime.settings.exports_path, *subject)
        if removed:
            log.info("erasure %s removed %d export files", request.request_id, removed)

    async def _rectify(
        self, request: SubjectRequest, found: list[SubjectContact], subject: tuple[Identifier, str]
    ) -> str:
        correction = request.correction
        assert correction is not None  # required for rectification by the model
        targets = [c.key for c in found if correction.contact_id in (None, c.key.contact_id)]
        if targets:
            key = subject_key(correction.value, self.runtime.salt)
            await self.runtime.mutations.call(
                lambda c: rectify(c, targets, subject, correction.field, (correction.value, key))
            )
        return f"{correction.field} corrected on {len(targets)} contacts"

    def _export_path(self, request: SubjectRequest) -> str | None:
        if request.kind not in ("access", "portability"):
            return None
        return str(export_file(self.runtime.settings.exports_path, request.request_id))

    def _write_export(self, request: SubjectRequest, data: dict[str, Any]) -> str:
        path = export_file(self.runtime.settings.exports_path, request.request_id)
        document = {
            "request_id": request.request_id,
            "kind": request.kind,
            "generated_at": datetime.now(UTC),
            "subject": {"phone": request.phone, "email": request.email},
            **data,
        }
        content = orjson.dumps(
            document, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z
        )
        write_atomically(path, content)
        return str(path)

    async def _announce(
        self,
        request_id: str,
        kind: RequestKind | None,
        status: str,
        count: int,
        detail: str,
        export: str | None,
    ) -> None:
        result = SubjectResult(
            request_id=request_id,
            kind=kind,
            status=status,
            contacts=count,
            export_path=export,
            detail=detail,
            completed_at=datetime.now(UTC),
        )
        future = await self.results.send(key=request_id.encode(), value=result.to_json())
        await future


def register(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings

    def raw_topic(name: str) -> Any:
        return app.topic(settings.topic(name), key_serializer="raw", value_serializer="raw")

    topics = SubjectTopics(
        raw_topic("tombstones"), raw_topic("subject-results"), raw_topic("recording-deletions")
    )
    handler = SubjectRequests(runtime, topics, Policy.of(settings))

    async def subject_requests(stream: Any) -> None:
        async for events in stream.noack_take(100, within=0.5):
            for event in events:
                await handler.handle(from_faust(event.message))
            for event in events:
                await stream.ack(event)

    app.agent(raw_topic("subject-requests"), name="contactstream.subjects")(subject_requests)
