"""Subject exports on disk: one file per request, inside the exports directory, mode 0600.

The file name comes from the request id, which is untrusted input until proven otherwise: it
must be a UUID, and the path is checked to resolve inside the directory. A file is written to a
fresh temporary name (created exclusively, never through a link) and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from pathlib import Path
from typing import Final

from streams.errors import ConfigError

_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def export_file(directory: Path, request_id: str) -> Path:
    """The export file of `request_id` in `directory`; refuses anything but a UUID."""
    if not _UUID.fullmatch(request_id):
        raise ConfigError("a subject request id must be a UUID")
    root = directory.resolve()
    path = (root / f"{request_id}.json").resolve()
    if path.parent != root:
        raise ConfigError("an export path must stay inside the exports directory")
    return path


def write_private(path: Path, content: bytes) -> None:
    """Write `content` to `path` readable by this user only, atomically."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)  # replaces a link at `path` itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
