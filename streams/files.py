"""Files other processes read while the worker writes them: never half-written, never through
a link someone planted."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path


def write_atomically(path: Path, content: bytes, mode: int = 0o600) -> None:
    """Write `content` to `path` with `mode`: a fresh temporary file in the same directory
    (created exclusively, never through a link), then renamed into place."""
    path.parent.mkdir(mode=0o700 if mode == 0o600 else 0o750, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)  # replaces a link at `path` itself, never its target
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
