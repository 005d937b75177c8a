"""Subject exports on disk: one file per request, inside the exports directory, mode 0600
(written with streams.files.write_atomically).

The file name comes from the request id, which is untrusted input until proven otherwise: it
must be a UUID, and the path is checked to resolve inside the directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import orjson

from schemas.control import REQUEST_ID_PATTERN
from streams.errors import ConfigError

_UUID: Final = re.compile(REQUEST_ID_PATTERN)


def export_file(directory: Path, request_id: str) -> Path:
    """The export file of `request_id` in `directory`; refuses anything but a UUID."""
    if not _UUID.fullmatch(request_id):
        raise ConfigError("a subject request id must be a UUID")
    root = directory.resolve()
    path = (root / f"{request_id}.json").resolve()
    if path.parent != root:
        raise ConfigError("an export path must stay inside the exports directory")
    return path


def remove_subject_exports(directory: Path, field: str, value: str) -> int:
    """Delete the export files of this subject (after an erasure, P3: exports hold personal
    data too); returns how many. An export names its subject in its own `subject` field;
    email addresses compare case-insensitively, as the look-up does. A file that cannot be
    read as an export is left for the weekly sweep."""
    if not directory.is_dir():
        return 0
    wanted = value.lower() if field == "email" else value
    removed = 0
    for path in directory.glob("*.json"):
        if not _UUID.fullmatch(path.stem) or path.is_symlink():
            continue
        try:
            subject = orjson.loads(path.read_bytes()).get("subject") or {}
        except (OSError, orjson.JSONDecodeError, AttributeError):
            continue
        held = subject.get(field) if isinstance(subject, dict) else None
        if isinstance(held, str) and (held.lower() if field == "email" else held) == wanted:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
