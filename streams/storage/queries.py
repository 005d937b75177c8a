"""Small read queries the agents need (parameters are bound by ClickHouse, never formatted in)."""

from __future__ import annotations

from collections.abc import Collection

from clickhouse_connect.driver.client import Client


def redacted_among(client: Client, contact_ids: Collection[str]) -> set[str]:
    """Which of these contacts were redacted already (retention or erasure)."""
    result = client.query(
        "SELECT DISTINCT contact_id FROM redaction_log WHERE contact_id IN {ids:Array(String)}",
        parameters={"ids": list(contact_ids)},
    )
    return {str(row[0]) for row in result.result_rows}
