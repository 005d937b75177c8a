"""The state exactly-once ingestion of a Traffic ends in: ClickHouse, the dead letters, the
committed offsets and the worker's log (the ingestion and Kafka-outage tests)."""

from __future__ import annotations

from schemas.control import DeadLetter
from tests.support.harness import committed, query, raw_group, read_all
from tests.support.traffic import MERGED_SQL, Traffic, expected_row


async def check_final_state(
    bootstrap: str, prefix: str, env: dict[str, str], traffic: Traffic, log_text: str
) -> None:
    merged, counts = query(
        env,
        MERGED_SQL,
        "SELECT count(), uniqExact(event_id) FROM contact_events FINAL",
    )
    expected = sorted(expected_row(c) for c in traffic.contacts.values())
    assert len(merged) == len(expected), "exactly the expected contacts"
    assert [tuple(row) for row in merged] == expected, "merged fields as expected"
    assert counts == [[len(traffic.event_ids), len(traffic.event_ids)]], "each event stored once"

    records = await read_all(bootstrap, f"{prefix}.dlq")
    letters = [DeadLetter.from_headers(r.headers) for r in records]
    by_payload = {r.value: letter for r, letter in zip(records, letters, strict=True)}
    assert len(by_payload) == len(traffic.invalid), "every invalid event in the DLQ"
    for payload, code in traffic.invalid.items():
        letter = by_payload[payload]  # the value is the original, byte for byte
        assert letter.error_code == code
        assert letter.topic.startswith(f"{prefix}.raw.")
        assert letter.offset >= 0
    for record, letter in zip(records, letters, strict=True):
        assert record.partition == letter.partition, "a letter goes to its origin's partition"
        assert letter.timestamp is not None
    assert len(letters) == len(traffic.invalid), "and none twice"

    consumed = sum((await committed(bootstrap, raw_group(env))).values())
    assert consumed == len(traffic.messages), "the counts add up"
    leaked = [v for v in traffic.personal_values() if v in log_text]
    assert not leaked, f"{len(leaked)} personal values in the worker's log"
    for letter in letters:
        assert not any(v in letter.reason for v in traffic.personal_values())
