"""`contactstream dlq summary|show|redrive`: the dead-letter workflow (docs/dead-letters.md).

Each command reads a snapshot of the DLQ and of `<prefix>.dlq-actions`
(streams.deadletters.letters): looking
changes nothing. Redrive validates each letter with the worker's own parse path and
settings, sends the valid ones back to their raw topic, and only then records them as redriven.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import click
from aiokafka import AIOKafkaProducer

from schemas.control import DLQ_HEADER_PREFIX, DlqAction
from schemas.validate import Rejection, parse_events
from streams.cli.settings import command_settings
from streams.config import CHANNELS, Settings
from streams.deadletters.letters import Stored, letters, redriven_letters
from streams.deadletters.redrive import (
    Filters,
    channel_of,
    letter_name,
    parse_letter_name,
    redrive_headers,
)
from streams.errors import ConfigError
from streams.ingest.prepare import latest_allowed, verdicts

CHUNK = 500
"""Letters sent per round before they are recorded as redriven (a SIGKILL resends one chunk
at most, which the stored data absorbs)."""
_AGES = ((3600, "< 1 h"), (86_400, "< 1 d"), (3 * 86_400, "< 3 d"))


def who(settings: Settings) -> str:
    """The actor recorded in the audit: the Kafka principal, else the OS user."""
    if settings.kafka_security_protocol != "PLAINTEXT" and settings.kafka_username:
        return settings.kafka_username
    return f"os:{getpass.getuser()}"[:64]


def _age_bucket(seconds: float, retention_s: float) -> str:
    for bound, label in _AGES:
        if seconds < bound:
            return label
    return f"< {retention_s / 86_400:g} d" if seconds < retention_s else "expiring"


@dataclass
class Summary:
    """The summary, counted one letter at a time (pure): a DLQ of millions of letters is read
    once and never held in memory."""

    settings: Settings
    redriven: set[str]
    now: datetime
    letters: int = 0
    handled: int = 0
    by_reason: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_age: Counter[str] = field(default_factory=Counter)
    oldest: tuple[int, str] | None = None
    """(Kafka timestamp ms, `P:O`) of the oldest unhandled letter."""

    def add(self, stored: Stored) -> None:
        letter = stored.letter
        channel = channel_of(letter.topic, self.settings.topic_prefix) if letter else None
        code = letter.error_code if letter else "unreadable_letter"
        self.letters += 1
        self.by_reason[channel or "unknown", code] += 1
        age = self.now.timestamp() - stored.timestamp_ms / 1000
        self.by_age[_age_bucket(age, self.settings.raw_retention_ms / 1000)] += 1
        if stored.name in self.redriven:
            self.handled += 1
        elif self.oldest is None or stored.timestamp_ms < self.oldest[0]:
            self.oldest = (stored.timestamp_ms, stored.name)

    def document(self) -> dict[str, Any]:
        retention_s = self.settings.raw_retention_ms / 1000
        document: dict[str, Any] = {
            "dlq": self.settings.topic("dlq"),
            "letters": self.letters,
            "redriven": self.handled,
            "unhandled": self.letters - self.handled,
            "by_channel_and_reason": [
                {"channel": channel, "reason": code, "letters": count}
                for (channel, code), count in sorted(self.by_reason.items())
            ],
            "by_age": dict(sorted(self.by_age.items())),
            "retention_seconds": retention_s,
            "oldest_unhandled": None,
        }
        if self.oldest is not None:
            age = self.now.timestamp() - self.oldest[0] / 1000
            document["oldest_unhandled"] = {
                "letter": self.oldest[1],
                "age_seconds": round(age, 1),
                "expires_in_seconds": round(retention_s - age, 1),
            }
        return document


def summarize(
    found: Iterable[Stored], redriven: set[str], settings: Settings, now: datetime
) -> dict[str, Any]:
    """The summary document of `found` (pure)."""
    summary = Summary(settings, redriven, now)
    for stored in found:
        summary.add(stored)
    return summary.document()


def summary_lines(document: dict[str, Any]) -> list[str]:
    lines = [
        f"{document['dlq']}: {document['letters']} letters, {document['redriven']} redriven, "
        f"{document['unhandled']} unhandled"
    ]
    lines += [
        f"  {row['channel']:<8} {row['reason']:<22} {row['letters']:>8}"
        for row in document["by_channel_and_reason"]
    ]
    if document["by_age"]:
        ages = ", ".join(f"{label}: {count}" for label, count in document["by_age"].items())
        lines.append(f"  by age: {ages}")
    oldest = document["oldest_unhandled"]
    if oldest:
        lines.append(
            f"  oldest unhandled: {oldest['letter']}, {_duration(oldest['age_seconds'])} old, "
            f"deleted by Kafka in {_duration(max(0.0, oldest['expires_in_seconds']))}"
        )
    return lines


def _duration(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"


class Verdict(NamedTuple):
    channel: str | None
    rejection: Rejection | None


def revalidate(stored: Stored, settings: Settings, now: datetime) -> Verdict:
    """The worker's verdict on this letter today: its own decision, limits and clock rule."""
    channel = channel_of(stored.letter.topic, settings.topic_prefix) if stored.letter else None
    if channel not in CHANNELS:
        return Verdict(None, Rejection("unknown_origin", "not from a raw topic", None, None))
    not_after = latest_allowed(settings.max_future_skew_seconds, now)
    [verdict] = verdicts(parse_events, channel, [stored.value], settings.limits, not_after)
    return Verdict(channel, verdict if isinstance(verdict, Rejection) else None)


