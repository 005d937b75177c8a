"""Batch preparation (streams.prepare): every record accounted for, rows encoded exactly as the
parsed events give them, and personal columns stripped from an encoded row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson

from schemas.contact import ContactEvent
from schemas.examples import raw_payload
from schemas.limits import DEFAULT_LIMITS, Limits
from schemas.validate import Rejection, parse_event, parse_events
from streams.prepare import Task, encode_row, prepare, strip_line
from streams.records import RawRecord
from streams.rows import EVENT_COLUMNS, PERSONAL_COLUMNS, Origin, event_row

CHANNELS = {"raw.phone": "phone", "raw.sms": "sms", "raw.email": "email", "raw.form": "form"}
NOW = datetime.now(UTC)


def _items(count: int) -> list[RawRecord]:
    """Every channel, in turns; every seventh one invalid, every eleventh dated 2099."""
    items = []
    for n in range(count):
        topic = list(CHANNELS)[n % 4]
        channel = CHANNELS[topic]
        if n % 7 == 3:
            value = b'{"event_id": "broken'
        elif n % 11 == 5:
            value = raw_payload(channel, contact_id=f"c{n}", occurred_at="2099-01-01T00:00:00Z")
        else:
            value = raw_payload(channel, event_id=f"e{n}", contact_id=f"c{n}")
        items.append(RawRecord(topic, n % 3, 1000 + n, None, None, value))
    return items


def _task(items: list[RawRecord], base: int = 0) -> Task:
    return Task(CHANNELS, items, base, NOW + timedelta(days=1), b"salt", DEFAULT_LIMITS)


def test_prepare_accounts_for_every_item_and_encodes_the_rows_parse_event_gives() -> None:
    items = _items(200)
    rows = prepare(_task(items, base=5))
    assert sorted([a.at for a in rows.accepted] + [r.at for r in rows.refused]) == list(
        range(5, 205)
    )
    codes = {r.code for r in rows.refused}
    assert codes == {"invalid_json", "future_timestamp"}, codes
    assert len(rows.lines) == len(rows.accepted)
    for line, accepted in zip(rows.lines, rows.accepted, strict=True):
        item = items[accepted.at - 5]
        event = parse_event(CHANNELS[item.topic], item.value)
        assert isinstance(event, ContactEvent)
        origin = Origin(item.topic, item.partition, item.offset)
        assert line == encode_row(event_row(event, origin, b"salt"))
        assert accepted.contact_id == event.contact_id
        assert accepted.channel == event.channel
        assert accepted.month == event.occurred_at.year * 100 + event.occurred_at.month
        assert accepted.occurred_at == event.occurred_at.timestamp()


def test_an_empty_chunk_is_prepared() -> None:
    rows = prepare(_task([]))
    assert rows.lines == rows.accepted == rows.refused == []


def test_a_stripped_line_keeps_everything_but_the_personal_columns() -> None:
    line = prepare(_task(_items(1))).lines[0]
    before = dict(zip(EVENT_COLUMNS, orjson.loads(line), strict=True))
    after = dict(zip(EVENT_COLUMNS, orjson.loads(strip_line(line)), strict=True))
    assert before["phone"] is not None
    assert all(after[c] is None for c in PERSONAL_COLUMNS)
    assert {c: v for c, v in after.items() if c not in PERSONAL_COLUMNS} == {
        c: v for c, v in before.items() if c not in PERSONAL_COLUMNS
    }


def test_every_channels_event_holds_its_fields_in_declaration_order() -> None:
    """event_row reads an event's field dict in order: parsed and validated events hold it so."""
    fields = list(ContactEvent.model_fields)
    for channel in CHANNELS.values():
        for kind in ("complete", None):
            event = parse_event(channel, raw_payload(channel, kind))
            assert isinstance(event, ContactEvent)
            assert list(event.__dict__) == fields
            validated = ContactEvent.model_validate(event.model_dump())
            assert list(validated.__dict__) == fields
            assert event_row(validated, Origin("t", 0, 0), b"s") == event_row(
                event, Origin("t", 0, 0), b"s"
            )


def test_an_event_the_encoder_cannot_write_is_refused_alone() -> None:
    """Validation makes it unexpected (a lone surrogate is invalid JSON to the parser), but an
    event that cannot be encoded must not stop its channel: it is refused, the rest go on."""

    def parse_with_a_bad_one(
        channel: str, payloads: Sequence[bytes], limits: Limits
    ) -> list[ContactEvent | Rejection]:
        results = parse_events(channel, payloads, limits)
        first = results[0]
        assert isinstance(first, ContactEvent)
        results[0] = first.model_copy(update={"content": "a\ud800b"})
        return results

    items = [
        RawRecord("raw.sms", 0, n, None, None, raw_payload("sms", event_id=f"e{n}"))
        for n in range(5)
    ]
    rows = prepare(_task(items)._replace(parse=parse_with_a_bad_one))
    assert [r.at for r in rows.refused] == [0]
    assert rows.refused[0].code == "storage_rejected"
    assert len(rows.lines) == len(items) - 1
