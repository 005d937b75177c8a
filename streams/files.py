"""Files the project writes: private to its user, never half-written, never through a link
someone planted.

Private at rest: the data directory holds personal data in Kafka segments, chDB parts, insert
spools and exports. Every process of the project (the CLI, the worker, the local broker's JVM)
runs with the umask 077, so whatever it creates (and whatever a library or the JVM creates for
it) is 0700 for directories and 0600 for files; and a data directory that other users can
already read, write or enter is refused (with CONTACTSTREAM_MODE=dev: a warning).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import uuid
from pathlib import Path

from streams.config import Settings
from streams.errors import ConfigError

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
"""Group and others get no bit of anything the project creates."""


def use_private_umask() -> int:
    """Set the process umask to 077 (inherited by every child, e.g. the broker's JVM); returns
    the previous one."""
    return os.umask(PRIVATE_UMASK)


def exposure(path: Path, mode: int, what: str = "data directory") -> str | None:
    """What is wrong with a directory of `mode` (st_mode or permission bits) that holds personal
    data, or None when only its owner can use it (pure; unit-tested)."""
    bits = stat.S_IMODE(mode)
    if not bits & 0o077:
        return None
    kinds = [
        word
        for mask, word in ((0o044, "readable"), (0o022, "writable"), (0o011, "enterable"))
        if bits & mask
    ]
    return (
        f"{what} {path} is {' and '.join(kinds)} by other users "
        f"(mode {bits:04o}): run chmod 700 {path}"
    )


def private_directory(path: Path, dev: bool, what: str = "data directory") -> str | None:
    """Create `path` (0700) if it is missing. An existing one other users can read, write or
    enter raises ConfigError; with `dev` the problem is returned instead, to warn about."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    problem = exposure(path, path.stat().st_mode, what)
    if problem is not None and not dev:
        raise ConfigError(problem)
    return problem


def personal_data_directories(settings: Settings) -> list[tuple[str, Path]]:
    """The directories where this configuration keeps personal data: the data directory, and
    the exports and chDB directories when they lie outside it (pure)."""
    found = [("data directory", settings.data_dir)]
    others = [("exports directory", settings.exports_path)]
    if settings.is_embedded:
        chdb = settings.dsn.removeprefix("chdb://").partition("?")[0]
        if chdb and chdb not in ("memory", ":memory:"):
            others.append(("chDB directory", Path(chdb).absolute()))
    found += [(what, path) for what, path in others if not path.is_relative_to(settings.data_dir)]
    return found


def require_private_data(settings: Settings, root: Path | None = None) -> None:
    """Refuse (ConfigError) to work in a directory of personal data other users can use; in
    dev mode log one warning per such directory. `root`: check this directory only (the local
    broker's data directory given by --data-dir)."""
    dirs = [("data directory", root)] if root else personal_data_directories(settings)
    for what, path in dirs:
        problem = private_directory(path, dev=settings.mode == "dev", what=what)
        if problem is not None:
            log.warning("%s (allowed with CONTACTSTREAM_MODE=dev)", problem)


def write_atomically(path: Path, content: bytes) -> None:
    """Write `content` to `path`, mode 0600: a fresh temporary file in the same directory
    (created exclusively, never through a link), then renamed into place. A missing parent
    directory is made 0700."""
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
