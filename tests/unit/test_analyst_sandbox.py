"""The analyst query's sandbox, its pure parts: what the Landlock ruleset denies on each kernel,
what the sandboxed process inherits, what it may read, and how its answer reaches the user.
(tests/integration/test_analyst_sandbox.py tries the escapes for real.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.analyst import landlock
from streams.analyst.landlock import ruleset_for
from streams.analyst.sandbox import python_roots, readable_paths
from streams.analyst.snapshots import engine_words, sandbox_answer, sandbox_environment
from streams.errors import ConfigError, StorageError


@pytest.mark.parametrize(
    ("abi", "fs", "net", "scoped", "size"),
    [
        (1, (1 << 13) - 1, 0, 0, 8),
        (3, (1 << 15) - 1, 0, 0, 8),  # truncate
        (4, (1 << 15) - 1, 0b11, 0, 16),  # TCP bind and connect
        (5, (1 << 16) - 1, 0b11, 0, 16),  # ioctl on devices
        (7, (1 << 16) - 1, 0b11, 0b11, 24),  # abstract sockets and signals (6); 7 adds none
    ],
)
def test_the_ruleset_denies_all_the_kernel_knows(
    abi: int, fs: int, net: int, scoped: int, size: int
) -> None:
    attr, struct_size = ruleset_for(abi)
    assert (attr.handled_access_fs, attr.handled_access_net, attr.scoped) == (fs, net, scoped)
    assert struct_size == size


def test_the_sandboxed_process_inherits_no_variable_but_the_time_zone() -> None:
    parent = {
        "CONTACTSTREAM_KAFKA_PASSWORD": "secret",
        "CONTACTSTREAM_CLICKHOUSE_DSN": "http://u:secret@h:8123/db",
        "HOME": "/root",
        "TZ": "Europe/Helsinki",
    }
    env = sandbox_environment("/scratch", parent)
    assert env == {"PATH": env["PATH"], "TMPDIR": "/scratch", "TZ": "Europe/Helsinki"}
    assert "TZ" not in sandbox_environment("/scratch", {})


def test_the_sandbox_reads_no_ancestor_of_the_data_directory(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "analyst"
    directory.mkdir(parents=True)
    paths = readable_paths(directory)
    assert paths[0] == directory
    assert not [p for p in paths[1:] if tmp_path.is_relative_to(p.resolve())]
    assert Path("/etc") not in paths
    assert Path("/proc") not in paths


def test_a_data_directory_inside_the_python_installation_is_refused() -> None:
    site_packages = python_roots()[-1]  # chDB's
    with pytest.raises(ConfigError, match="move CONTACTSTREAM_DATA_DIR elsewhere"):
        readable_paths(site_packages / "data" / "analyst")


def test_the_answer_shows_the_engine_s_message_on_one_line() -> None:
    assert sandbox_answer(0, b'"n"\n1\n') == '"n"\n1\n'
    refused = (
        b"Code: 76. DB::ErrnoException: Cannot open file /data/secret.txt: , errno: 13, "
        b"strerror: Permission denied: In scope SELECT file('/data/secret.txt'). "
        b"(CANNOT_OPEN_FILE)"
    )
    with pytest.raises(StorageError) as error:
        sandbox_answer(1, refused)
    assert str(error.value) == (
        "ClickHouse error 76 CANNOT_OPEN_FILE: Cannot open file /data/secret.txt: , errno: 13, "
        "strerror: Permission denied: In scope SELECT file('/data/secret.txt')."
    )
    assert error.value.code == 76
    wrapped = (  # an unknown output format, as chDB says it: wrapped twice, with its version
        b"Code: 73. DB::Exception: Code: 73. DB::Exception: Code: 73. DB::Exception: Unknown "
        b"format Nonsense. (UNKNOWN_FORMAT) (version 26.9.2.1). (UNKNOWN_FORMAT) (version "
        b"26.9.2.1). (UNKNOWN_FORMAT)"
    )
    with pytest.raises(StorageError, match=r"^ClickHouse error 73 UNKNOWN_FORMAT: Unknown "):
        sandbox_answer(1, wrapped)
    assert engine_words(wrapped.decode()) == "Unknown format Nonsense."
    assert engine_words("Code: 62. DB::Exception: a\n  b " + "x" * 2000).startswith("a b x")
    assert len(engine_words("x" * 2000)) == 1000
    read_only = (
        b"Code: 164. DB::Exception: default: Cannot execute query in readonly mode. (READONLY)"
    )
    with pytest.raises(StorageError) as error:
        sandbox_answer(1, read_only)
    assert str(error.value) == (
        "read-only: analysts cannot change data (ClickHouse error 164 READONLY)"
    )
    with pytest.raises(ConfigError, match=r"^this kernel offers no Landlock"):
        sandbox_answer(2, b"this kernel offers no Landlock (Linux 5.13+ with Landlock enabled)")
    with pytest.raises(StorageError, match="ended with status -11"):
        sandbox_answer(-11, b"")


def test_without_landlock_the_sandbox_refuses_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landlock, "abi_version", lambda: 0)
    with pytest.raises(ConfigError, match=r"^this kernel offers no Landlock \(Linux 5\.13\+"):
        landlock.restrict([], [])
