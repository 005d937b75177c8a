"""`contactstream subject export|erase|rectify`: data-subject requests through the worker.

The request goes to the subject-requests topic (the worker owns ClickHouse), the command waits
for the worker's answer on the results topic and prints it.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from schemas.control import SubjectRequest, SubjectResult
from streams.cli.progress import progress_of
from streams.cli.settings import command_settings
from streams.config import Settings
from streams.errors import ContactstreamError
from streams.subjects.signing import SIGNATURE_HEADER, sign, signing_key


def _identity(func: Any) -> Any:
    func = click.option(
        "--verified-by",
        default=None,
        help="Who verified the person's identity (default: your user name).",
    )(func)
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=120.0,
        show_default=True,
        help="Seconds to wait for the worker's answer.",
    )(func)
    func = click.option(
        "--no-wait",
        is_flag=True,
        help="Send the request and return at once (it runs when a worker takes it).",
    )(func)
    func = click.option("--email", default=None, help="The person's email address.")(func)
    return click.option("--phone", default=None, help="The person's phone number.")(func)


@click.group("subject")
def subject() -> None:
    """Data-subject requests: export (access/portability), erase, rectify."""


@subject.command("export")
@_identity
@click.option(
    "--kind",
    type=click.Choice(["portability", "access"]),
    default="portability",
    show_default=True,
    help="Right exercised; both give a machine-readable JSON export.",
)
def export(
    phone: str | None,
    email: str | None,
    timeout: float,
    verified_by: str | None,
    kind: str,
    no_wait: bool,
) -> None:
    """Export everything held about a person to a JSON file; print its path."""
    result = _request(kind, phone, email, verified_by, timeout, no_wait=no_wait)
    if result is not None:
        click.echo(f"{result.detail}: {result.export_path}")


@subject.command("erase")
@_identity
def erase(
    phone: str | None, email: str | None, timeout: float, verified_by: str | None, no_wait: bool
) -> None:
    """Redact all of a person's contacts now (right to be forgotten)."""
    result = _request("erasure", phone, email, verified_by, timeout, no_wait=no_wait)
    if result is not None:
        click.echo(result.detail)


@subject.command("rectify")
@_identity
@click.option(
    "--field",
    "field_name",
    type=click.Choice(["phone", "email"]),
    required=True,
    help="The field to correct.",
)
@click.option("--value", required=True, help="The correct value.")
@click.option("--contact-id", default=None, help="Correct only this contact.")
def rectify(
    phone: str | None,
    email: str | None,
    timeout: float,
    verified_by: str | None,
    field_name: str,
    value: str,
    contact_id: str | None,
    no_wait: bool,
) -> None:
    """Correct a person's phone number or email address on their contacts."""
    correction = {"field": field_name, "value": value, "contact_id": contact_id}
    result = _request(
        "rectification", phone, email, verified_by, timeout, correction, no_wait=no_wait
    )
    if result is not None:
        click.echo(result.detail)


