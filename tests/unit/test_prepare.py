"""Batch preparation (streams.ingest.prepare): every record accounted for, and rows exactly as the
parsed events give them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.contact import ContactEvent
from schemas.examples import raw_payload
from schemas.limits import DEFAULT_LIMITS
from schemas.validate import parse_event
from streams.ingest.prepare import Task, prepare
from streams.ingest.rows import Origin, event_row
from streams.kafka.records import RawRecord

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
    assert len(rows.rows) == len(rows.accepted)
    for row, accepted in zip(rows.rows, rows.accepted, strict=True):
        item = items[accepted.at - 5]
        event = parse_event(CHANNELS[item.topic], item.value)
        assert isinstance(event, ContactEvent)
        origin = Origin(item.topic, item.partition, item.offset)
        assert row == event_row(event, origin, b"salt")
        assert accepted.contact_id == event.contact_id
        assert accepted.channel == event.channel
        assert accepted.month == event.occurred_at.year * 100 + event.occurred_at.month
        assert accepted.occurred_at == event.occurred_at.timestamp()


def test_an_empty_chunk_is_prepared() -> None:
    rows = prepare(_task([]))
    assert rows.rows == rows.accepted == rows.refused == []


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
