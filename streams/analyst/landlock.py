"""Linux Landlock through ctypes: a process gives up, for good, every file it was not allowed and
every TCP connection.

Why: `contactstream analyst query` runs SQL an analyst typed in chDB, and ClickHouse SQL reaches
the file system in ways neither `readonly = 1` nor grants stop in chDB (measured, issue 20):
`INTO OUTFILE` is written by the client side, the `file()` function reads any path, and
`DESCRIBE file(...)` infers a schema from any file. A Landlock domain is enforced by the kernel
on each file open and TCP connect of the thread that entered it and of every thread started
afterwards, whatever the SQL asks. The kernel API: Documentation/userspace-api/landlock.rst.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from streams.errors import ConfigError

# The same numbers on every Linux architecture (syscalls added after the unified table, 5.1).
_CREATE_RULESET: Final = 444
_ADD_RULE: Final = 445
_RESTRICT_SELF: Final = 446
_CREATE_RULESET_VERSION: Final = 1
_RULE_PATH_BENEATH: Final = 1
_PR_SET_NO_NEW_PRIVS: Final = 38

_EXECUTE: Final = 1 << 0
_READ_FILE: Final = 1 << 2
_READ_DIR: Final = 1 << 3
_FILE_ONLY: Final = _EXECUTE | (1 << 1) | _READ_FILE | (1 << 14) | (1 << 15)
"""Rights a rule on a file (not a directory) may carry: execute, write, read, truncate, ioctl."""

FS_RIGHTS_BY_ABI: Final = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
"""Every file system right the kernel knows at each ABI version that added some (2: refer,
3: truncate, 5: ioctl on devices); a right a ruleset handles is denied unless a rule allows it."""
TCP_BIND_AND_CONNECT: Final = 0b11
"""ABI 4: TCP bind and connect, denied altogether (no rule allows a port)."""
SCOPES: Final = 0b11
"""ABI 6: abstract Unix sockets and signals of processes outside the domain."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [
        ("allowed_access", ctypes.c_uint64),
        ("parent_fd", ctypes.c_int32),
    ]


def ruleset_for(abi: int) -> tuple[_RulesetAttr, int]:
    """Deny everything the kernel of Landlock ABI `abi` can deny; the struct and its size (an
    older kernel refuses fields it does not know)."""
    fs = FS_RIGHTS_BY_ABI[max(v for v in FS_RIGHTS_BY_ABI if v <= abi)]
    net = TCP_BIND_AND_CONNECT if abi >= 4 else 0
    scoped = SCOPES if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    return _RulesetAttr(fs, net, scoped), size


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when there is none (not Linux, too old, disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc().syscall(
        _CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
    )
    return max(int(version), 0)


def restrict(readable: Iterable[Path], writable: Iterable[Path]) -> int:
    """From now on this process (and whatever it starts) may read only beneath `readable`, read
    and write only beneath `writable`, run no program and make no TCP connection (ABI 4+); the
    ABI used.

    Landlock binds the calling thread and the threads it starts later, so this runs while the
    process has a single thread: one started earlier would stay free."""
    abi = abi_version()
    if abi < 1:
        raise ConfigError("this kernel offers no Landlock (Linux 5.13+ with Landlock enabled)")
    if len(os.listdir("/proc/self/task")) != 1:
        raise ConfigError("a sandbox must be entered before the process starts a thread")
    libc = _libc()
    attr, size = ruleset_for(abi)
    ruleset = libc.syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    _check(ruleset, "create a ruleset")
    try:
        for path in readable:
            _allow(libc, ruleset, path, _READ_FILE | _READ_DIR)
        for path in writable:  # everything there but running a program
            _allow(libc, ruleset, path, attr.handled_access_fs & ~_EXECUTE)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
        _check(libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "enter the sandbox")
    finally:
        os.close(ruleset)
    return abi


def _allow(libc: ctypes.CDLL, ruleset: int, path: Path, rights: int) -> None:
    """Allow `rights` beneath `path` (only its file rights when it is a file)."""
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not path.is_dir():
            rights &= _FILE_ONLY
        rule = _PathBeneathAttr(rights, fd)
        added = libc.syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0)
        _check(added, f"allow {path}")
    finally:
        os.close(fd)


def _check(result: int, doing: object) -> None:
    if result < 0:
        errno = ctypes.get_errno()
        raise ConfigError(f"Landlock could not {doing}: {os.strerror(errno)}")
