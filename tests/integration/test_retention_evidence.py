"""`retention status|run --dry-run` show the configured database's figures or say why not (P7).

No broker is needed: the real chDB engine, the real migrations and the real command in a child
process. A child process holding the chDB directory plays the running worker (chDB allows one
process per directory), and the status documents are written by the worker's own write_status.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.config import Settings
from streams.privacy.retention import RetentionRun, write_status
from streams.privacy.sql import ContactKey
from tests.support.cli import cli

_CHDB = """
import chdb, json, sys
connection = chdb.connect(sys.argv[1])
"""


def chdb_child(path: Path, code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHDB + textwrap.dedent(code), str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def databases(path: Path) -> list[str]:
    """The databases of a chDB directory, read without creating any."""
    child = chdb_child(
        path,
        "print(json.dumps([r[0] for r in json.loads(str(connection.query("
        "'SELECT name FROM system.databases ORDER BY name', 'JSONCompact')))['data']]))",
    )
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    names: list[str] = json.loads(out)
    return names


@pytest.fixture
def env(tmp_path: Path, unique_name: str) -> dict[str, str]:
    return {
        "CONTACTSTREAM_DATA_DIR": str(tmp_path),
        "CONTACTSTREAM_CLICKHOUSE_DATABASE": unique_name,
        "CONTACTSTREAM_TOPIC_PREFIX": f"{unique_name}.p",
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:1",  # never reached by these commands
        "CONTACTSTREAM_MODE": "dev",
    }


def settings_of(env: dict[str, str], **changes: object) -> Settings:
    """The settings a worker with this environment runs with (as the CLI child reads them)."""
    return Settings(
        data_dir=Path(env["CONTACTSTREAM_DATA_DIR"]),
        clickhouse_database=env["CONTACTSTREAM_CLICKHOUSE_DATABASE"],
        topic_prefix=env["CONTACTSTREAM_TOPIC_PREFIX"],
    ).model_copy(update=changes)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("contactstream: error: ")
    return line


def test_an_unmigrated_database_is_one_line_and_is_not_created(
    env: dict[str, str], tmp_path: Path, unique_name: str
) -> None:
    chdb_dir = tmp_path / "clickhouse"
    for argv in (("retention", "status"), ("retention", "run", "--dry-run")):
        line = one_error_line(cli(*argv, env=env, check=False))
        assert f"database {unique_name} in chdb://{chdb_dir} has no contactstream tables" in line
    assert not chdb_dir.exists(), "a read-only command created the chDB directory"

    # A chDB directory that holds another database only (as after `make demo`).
    child = chdb_child(chdb_dir, "connection.query('CREATE DATABASE demo_1'); connection.close()")
    assert child.wait(timeout=120) == 0
    for argv in (
        ("retention", "status"),
        ("retention", "status", "--json"),
        ("retention", "run", "--dry-run"),
        ("retention", "run"),
    ):
        result = cli(*argv, env=env, check=False)
        line = one_error_line(result)
        assert "(the database does not exist): run the worker" in line, line
        assert result.stdout == ""
    assert unique_name not in databases(chdb_dir)

    # A database that exists without the tables (what `retention status` used to leave).
    child = chdb_child(chdb_dir, f"connection.query('CREATE DATABASE {unique_name}')")
    assert child.wait(timeout=120) == 0
    line = one_error_line(cli("retention", "status", env=env, check=False))
    assert "(missing: contacts_merged, redaction_log, retention_runs)" in line, line


@pytest.fixture
def held(env: dict[str, str], tmp_path: Path) -> Iterator[Settings]:
    """A migrated database whose chDB directory another process holds, like a running worker."""
    cli("migrate", env=env)
    holder = chdb_child(tmp_path / "clickhouse", "print('open', flush=True); sys.stdin.read()")
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        yield settings_of(env)
    finally:
        holder.communicate(timeout=60)  # closes its stdin: it exits


def _write(settings: Settings, age: timedelta, overdue: int, due: list[ContactKey]) -> None:
    written = datetime.now(UTC) - age
    entries = [(key, written - timedelta(days=1)) for key in due]
    oldest = timedelta(days=1).total_seconds() if due else 0.0
    run = RetentionRun(written, len(due), len(due), overdue, 4, 12, oldest)
    write_status(settings, run, {"retention": 7, "erasure": 1}, entries)


def test_the_held_database_shows_only_its_own_current_worker_status(
    env: dict[str, str], held: Settings, unique_name: str
) -> None:
    line = one_error_line(cli("retention", "status", env=env, check=False))
    assert "in use by another process" in line
    assert f"no retention status of database {unique_name}" in line

    _write(held, timedelta(seconds=5), 0, [])
    ok = cli("retention", "status", env=env)
    assert ok.returncode == 0
    lines = ok.stdout.splitlines()
    assert f"database:                    {unique_name} (topic prefix {unique_name}.p)" in lines
    assert "redacted so far:             erasure 1, retention 7" in lines
    assert "from the running worker's retention run at" in lines[-1]
    assert str(held.retention_status_path) in lines[-1]
    assert held.retention_status_path.name == f"{unique_name}.{unique_name}.p.json"

    # Past due: exit 2, for cron and monitoring; entries name the contact's id and channel.
    _write(held, timedelta(seconds=5), 2, [ContactKey("c-1", "phone"), ContactKey("c-2", "sms")])
    overdue = cli("retention", "status", "--json", env=env, check=False)
    assert overdue.returncode == 2, overdue.stderr
    figures = json.loads(overdue.stdout)
    assert figures == {
        **figures,
        "database": unique_name,
        "topic_prefix": f"{unique_name}.p",
        "retention_months": 18,
        "overdue": 2,
        "due_30d": 4,
        "redacted": {"erasure": 1, "retention": 7},
        "source": "worker_status",
        "status_file": str(held.retention_status_path),
        "stale": False,
    }
    assert datetime.fromisoformat(figures["as_of"]) == datetime.fromisoformat(figures["last_run"])
    dry = cli("retention", "run", "--dry-run", env=env)
    assert [line.split("\tdue ")[0] for line in dry.stdout.splitlines()[:2]] == [
        "c-1\tphone",
        "c-2\tsms",
    ]
    assert f"database {unique_name}: 2 contacts would be redacted now" in dry.stdout


def test_an_unprintable_contact_id_is_shown_escaped_on_one_line(
    env: dict[str, str], held: Settings
) -> None:
    """Ingestion refuses such ids now; one stored before must not forge terminal lines."""
    forged = "c-1\n\x1b[2K\x1b[1Gretention: nothing is due\u202e"
    _write(held, timedelta(seconds=5), 1, [ContactKey(forged, "phone")])
    dry = cli("retention", "run", "--dry-run", env=env, check=False)
    first, *_ = dry.stdout.splitlines()
    assert (
        first.split("\tdue ")[0] == "c-1\\n\\x1b[2K\\x1b[1Gretention: nothing is due\\u202e\tphone"
    )
    assert "\x1b" not in dry.stdout
    assert "\u202e" not in dry.stdout


def test_a_stale_worker_status_is_marked_and_exits_1(
    env: dict[str, str], held: Settings, unique_name: str
) -> None:
    _write(held, timedelta(minutes=20), 0, [ContactKey("c-1", "phone")])
    stale = cli("retention", "status", env=env, check=False)
    assert stale.returncode == 1
    marker = f"STALE: the worker's retention status of database {unique_name} was written"
    assert stale.stdout.startswith(marker)
    assert "past due with personal data: 0" in stale.stdout
    assert stale.stdout.splitlines()[-1].startswith("(STALE: from the running worker's")
    assert " was written 20 min ago (current for 300 s)" in stale.stdout.splitlines()[0]
    [line] = stale.stderr.strip().splitlines()
    assert line.startswith("contactstream: error: STALE: ")
    assert "(current for 300 s)" in line
    as_json = cli("retention", "status", "--json", env=env, check=False)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["stale"] is True
    dry = cli("retention", "run", "--dry-run", env=env, check=False)
    assert dry.returncode == 1
    assert "(dry run: nothing changed) (STALE: from the" in dry.stdout.splitlines()[-1]
    # The bound follows the interval: three intervals when that is longer than five minutes.
    longer = {**env, "CONTACTSTREAM_RETENTION_INTERVAL_SECONDS": "600"}
    slower = held.model_copy(update={"retention_interval_seconds": 600.0})
    _write(slower, timedelta(minutes=20), 0, [])
    assert cli("retention", "status", env=longer).returncode == 0


def test_another_databases_status_is_refused_naming_both(
    env: dict[str, str], held: Settings, unique_name: str
) -> None:
    # A document at this deployment's path that another deployment wrote (e.g. copied, or a
    # worker whose settings differ): refused, never shown.
    demo = held.model_copy(update={"clickhouse_database": "demo_20250101"})
    _write(demo, timedelta(seconds=1), 0, [])
    demo.retention_status_path.rename(held.retention_status_path)
    for argv in (("retention", "status"), ("retention", "status", "--json")):
        result = cli(*argv, env=env, check=False)
        line = one_error_line(result)
        assert "database demo_20250101" in line, line
        assert f"database {unique_name}" in line
        assert "refusing" in line
        assert result.stdout == ""
    line = one_error_line(cli("retention", "run", "--dry-run", env=env, check=False))
    assert "refusing" in line
    # Another topic prefix is another deployment too.
    _write(held.model_copy(update={"topic_prefix": "other"}), timedelta(seconds=1), 0, [])
    held.retention_status_path.parent.joinpath(f"{unique_name}.other.json").rename(
        held.retention_status_path
    )
    assert "topic prefix other" in one_error_line(cli("retention", "status", env=env, check=False))
