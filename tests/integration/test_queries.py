"""The agents' small read queries on the real engine."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.config import Settings
from streams.privacy.lookups import redacted_among
from streams.privacy.sql import ContactKey
from streams.storage import migrate, open_client

# Contact ids are any 1-128 characters: quotes, backslashes, commas, newlines, non-ASCII.
AWKWARD = [
    "c-1",
    "c'2",
    "c\\3",
    "c,4",
    "ä-5",
    "c\n6",
    "x" * 128,
    "'); DROP TABLE contact_events; --",
]


def test_redacted_among_finds_exactly_the_redacted_ids_whatever_they_contain(
    chdb_settings: Settings,
) -> None:
    client = open_client(chdb_settings)
    migrate(client, chdb_settings)
    redacted = AWKWARD[::2]
    now = datetime.now(UTC)
    client.insert(
        "redaction_log",
        [[contact_id, "sms", "retention", None, None, now] for contact_id in redacted],
        column_names=["contact_id", "channel", "reason", "request_id", "due_at", "redacted_at"],
    )
    asked = [*AWKWARD, *(f"other-{n}" for n in range(10_000))]
    assert redacted_among(client, asked) == {ContactKey(cid, "sms") for cid in redacted}
    assert redacted_among(client, ["nobody"]) == set()
    assert redacted_among(client, []) == set()
    tables = {row[0] for row in client.query("SHOW TABLES").result_rows}
    assert "contact_events" in tables
