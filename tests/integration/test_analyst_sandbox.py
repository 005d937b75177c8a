"""`contactstream analyst query` runs an analyst's ClickHouse SQL in a sandbox that cannot touch
the file system beyond reading the snapshots (issue 20): whatever the SQL, no file is written and
no file outside the snapshot directory is read. Ordinary analyst queries answer exactly what the
views they were taken from answer.

The snapshots are the real ones: the analyst views of the KPI data set
(tests/support/kpi_dataset.py), written by `write_snapshots` as the leader worker writes them.
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from streams.analyst.snapshots import ANALYST_VIEWS, write_snapshots
from tests.support.cli import REPO, cli
from tests.support.kpi_dataset import (  # noqa: F401 - the fixture, reused
    client,
    documented_service_level_sql,
)

SECRET = "SENTINEL-5f3c9b1e-not-for-analysts"
PASSWD_LINE = "root:x:0:0"


@pytest.fixture
def snapshots(client: Client, tmp_path: Path) -> Path:  # noqa: F811 - the fixture above
    """$DATA_DIR/analyst with real snapshots, next to a secret file in the data directory (as
    the chDB store and the DPO keys are)."""
    directory = tmp_path / "data" / "analyst"
    directory.mkdir(parents=True)
    write_snapshots(client, directory)
    (tmp_path / "data" / "secret.txt").write_text(SECRET + "\n")
    return directory


def analyst_query(snapshots: Path, sql: str) -> str:
    """`contactstream analyst query --format csv SQL` on these snapshots, with SECRET in the
    command's environment: its output, or its one-line error."""
    env = {"CONTACTSTREAM_DATA_DIR": str(snapshots.parent), "CONTACTSTREAM_TEST_SENTINEL": SECRET}
    done = cli("analyst", "query", "--format", "csv", sql, env=env, check=False)
    return done.stdout if done.returncode == 0 else f"refused: {done.stderr}"


def escapes(data: Path, out: Path, relative: str) -> dict[str, str]:
    """SQL that reads a file, writes one or reaches out (issue 20's list and more). With
    `readonly = 1` alone, INTO OUTFILE, the file() function and DESCRIBE file() worked on chDB."""
    secret = data / "secret.txt"
    parent = "concat('/proc/', splitByChar(' ', file('/proc/self/stat'))[4], '/environ')"
    return {
        "into outfile": f"SELECT 1 INTO OUTFILE '{out}/a.csv'",
        "into outfile, comment": f"SELECT 1 INTO/**/OUTFILE '{out}/b.csv'",
        "into outfile, line comment": f"SELECT 1 INTO -- x\nOUTFILE '{out}/c.csv'",
        "into outfile, relative": f"SELECT 1 INTO OUTFILE '{relative}'",
        "into outfile, append": f"SELECT 1 INTO OUTFILE '{out}/d.csv' APPEND",
        "into outfile, compressed": f"SELECT 1 INTO OUTFILE '{out}/e.gz' COMPRESSION 'gzip'",
        "describe file()": "DESCRIBE TABLE file('/etc/passwd', 'TSVWithNames')",
        "describe secret": f"DESCRIBE file('{secret}', 'TSVWithNames')",
        "file() function": f"SELECT file('{secret}')",
        "file() of /etc/passwd": "SELECT file('/etc/passwd')",
        "file() table function": f"SELECT * FROM file('{secret}', 'LineAsString')",
        "own environment": "SELECT file('/proc/self/environ')",
        "environment, table function": "SELECT * FROM file('/proc/self/environ', 'RawBLOB')",
        "the parent process's environment": f"SELECT file({parent})",
        "url() of a file": f"SELECT * FROM url('file://{secret}', 'LineAsString')",
        "url()": "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
        "s3()": "SELECT * FROM s3('http://127.0.0.1:9/bucket/key', 'LineAsString')",
        "hdfs()": "SELECT * FROM hdfs('hdfs://127.0.0.1:9/x', 'LineAsString')",
        "executable()": "SELECT * FROM executable('cat /etc/passwd', 'LineAsString', 'x String')",
        "input()": "SELECT * FROM input('x String')",
        "remote()": "SELECT * FROM remote('127.0.0.1:9', system.one)",
        "mysql()": "SELECT * FROM mysql('127.0.0.1:9', 'd', 't', 'u', 'p')",
        "postgresql()": "SELECT * FROM postgresql('127.0.0.1:9', 'd', 't', 'u', 'p')",
        "filesystem()": f"SELECT * FROM filesystem('{data}')",
        "from infile": f"INSERT INTO kpi_daily FROM INFILE '{secret}' FORMAT LineAsString",
        "insert into function": (
            f"INSERT INTO FUNCTION file('{out}/f.csv', 'CSV', 'x UInt8') VALUES (1)"
        ),
        "set readonly": f"SET readonly = 0; SELECT file('{secret}')",
        "settings readonly": (
            f"SELECT * FROM file('{secret}', 'LineAsString') SETTINGS readonly = 0"
        ),
        "attach": f"ATTACH TABLE x (s String) ENGINE = File(LineAsString, '{secret}')",
        "create": f"CREATE TABLE x (s String) ENGINE = File(LineAsString, '{secret}')",
        "dictionary": (
            "CREATE DICTIONARY d (k UInt64, v String) PRIMARY KEY k "
            f"SOURCE(FILE(path '{secret}' format 'TSV')) LAYOUT(FLAT()) LIFETIME(0)"
        ),
        "system": "SYSTEM FLUSH LOGS",
        "system drop cache": "SYSTEM DROP MARK CACHE",
    }


