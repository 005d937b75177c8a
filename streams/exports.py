"""Subject exports on disk: one file per request, inside the exports directory, mode 0600
(written with streams.files.write_atomically).

The file name comes from the request id, which is untrusted input until proven otherwise: it
must be a UUID, and the path is checked to resolve inside the directory.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

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