class RedriveReport(NamedTuple):
    counts: Counter[str]
    still_invalid: Counter[str]


async def redrive(
    settings: Settings,
    filters: Filters,
    dry_run: bool,
    chunk_size: int,
    progress: Callable[[Counter[str]], None],
    now: datetime,
) -> RedriveReport:
    done = await redriven_letters(settings)
    counts: Counter[str] = Counter()
    still_invalid: Counter[str] = Counter()
    producer = AIOKafkaProducer(
        acks="all", enable_idempotence=True, linger_ms=10, **settings.kafka_client_config()
    )
    actor = who(settings)
    await producer.start()
    try:
        chunk: list[tuple[Stored, str]] = []
        async for stored in letters(settings):
            if stored.letter is None:
                continue
            channel = channel_of(stored.letter.topic, settings.topic_prefix)
            if not filters.take(stored.letter, channel, stored.partition, stored.offset):
                continue
            counts["chosen"] += 1
            if stored.name in done:
                counts["already_redriven"] += 1
                continue
            verdict = revalidate(stored, settings, now)
            if verdict.rejection is not None or verdict.channel is None:
                counts["still_invalid"] += 1
                still_invalid[verdict.rejection.code if verdict.rejection else "unknown"] += 1
                continue
            chunk.append((stored, verdict.channel))
            if len(chunk) >= chunk_size:
                await _send(producer, settings, chunk, actor, dry_run, counts)
                progress(counts)
                chunk = []
        await _send(producer, settings, chunk, actor, dry_run, counts)
        await _audit(
            producer,
            settings,
            DlqAction(
                kind="redrive_run",
                at=datetime.now(UTC),
                by=actor,
                filters=filters.described(),
                counts=dict(counts) | {f"still_invalid.{c}": n for c, n in still_invalid.items()},
                dry_run=dry_run,
            ),
        )
    finally:
        await producer.stop()
    return RedriveReport(counts, still_invalid)


async def _send(
    producer: AIOKafkaProducer,
    settings: Settings,
    chunk: list[tuple[Stored, str]],
    actor: str,
    dry_run: bool,
    counts: Counter[str],
) -> None:
    """Send a chunk back to the raw topics; once the broker holds all of it, record it."""
    if not chunk:
        return
    if dry_run:
        counts["would_redrive"] += len(chunk)
        return
    sent = []
    for stored, channel in chunk:
        assert stored.letter is not None  # chosen letters have readable headers
        sent.append(
            await producer.send(
                settings.topic(f"raw.{channel}"),
                stored.value,
                key=stored.key,
                headers=redrive_headers(
                    stored.headers, stored.letter, stored.partition, stored.offset
                ),
            )
        )
    await asyncio.gather(*sent)
    at = datetime.now(UTC)
    recorded = [
        await producer.send(
            settings.topic("dlq-actions"),
            DlqAction(kind="redriven", at=at, by=actor, letter=stored.name).to_json(),
            key=stored.name.encode(),
        )
        for stored, _ in chunk
    ]
    await asyncio.gather(*recorded)
    counts["redriven"] += len(chunk)


async def _audit(producer: AIOKafkaProducer, settings: Settings, action: DlqAction) -> None:
    await producer.send_and_wait(
        settings.topic("dlq-actions"), action.to_json(), key=action.kind.encode()
    )


async def show_letter(settings: Settings, partition: int, offset: int) -> Stored:
    stream = letters(settings, {partition: offset})
    async with contextlib.aclosing(stream):
        async for stored in stream:
            if stored.offset == offset:
                return stored
            break
    raise ConfigError(
        f"no letter {letter_name(partition, offset)} in {settings.topic('dlq')} (never written, "
        "or deleted by Kafka's retention)"
    )


async def audit_value_shown(settings: Settings, stored: Stored) -> None:
    producer = AIOKafkaProducer(acks="all", **settings.kafka_client_config())
    await producer.start()
    try:
        await _audit(
            producer,
            settings,
            DlqAction(
                kind="value_shown", at=datetime.now(UTC), by=who(settings), letter=stored.name
            ),
        )
    finally:
        await producer.stop()


