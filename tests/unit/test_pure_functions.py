"""Plain unit tests of the pure functions the agents wire together."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.contact import PERSONAL_FIELDS, ContactEvent
from schemas.control import Tombstone
from streams.config import Settings, redact_dsn
from streams.ingest.consumer import to_record
from streams.ingest.rows import EVENT_COLUMNS, PERSONAL_COLUMNS, Origin, event_row, strip_personal
from streams.ingest.service import batch_token
from streams.kafka.records import RawRecord, Span, partition_spans
from streams.kafka.topics import TopicSpec, config_drift, declared_topics, segment_ms
from streams.observability.logs import scrub
from streams.privacy.redaction import latest_tombstones
from streams.privacy.sql import CLEARED, ContactKey, key_list, redaction_sql

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _event(**extra: object) -> ContactEvent:
    return ContactEvent.model_validate(
        {
            "event_id": "e1",
            "contact_id": "c1",
            "channel": "form",
            "event_type": "received",
            "occurred_at": NOW,
            "schema_version": 1,
            "source": "web",
            "phone": "+358501234567",
            "email": "a@example.com",
            "content": "hei",
            "form_fields": {"b": "2", "a": "1"},
            **extra,
        }
    )


def test_personal_columns_come_from_the_one_declaration() -> None:
    assert set(PERSONAL_COLUMNS) == PERSONAL_FIELDS
    assert all(c in EVENT_COLUMNS for c in PERSONAL_COLUMNS)


def test_event_row_keys_the_subject_by_phone_and_strip_removes_every_personal_value() -> None:
    row = event_row(_event(), Origin("contacts.raw.form", 2, 40), b"salt")
    values = dict(zip(EVENT_COLUMNS, row, strict=True))
    assert values["form_fields"] == '{"a":"1","b":"2"}'
    assert values["subject_key"] is not None
    assert (
        event_row(_event(), Origin("t", 0, 0), b"salt")[EVENT_COLUMNS.index("subject_key")]
        == values["subject_key"]
    ), "the key is stable for the same person"
    stripped = dict(zip(EVENT_COLUMNS, strip_personal(row), strict=True))
    assert all(stripped[c] is None for c in PERSONAL_COLUMNS)
    assert stripped["contact_id"] == "c1"
    assert stripped["kafka_offset"] == 40


def test_batch_token_names_the_exact_offset_range_per_partition() -> None:
    origins = [
        RawRecord(t, p, o, None, None, b"")
        for t, p, o in [("t", 1, 7), ("t", 0, 3), ("t", 1, 5), ("t", 0, 4)]
    ]
    assert batch_token(origins) == "t:0:3-4,t:1:5-7"
    assert batch_token(list(reversed(origins))) == batch_token(origins)


@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=20))
@settings(max_examples=100, deadline=None)
def test_redaction_sql_quotes_every_id(ids: list[str]) -> None:
    keys = [ContactKey(i, "sms") for i in ids]
    sql = redaction_sql("contact_events", keys, "retention", NOW)
    assert sql.startswith("ALTER TABLE contact_events UPDATE ")
    assert sql.endswith(f"WHERE (contact_id, channel) IN {key_list(keys)}")
    for column in PERSONAL_COLUMNS:
        # A constant NULL would leave the old value in the part file (ClickHouse #66167).
        assert f"{column} = {CLEARED}" in sql
        assert f"{column} = NULL" not in sql


def test_redaction_marks_the_contact_row_only_once() -> None:
    sql = redaction_sql("contacts", [ContactKey("c1", "phone")], "erasure", NOW)
    assert "redacted_at = coalesce(redacted_at, toDateTime64('2026-01-02 03:04:05.000'" in sql
    assert "redaction_reason = coalesce(redaction_reason, 'erasure')" in sql
    assert "redacted_at" not in redaction_sql(
        "contact_events", [ContactKey("c1", "phone")], "erasure", NOW
    )


def test_erasure_outranks_retention_for_the_same_contact() -> None:
    retention = Tombstone(contact_id="c1", reason="retention", issued_at=NOW).to_json()
    erasure = Tombstone(contact_id="c1", reason="erasure", issued_at=NOW, request_id="r").to_json()
    chosen = latest_tombstones([retention, erasure, retention, b"not json"])
    assert chosen[("c1", None)].reason == "erasure"


def test_topic_drift_flags_personal_data_kept_longer() -> None:
    spec = TopicSpec(
        "contacts.raw.sms", 4, True, {"retention.ms": "604800000", "cleanup.policy": "delete"}
    )
    lines = config_drift(spec, {"retention.ms": "-1", "cleanup.policy": "delete"})
    assert lines == [
        "contacts.raw.sms: retention.ms=-1 but declared 604800000 "
        "(personal data kept longer than declared)"
    ]
    assert config_drift(spec, {"retention.ms": "604800000", "cleanup.policy": "delete"}) == []


def test_declared_topics_keep_personal_data_under_short_time_retention() -> None:
    for spec in declared_topics(Settings()):
        if spec.personal_data:
            assert spec.configs["cleanup.policy"] == "delete"
            assert int(spec.configs["retention.ms"]) <= 30 * 24 * 3600 * 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("caller +358501234567 done", "caller [phone] done"),
        ("from matti.meikalainen@example.com", "from [email]"),
        ("local 050 1234567", "local [phone]"),
        ("offset 1234567 of partition 3", "offset 1234567 of partition 3"),
    ],
)
def test_log_scrubbing(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_dsn_passwords_never_shown() -> None:
    assert redact_dsn("http://writer:s3cret@ch:8123/db") == "http://writer:***@ch:8123/db"
    settings_ = Settings(clickhouse_dsn="https://u:pw@host:8443/x")
    assert "pw" not in settings_.dsn_for_display
    assert "pw" not in repr(settings_)


def test_cluster_ids_never_look_like_an_option() -> None:
    from streams.kafka.local.broker import new_cluster_id

    ids = {new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)


def test_partition_spans_give_each_partitions_offset_range_and_oldest_timestamp() -> None:
    records = [
        RawRecord("t", 0, 5, 2_000, None, b""),
        RawRecord("t", 0, 3, 3_000, None, b""),
        RawRecord("t", 1, 9, 1_000, None, b""),
        RawRecord("t", 1, 8, None, None, b""),  # no timestamp: scan from the start
    ]
    assert partition_spans(records) == {
        ("t", 0): Span(3, 5, 2_000),
        ("t", 1): Span(8, 9, 0),
    }


def test_a_consumed_record_becomes_a_raw_record() -> None:
    headers = [("h", b"x"), ("n", None)]
    record = ConsumerRecord("t", 1, 7, 1_700_000_000_000, 0, b"k", b"v", None, 1, 1, headers)
    expected = RawRecord("t", 1, 7, 1_700_000_000_000, b"k", b"v", (("h", b"x"), ("n", b"")))
    assert to_record(record) == expected
    for stamp in (-1, 0, None):  # no usable timestamp
        bare = ConsumerRecord("t", 1, 8, stamp, 0, None, None, None, 0, 0, ())
        assert to_record(bare) == RawRecord("t", 1, 8, None, None, b"", ())


def _spans_one_by_one(records: list[RawRecord]) -> dict[tuple[str, int], Span]:
    """partition_spans as it was first written (a Span per record): the reference."""
    spans: dict[tuple[str, int], Span] = {}
    for record in records:
        key = (record.topic, record.partition)
        stamp = record.timestamp_ms or 0
        span = spans.get(key)
        if span is None:
            spans[key] = Span(record.offset, record.offset, stamp)
        else:
            oldest = 0 if not (stamp and span.oldest_ms) else min(span.oldest_ms, stamp)
            spans[key] = Span(min(span.first, record.offset), max(span.last, record.offset), oldest)
    return spans


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.integers(0, 2),
            st.integers(0, 50),
            st.one_of(st.none(), st.just(0), st.integers(1, 10**13)),
        ),
        max_size=40,
    )
)
def test_partition_spans_match_the_record_by_record_reference(
    fields: list[tuple[str, int, int, int | None]],
) -> None:
    """Offsets in any order, timestamps missing (None or 0) anywhere in a partition."""
    records = [RawRecord(t, p, o, stamp, None, b"") for t, p, o, stamp in fields]
    assert partition_spans(records) == _spans_one_by_one(records)


def test_topics_with_personal_data_roll_segments_so_retention_is_an_upper_bound() -> None:
    """A record outlives retention.ms by at most segment.ms (plus the broker's check interval):
    segment.ms is 1/24 of the retention of every topic holding personal data."""
    specs = {spec.name: spec for spec in declared_topics(Settings())}
    for spec in specs.values():
        if spec.personal_data:
            retention = int(spec.configs["retention.ms"])
            assert spec.configs["segment.ms"] == str(segment_ms(retention))
            assert int(spec.configs["segment.ms"]) * 24 >= retention
        else:
            assert "segment.ms" not in spec.configs
    week = 7 * 24 * 3600 * 1000
    assert segment_ms(week) == 7 * 3600 * 1000
    assert segment_ms(60_000) == 2500
    assert specs["contacts.subject-requests"].personal_data
    assert specs["contacts.dlq"].configs["segment.ms"] == str(segment_ms(week))


def test_topic_drift_flags_segments_that_roll_later_than_declared() -> None:
    spec = TopicSpec(
        "contacts.dlq", 4, True, {"retention.ms": "604800000", "segment.ms": "25200000"}
    )
    lines = config_drift(spec, {"retention.ms": "604800000", "segment.ms": "604800000"})
    assert lines == [
        "contacts.dlq: segment.ms=604800000 but declared 25200000 "
        "(personal data kept longer than declared)"
    ]
    assert config_drift(spec, {"retention.ms": "604800000", "segment.ms": "3600000"}) == [
        "contacts.dlq: segment.ms=3600000 but declared 25200000"
    ]
