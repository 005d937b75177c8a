"""Small read queries the agents need. Values from events are bound as parameters or, where
binding costs too much, formatted in as hex digits only (inert in SQL text)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from streams.privacy.sql import ContactKey


def redacted_among(client: Client, contact_ids: Collection[str]) -> set[ContactKey]:
    """Which contacts of these ids were redacted already (retention or erasure), by channel.

    Asked for every batch (about 8,000 ids per 20,000 events): clickhouse-connect binds an
    Array(String) parameter client-side, escaping it character by character in Python (0.1 s
    per batch, holding the GIL the parser needs). The ids travel as one literal of hex digits
    and commas instead (`bytes.hex`: nothing in it can end the string or the statement), split
    and decoded by ClickHouse: half the time, almost none of it in Python."""
    if not contact_ids:
        return set()
    hex_ids = ",".join(contact_id.encode().hex() for contact_id in contact_ids)
    result = client.query(
        "SELECT DISTINCT contact_id, channel FROM redaction_log WHERE contact_id IN "
        f"(SELECT unhex(arrayJoin(splitByChar(',', '{hex_ids}'))))",
        settings={"max_query_size": len(hex_ids) + 4096},
    )
    return {ContactKey(str(row[0]), str(row[1])) for row in result.result_rows}


def record_erased_subject(client: Client, key: str, erased_at: datetime) -> None:
    """Remember for 30 days that the subject of `key` (a subject_key) was erased at `erased_at`:
    a dead letter of theirs redriven later must not bring their personal data back."""
    client.insert("erased_subjects", [[key, erased_at]], column_names=["subject_key", "erased_at"])


def erased_since(client: Client, keys: Collection[str]) -> dict[str, datetime]:
    """subject_key -> when it was last erased, for the keys among `keys` erased in 30 days."""
    if not keys:
        return {}
    result = client.query(
        "SELECT subject_key, max(erased_at) FROM erased_subjects "
        "WHERE subject_key IN {keys:Array(String)} GROUP BY subject_key",
        parameters={"keys": sorted(keys)},
    )
    return {str(row[0]): _utc(row[1]) for row in result.result_rows}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
