"""Markers: values planted in personal columns so that a test can look for them in the bytes of
the engine's files, and the scan that finds them (the forgetting tests: redaction leaves no
erased byte on disk).

A marker is 64 random characters of a 64-letter alphabet. LZ4 only replaces a run of 4 or more
bytes it has seen before in its window, so most of a marker stays literal in the compressed
column files; a file holds a marker when it holds any of the marker's four 16-character
windows. (Phone numbers and hex digests are no markers: they share runs with their neighbours,
and LZ4 folds those away. Tests check them through SQL.)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

NOW = datetime.now(UTC)  # when insert_marked's events occurred
_COLUMNS = (
    "event_id, contact_id, channel, event_type, occurred_at, schema_version, source, "
    "email, subject, content, form_fields, recording_ref, subject_key, "
    "kafka_topic, kafka_partition, kafka_offset"
)


def marker() -> str:
    return secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]


def _windows(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw[i : i + 16] for i in range(0, len(raw) - 15, 16)] or [raw]


def files_holding(roots: Iterable[Path], markers: Iterable[str]) -> dict[str, list[Path]]:
    """The files under `roots` that hold each marker (any 16-character window of it)."""
    wanted = {m: _windows(m) for m in markers}
    found: dict[str, list[Path]] = {m: [] for m in wanted}
    for root in roots:
        # os.walk, not rglob: a running engine removes part directories while they are read.
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                try:
                    data = b"" if path.is_symlink() else path.read_bytes()
                except (FileNotFoundError, IsADirectoryError):
                    continue  # removed since it was listed: it holds nothing now
                for text, windows in wanted.items():
                    if any(window in data for window in windows):
                        found[text].append(path)
    return found


def insert_marked(client: Client, contact_id: str, values: list[str]) -> None:
    """One email event whose every text personal column holds its own marker."""
    email, subject, content, form, recording, key = values
    client.insert(
        "contact_events",
        [
            [
                f"{contact_id}-r",
                contact_id,
                "email",
                "received",
                NOW,
                1,
                "mail",
                f"m{email}@example.com",
                subject,
                content,
                form,
                recording,
                key,
                "t",
                0,
                1,
            ]
        ],
        column_names=[c.strip() for c in _COLUMNS.split(",")],
    )