def letter_document(stored: Stored) -> dict[str, Any]:
    """One letter's origin, reason and error headers: no value of the event."""
    letter = stored.letter
    document: dict[str, Any] = {
        "letter": stored.name,
        "written_at": datetime.fromtimestamp(stored.timestamp_ms / 1000, UTC).isoformat(),
        "error_headers": {
            name: value.decode("utf-8", "replace")
            for name, value in stored.headers
            if name.startswith(DLQ_HEADER_PREFIX)
        },
        "other_headers": sorted(
            {name for name, _ in stored.headers if not name.startswith(DLQ_HEADER_PREFIX)}
        ),
        "value_bytes": len(stored.value),
    }
    if letter is not None:
        document["origin"] = {
            "topic": letter.topic,
            "partition": letter.partition,
            "offset": letter.offset,
            "timestamp": letter.timestamp,
        }
        document["error_code"] = letter.error_code
        document["reason"] = letter.reason
    return document


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-01T08:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _letter_option(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        return parse_letter_name(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("dlq")
def dlq() -> None:
    """Dead letters: what is in the DLQ, one letter, sending letters back (docs/dead-letters.md)."""


@dlq.command("summary")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def summary(as_json: bool) -> None:
    """Letters by channel, reason and age; the oldest unhandled one against the DLQ retention.
    Never shows a value of an event."""
    settings = command_settings()

    async def gather() -> dict[str, Any]:
        summary = Summary(settings, await redriven_letters(settings), datetime.now(UTC))
        async for stored in letters(settings):
            summary.add(stored)
        return summary.document()

    document = asyncio.run(gather())
    if as_json:
        click.echo(json.dumps(document))
    else:
        click.echo("\n".join(summary_lines(document)))


@dlq.command("show")
@click.argument("letter")
@click.option(
    "--value",
    "with_value",
    is_flag=True,
    help="Also print the original record (personal data: the use is audited).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def show(letter: str, with_value: bool, as_json: bool) -> None:
    """One letter, named PARTITION:OFFSET (from `dlq summary` or `dlq redrive`)."""
    partition, offset = _letter_option(letter) or (0, 0)
    settings = command_settings()
    stored = asyncio.run(show_letter(settings, partition, offset))
    document = letter_document(stored)
    if with_value:
        asyncio.run(audit_value_shown(settings, stored))  # audited before anything is shown
        document["key"] = (stored.key or b"").decode("utf-8", "replace")
        document["value"] = stored.value.decode("utf-8", "replace")
    if as_json:
        click.echo(json.dumps(document))
        return
    for name, value in document.items():
        click.echo(f"{name}: {json.dumps(value) if isinstance(value, dict | list) else value}")


@dlq.command("redrive")
@click.option("--channel", type=click.Choice(CHANNELS), help="Only letters from this channel.")
@click.option("--reason", help="Only letters refused with this code (e.g. too_large).")
@click.option("--since", type=str, help="Only letters refused at or after this ISO time.")
@click.option("--until", type=str, help="Only letters refused before this ISO time.")
@click.option("--offset", "letter", help="Only the letter PARTITION:OFFSET.")
@click.option("--dry-run", is_flag=True, help="Validate and count; send nothing.")
@click.option(
    "--chunk",
    type=click.IntRange(1, 10_000),
    default=CHUNK,
    show_default=True,
    help="Letters sent per round before they are recorded as redriven.",
)
@click.option("--json", "as_json", is_flag=True, help="The final counts as one JSON document.")
def redrive_command(
    channel: str | None,
    reason: str | None,
    since: str | None,
    until: str | None,
    letter: str | None,
    dry_run: bool,
    chunk: int,
    as_json: bool,
) -> None:
    """Validate letters again with the current contract and send the valid ones back to their
    raw topic, once. Still-invalid letters stay and are counted."""
    filters = Filters(
        channel=channel,
        reason=reason,
        since=_time(since) if since else None,
        until=_time(until) if until else None,
        letter=_letter_option(letter),
    )
    settings = command_settings()

    def progress(counts: Counter[str]) -> None:
        click.echo(
            f"... {counts['redriven']} redriven, {counts['still_invalid']} still invalid",
            err=True,
        )

    report = asyncio.run(redrive(settings, filters, dry_run, chunk, progress, datetime.now(UTC)))
    counts = {
        "chosen": report.counts["chosen"],
        "redriven": report.counts["redriven"],
        "would_redrive": report.counts["would_redrive"],
        "already_redriven": report.counts["already_redriven"],
        "still_invalid": dict(report.still_invalid),
        "dry_run": dry_run,
    }
    if as_json:
        click.echo(json.dumps(counts))
        return
    invalid = ", ".join(f"{code} {n}" for code, n in sorted(report.still_invalid.items()))
    done = (
        f"{counts['would_redrive']} would be redriven (dry run: nothing sent)"
        if dry_run
        else f"{counts['redriven']} redriven"
    )
    click.echo(
        f"{counts['chosen']} letters chosen: {done}, {counts['already_redriven']} redriven "
        f"before, {sum(report.still_invalid.values())} still invalid"
        + (f" ({invalid})" if invalid else "")
    )