def test_an_analyst_query_reads_no_file_and_writes_none(snapshots: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    relative = REPO / f"analyst-escape-{uuid.uuid4().hex}.csv"  # the command runs in REPO
    tried = escapes(snapshots.parent, out, relative.name)
    before = sorted(snapshots.rglob("*"))
    try:
        with ThreadPoolExecutor(3) as pool:  # one command each, as an analyst would run them
            answers = dict(
                zip(
                    tried,
                    pool.map(lambda sql: analyst_query(snapshots, sql), tried.values()),
                    strict=True,
                )
            )
        written_relative = relative.exists()
    finally:
        relative.unlink(missing_ok=True)
    leaked = {name: a for name, a in answers.items() if SECRET in a or PASSWD_LINE in a}
    assert not leaked, sorted(leaked)
    assert sorted(p.name for p in out.iterdir()) == [], "a file was written"
    assert not written_relative, "a file was written in the working directory"
    assert sorted(snapshots.rglob("*")) == before, "nothing written among the snapshots"
    assert "READONLY" in answers["set readonly"]
    assert "READONLY" in answers["create"]
    assert "CANNOT_OPEN_FILE" in answers["file() of /etc/passwd"], "the sandbox refused it"


ANALYST_QUERIES = [  # each one's answer is checked to be more than a header below
    # docs/analysts.md, "At a terminal" (an ORDER BY added: the rows' order is not defined).
    "SELECT channel, sum(contacts) FROM kpi_daily GROUP BY channel ORDER BY channel",
    "SELECT * FROM kpi_hourly ORDER BY ALL",
    # docs/analysts.md: the service level at another threshold, from analyst_contacts.
    documented_service_level_sql(),
    "SELECT * FROM kpi_daily ORDER BY ALL",
    "SELECT * FROM kpi_service_level_60s ORDER BY ALL",
    "SELECT * FROM kpi_backlog ORDER BY ALL",
]


@pytest.mark.parametrize("sql", ANALYST_QUERIES)
def test_analyst_queries_answer_like_the_views(
    snapshots: Path,
    client: Client,  # noqa: F811 - the fixture above
    sql: str,
) -> None:
    # What the same engine answers over the same files, with no sandbox (on the views
    # themselves, DateTime columns read back from Parquet as DateTime64(3)).
    views = re.compile(rf"\b({'|'.join(ANALYST_VIEWS)})\b")
    on_files = views.sub(
        lambda m: f"file('{snapshots}/current/{m.group(1)}/*.parquet', Parquet)", sql
    )
    expected = client.raw_query(on_files, fmt="CSVWithNames").decode()
    started = time.monotonic()
    assert analyst_query(snapshots, sql) == expected
    assert expected.count("\n") > 1, "the data set gives each query rows to compare"
    assert time.monotonic() - started < 10, "an analyst query stays interactive"


def test_a_refused_query_says_what_the_engine_said_in_one_line(snapshots: Path) -> None:
    unknown = analyst_query(snapshots, "SELECT foo FROM kpi_daily")
    assert unknown.startswith(
        "refused: contactstream: error: ClickHouse error 47 UNKNOWN_IDENTIFIER: "
    )
    assert "`foo`" in unknown, "the engine's message names the column"
    assert unknown.count("\n") == 1, unknown
    for change in ("INSERT INTO kpi_daily SELECT * FROM kpi_daily", "SET readonly = 0"):
        assert analyst_query(snapshots, change) == (
            "refused: contactstream: error: read-only: analysts cannot change data "
            "(ClickHouse error 164 READONLY)\n"
        )
