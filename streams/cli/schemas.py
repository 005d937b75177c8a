"""`contactstream schemas`: the producers' contract exported (`export`), and the pipeline's
verdict on a producer's records before they are sent (`validate`, for the producer's CI).

`validate` decides with the worker's own function (streams.ingest.prepare.verdicts:
validation, then the future-time check) and the limits of the same settings, so its verdicts
cannot drift from the pipeline's. What it prints comes from rejection codes and reasons, which
never hold a value of the record (schemas/reasons.py), and from ids, which are not personal data
(DESIGN P1).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Final

import click
import orjson

from schemas.contact import ContactEvent
from schemas.validate import CHANNEL_MODELS, Rejection, parse_events
from streams.config import CHANNELS, Settings
from streams.ingest.prepare import latest_allowed, verdicts

UNKNOWN_CHANNEL: Final = "unknown_channel"
# Refused on any raw topic before a field is read, so their code does not depend on the topic.
_TOPIC_FREE: Final = frozenset({"invalid_json", "not_an_object"})


@dataclass(frozen=True, slots=True)
class Record:
    index: int
    """Position among the input's records, from 0."""
    line: int | None
    """Line number (from 1) in JSON lines input; None for a JSON array."""
    payload: bytes
    """The bytes a producer would put on the topic."""


@dataclass(frozen=True, slots=True)
class Refusal:
    index: int
    line: int | None
    code: str
    reason: str
    event_id: str | None
    contact_id: str | None

    def text(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.event_id is not None:
            where.append(f"event_id {self.event_id}")
        place = f" ({', '.join(where)})" if where else ""
        return f"record {self.index}{place}: {self.code}: {self.reason}"


def read_records(data: bytes) -> list[Record]:
    """One JSON array of records, or JSON lines (blank lines skipped; a line that is not JSON
    is a record the pipeline would refuse, not an error of the input)."""
    if data.lstrip()[:1] == b"[":
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            document = None  # JSON lines whose first record is broken
        if isinstance(document, list):
            return [Record(n, None, orjson.dumps(item)) for n, item in enumerate(document)]
    lines = (line.rstrip(b"\r") for line in data.split(b"\n"))
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    return [Record(n, number, line) for n, (number, line) in enumerate(numbered)]


def named_channel(payload: bytes) -> str | None:
    """The channel a record names itself, if the pipeline knows it."""
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    channel = document.get("channel") if isinstance(document, dict) else None
    return channel if isinstance(channel, str) and channel in CHANNEL_MODELS else None


def refusals(records: Sequence[Record], channel: str | None, settings: Settings) -> list[Refusal]:
    """The refused records, in input order: each checked as if sent to `channel`'s raw topic
    (None: the channel each record names)."""
    by_channel: dict[str | None, list[Record]] = {}
    for record in records:
        chosen = channel or named_channel(record.payload)
        by_channel.setdefault(chosen, []).append(record)
    limits, not_after = settings.limits, latest_allowed(settings.max_future_skew_seconds)
    found: list[Refusal] = []
    for chosen, group in by_channel.items():
        payloads = [record.payload for record in group]
        results = verdicts(parse_events, chosen or CHANNELS[0], payloads, limits, not_after)
        if chosen is None:
            results = [_unnamed(result) for result in results]
        for record, result in zip(group, results, strict=True):
            if isinstance(result, Rejection):
                found.append(
                    Refusal(
                        record.index,
                        record.line,
                        result.code,
                        result.reason,
                        result.event_id,
                        result.contact_id,
                    )
                )
    return sorted(found, key=lambda refusal: refusal.index)


def _unnamed(result: ContactEvent | Rejection) -> Rejection:
    """The verdict on a record that names no known channel, without --channel: refused on
    every raw topic (its `channel` must match the topic's)."""
    if isinstance(result, Rejection) and result.code in _TOPIC_FREE:
        return result
    return Rejection(
        UNKNOWN_CHANNEL,
        "field 'channel': missing or not one of "
        f"{', '.join(CHANNELS)}; the topic decides which rules apply: give --channel",
        result.contact_id,
        result.event_id,
    )


def summary(records: int, found: Sequence[Refusal]) -> dict[str, Any]:
    codes = Counter(refusal.code for refusal in found)
    return {
        "records": records,
        "valid": records - len(found),
        "refused": len(found),
        "codes": dict(sorted(codes.items())),
    }


def summary_line(document: dict[str, Any]) -> str:
    codes = ", ".join(f"{code} {count}" for code, count in document["codes"].items())
    return (
        f"{document['records']} record(s): {document['valid']} valid, "
        f"{document['refused']} refused" + (f" ({codes})" if codes else "")
    )


@click.command("validate")
@click.argument("source", type=click.File("rb"), metavar="FILE|-")
@click.option(
    "--channel",
    type=click.Choice(CHANNELS),
    default=None,
    help="Check every record as sent to this channel's raw topic (default: the channel each "
    "record names).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document: summary and refusals.")
def validate(source: IO[bytes], channel: str | None, as_json: bool) -> None:
    """Check raw events (JSON lines, or one JSON array) with the pipeline's own rules and
    limits, before sending them: one line per refused record (its index, code and reason, never
    a value), then a summary. Exit 0 if all are valid, 1 if any is refused."""
    records = read_records(source.read())
    if not records:
        raise click.UsageError("the input holds no records (JSON lines or one JSON array)")
    found = refusals(records, channel, Settings())
    document = summary(len(records), found)
    if as_json:
        document["refusals"] = [asdict(refusal) for refusal in found]
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo("\n".join([*(refusal.text() for refusal in found), summary_line(document)]))
    sys.exit(1 if found else 0)


@click.group("schemas")
def schemas_group() -> None:
    """The producers' contract: JSON Schemas of every topic."""


@schemas_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schemas_export(directory: Path) -> None:
    """Write one JSON Schema per topic into DIRECTORY (committed copies: schemas/json/)."""
    from schemas.jsonschema import export_json_schemas

    for path in export_json_schemas(directory):
        click.echo(f"wrote {path}")


schemas_group.add_command(validate)