def _request(
    kind: str,
    phone: str | None,
    email: str | None,
    verified_by: str | None,
    timeout: float,
    correction: dict[str, Any] | None = None,
    no_wait: bool = False,
) -> SubjectResult | None:
    if (phone is None) == (email is None):
        raise click.UsageError("give exactly one of --phone or --email")
    settings = command_settings()
    now = datetime.now(UTC)
    try:
        request = SubjectRequest.model_validate(
            {
                "request_id": str(uuid.uuid4()),
                "kind": kind,
                "phone": phone,
                "email": email,
                "correction": correction,
                "verified_by": verified_by or getpass.getuser(),
                "deployment": settings.deployment,
                "verified_at": now,
                "requested_at": now,
                "expires_at": now + timedelta(seconds=settings.subject_request_ttl_seconds),
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "request"
        raise click.UsageError(f"invalid {where}: {first['msg']}") from None
    # After the arguments (a wrong one is the first thing to fix), before anything is sent.
    key = signing_key(settings)
    if no_wait:
        asyncio.run(asyncio.wait_for(_send(settings, request, key), 60))
        click.echo(f"request {request.request_id} sent; a worker will execute it")
        return None
    if asyncio.run(_workers(settings)) == 0 and not _leave_queued(settings):
        raise ContactstreamError(
            "request not sent: no worker is running; start one ('contactstream worker') "
            "or send it with --no-wait to have it run when one starts"
        )
    waited = Elapsed(timeout)
    try:
        # A principal without DESCRIBE on the results topic makes aiokafka wait for ever.
        with progress_of(waited, "waiting for the worker's answer (s)"):
            result = asyncio.run(
                asyncio.wait_for(
                    _send_and_wait(settings, request, key, timeout, waited), timeout + 30
                )
            )
    except KeyboardInterrupt:
        click.echo(
            f"interrupted after {waited.count} s: request {request.request_id} "
            f"{'was sent and a worker will still execute it' if waited.sent else 'was not sent'}",
            err=True,
        )
        sys.exit(130)
    except TimeoutError:
        raise ContactstreamError(
            f"Kafka at {settings.kafka_bootstrap} did not answer; is "
            "CONTACTSTREAM_KAFKA_USERNAME allowed to write the subject-requests topic and read "
            "subject-results?"
        ) from None
    if result.status != "done":
        raise ContactstreamError(f"request {request.request_id} failed: {result.detail}")
    return result


class Elapsed:
    """Seconds waited so far (read by the progress display) and whether the request left."""

    def __init__(self, total: float) -> None:
        self.total = int(total)
        self.count = 0
        self.sent = False


async def _send_and_wait(
    settings: Settings,
    request: SubjectRequest,
    key: Ed25519PrivateKey,
    wait_seconds: float,
    waited: Elapsed | None = None,
) -> SubjectResult:
    results = settings.topic("subject-results")
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **settings.kafka_client_config())
    await consumer.start()
    try:
        partitions = [
            TopicPartition(results, p) for p in sorted(await _partitions(consumer, results))
        ]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve the position now, before the request is sent
            await consumer.position(tp)
        await _send(settings, request, key)
        started = time.monotonic()
        if waited is not None:
            waited.sent = True
        deadline = started + wait_seconds
        while time.monotonic() < deadline:
            if waited is not None:
                waited.count = int(time.monotonic() - started)
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for batch in batches.values() for r in batch):
                result = SubjectResult.from_json(record.value)
                if result.request_id == request.request_id:
                    return result
    finally:
        await consumer.stop()
    raise ContactstreamError(
        f"no answer to request {request.request_id} within {wait_seconds:.0f}s; "
        "is a worker running? (the request stays queued)"
    )


async def _workers(settings: Settings) -> int | None:
    """Members of the workers' group now (None: unknown, e.g. not allowed to look)."""
    admin = AIOKafkaAdminClient(**settings.kafka_client_config())
    try:
        await admin.start()
        described = await admin.describe_consumer_groups([settings.app_id])
        groups = described[0].to_object()["groups"]
        if any(g["error_code"] for g in groups):
            return None
        return sum(len(g["members"]) for g in groups)
    except KafkaError:
        return None
    finally:
        await admin.close()


def _leave_queued(settings: Settings) -> bool:
    """Ask at a terminal whether to send anyway; a script gets a clear refusal instead."""
    if not sys.stdin.isatty():
        return False
    return click.confirm(
        f"No worker is running (group {settings.app_id} has no members). Send the request "
        "anyway, to run when a worker starts?",
        default=False,
    )


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(20):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
    raise ContactstreamError(f"topic {topic} does not exist; run 'contactstream topics ensure'")


async def _send(settings: Settings, request: SubjectRequest, key: Ed25519PrivateKey) -> None:
    producer = AIOKafkaProducer(acks="all", **settings.kafka_client_config())
    payload = request.to_json()
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topic("subject-requests"),
            payload,
            key=request.request_id.encode(),
            headers=[(SIGNATURE_HEADER, sign(key, payload))],
        )
    finally:
        await producer.stop()
