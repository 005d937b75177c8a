"""Real storage faults for the failure-rule tests: a small tmpfs for a chDB directory, filled
to the last byte (ClickHouse: 243 NOT_ENOUGH_SPACE), or bind-mounted read-only over itself
(1001 STD_EXCEPTION, Read-only file system). Needs root (CI runs as root)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


def can_mount() -> bool:
    return os.geteuid() == 0


requires_mount = pytest.mark.skipif(
    not can_mount(), reason="needs root to mount a tmpfs (CI runs as root)"
)


@contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of `size_mb` at `path`, unmounted afterwards (bind layers included)."""
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path))
    try:
        yield path
    finally:
        while (
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False).returncode
            == 0
        ):
            pass


@contextmanager
def disk_full(path: Path) -> Iterator[None]:
    """Fill the file system of `path` to the last byte; free it again afterwards."""
    filler = path / "filler"
    with filler.open("wb") as handle:
        free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
        os.posix_fallocate(handle.fileno(), 0, max(free, 1))
    try:
        yield
    finally:
        filler.unlink()


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` read-only for every process (a read-only bind mount over itself), then writable."""
    _mount("--bind", str(path), str(path))
    _mount("-o", "remount,bind,ro", str(path))
    try:
        yield
    finally:
        _mount("-o", "remount,bind,rw", str(path))
        subprocess.run(["umount", "-l", str(path)], check=True, capture_output=True, timeout=30)
