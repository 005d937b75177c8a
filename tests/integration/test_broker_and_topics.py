"""The project's own broker starts twice without downloading again; topics ensure is idempotent
and reports (then fixes) drift on the real broker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.config import Settings
from streams.kafka.topics import declared_topics
from streams.storage import open_client
from streams.storage.client import insert_spool
from tests.support.cli import CLI, REPO, cli


def test_broker_start_stop_twice_second_start_downloads_nothing(tmp_path: Path) -> None:
    env = {"CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars")}
    for attempt in range(2):
        started = cli("broker", "start", "--port", "0", "--data-dir", str(tmp_path), env=env)
        lines = started.stdout.strip().splitlines()
        assert lines[-1].startswith("bootstrap=127.0.0.1:")
        if attempt == 1:  # the first start of a fresh clone may download; the second never
            assert any(line.startswith("jars: cached in") for line in lines), started.stdout
            # The next command finds this broker from its state, as a user would type it.
            found = cli(
                "topics",
                "ensure",
                env={
                    **env,
                    "CONTACTSTREAM_DATA_DIR": str(tmp_path),
                    "CONTACTSTREAM_TOPIC_PREFIX": "found",
                },
            )
            bootstrap = lines[-1].removeprefix("bootstrap=")
            assert f"using the local broker at {bootstrap}" in found.stderr
            assert "created   found.raw.sms" in found.stdout
        assert cli("broker", "status", "--data-dir", str(tmp_path), env=env).returncode == 0
        assert (
            cli("broker", "stop", "--data-dir", str(tmp_path), env=env).stdout.strip()
            == "broker stopped"
        )
    status = cli("broker", "status", "--data-dir", str(tmp_path), env=env, check=False)
    assert status.returncode == 3


def test_broker_start_names_the_log_kafka_writes_also_when_it_fails(tmp_path: Path) -> None:
    env = {"CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars")}
    start = ("broker", "start", "--port", "0", "--data-dir", str(tmp_path))
    started = cli(*start, env=env)
    cli("broker", "stop", "--data-dir", str(tmp_path), env=env)
    named = re.search(r"^broker started \(.*, log (\S+)\)$", started.stdout, re.MULTILINE)
    assert named is not None, started.stdout
    log = Path(named.group(1))
    assert log.stat().st_size > 0, f"{log} is empty: Kafka writes elsewhere"
    # Data formatted for another node: the real broker refuses it and exits.
    meta = tmp_path / "kafka" / "data" / "meta.properties"
    meta.write_text(meta.read_text().replace("node.id=1", "node.id=2"))
    failed = cli(*start, env=env, check=False)
    assert failed.returncode == 1
    *progress, error = failed.stderr.strip().splitlines()
    assert all(line.startswith("starting the broker") for line in progress), failed.stderr
    assert error == f"contactstream: error: the broker exited with code 1; see {log}"
    assert "Stored node id 2 doesn't match" in log.read_text(), "the named log says why"


async def _set_retention(bootstrap: str, topic: str, millis: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    topic,
                    {"retention.ms": millis, "cleanup.policy": "delete"},
                )
            ]
        )
    finally:
        await admin.close()


def test_topics_ensure_is_idempotent_and_reports_drift(
    kafka_bootstrap: str, unique_name: str
) -> None:
    env = {
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CONTACTSTREAM_TOPIC_PREFIX": unique_name,
    }
    declared = len(declared_topics(Settings(topic_prefix=unique_name)))
    first = cli("topics", "ensure", env=env)
    assert first.stdout.count("created") == declared == 10
    second = cli("topics", "ensure", env=env)
    assert second.stdout.count("ok ") == declared
    assert "created" not in second.stdout

    asyncio.run(_set_retention(kafka_bootstrap, f"{unique_name}.raw.sms", "-1"))
    drift = cli("topics", "ensure", env=env, check=False)
    assert drift.returncode == 1
    assert (
        f"DRIFT     {unique_name}.raw.sms: retention.ms=-1 but declared 604800000 "
        "(personal data kept longer than declared)" in drift.stdout
    )
    # alter_configs replaced the topic's whole configuration: segment.ms is back at 7 days.
    assert (
        f"DRIFT     {unique_name}.raw.sms: segment.ms=604800000 but declared 25200000 "
        "(personal data kept longer than declared)" in drift.stdout
    )
    assert drift.stderr.strip().splitlines()[-1].startswith("contactstream: error: 2 topic")
    as_json = cli("topics", "ensure", "--json", env=env, check=False)
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert (len(report["ok"]), report["created"], report["fixed"]) == (declared - 1, [], [])
    assert [line.split(":")[0] for line in report["drift"]] == [f"{unique_name}.raw.sms"] * 2

    fixed = cli("topics", "ensure", "--fix", env=env)
    assert f"fixed     {unique_name}.raw.sms" in fixed.stdout
    assert cli("topics", "ensure", env=env).stdout.count("ok ") == declared


def test_migrate_twice_changes_nothing(tmp_path: Path, unique_name: str) -> None:
    env = {
        "CONTACTSTREAM_DATA_DIR": str(tmp_path),
        "CONTACTSTREAM_CLICKHOUSE_DATABASE": unique_name,
    }
    first = cli("migrate", env=env)
    assert "applied   0001_contact_events.sql" in first.stdout
    second = cli("migrate", env=env)
    assert "(0 migration(s) applied now)" in second.stdout


def test_embedded_inserts_spool_beside_the_data_and_leftovers_are_removed(tmp_path: Path) -> None:
    """clickhouse-connect's chDB backend writes every insert's rows to a temporary file: never
    in /tmp, where a killed process would leave personal data past any retention."""
    env = {"CONTACTSTREAM_DATA_DIR": str(tmp_path), "CONTACTSTREAM_MODE": "dev"}
    cli("migrate", env=env)
    spool = insert_spool(Settings(data_dir=tmp_path))
    assert spool.is_dir()
    assert spool.stat().st_mode & 0o777 == 0o700
    # What a process killed mid-insert leaves behind (personal data in Native format).
    leftover = spool / "tmpkilled.native"
    leftover.write_bytes(b"+358401234567")
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pathlib, tempfile; from streams.config import Settings; "
            "from streams.storage import open_client; open_client(Settings()); "
            "spooled = pathlib.Path(tempfile.gettempdir(), 'in-flight.native'); "
            "spooled.write_bytes(b'rows'); open_client(Settings()); "
            "print(tempfile.gettempdir()); print(spooled.exists())",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    where, kept = probe.stdout.split()
    assert where == str(spool), "this process's temporary files go to the spool"
    assert kept == "True", "a second client of the same process leaves in-flight files alone"
    assert not leftover.exists(), "the leftover was deleted when the engine was opened"


def test_a_held_chdb_directory_is_one_clear_line(chdb_settings: Settings) -> None:
    holder = open_client(chdb_settings)  # this process holds the directory, as a worker would
    env = {"CONTACTSTREAM_CLICKHOUSE_DSN": chdb_settings.dsn}
    result = cli("migrate", env=env, check=False)
    holder.close()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "is in use by another process (a running worker holds it)" in lines[0]


async def _end_offsets_total(bootstrap: str, topics: list[str]) -> int:
    from tests.support.harness import end_offsets

    return sum((await end_offsets(bootstrap, topics)).values())


def test_simulate_produces_what_it_reports(kafka_bootstrap: str, unique_name: str) -> None:
    env = {
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CONTACTSTREAM_TOPIC_PREFIX": unique_name,
    }
    cli("topics", "ensure", env=env)
    out = cli(
        "simulate",
        "--count",
        "400",
        "--history-months",
        "3",
        "--invalid-fraction",
        "0.05",
        "--seed",
        "3",
        env=env,
    ).stdout
    produced = int(out.strip().splitlines()[-1].split()[1])
    topics = [f"{unique_name}.raw.{ch}" for ch in ("phone", "sms", "email", "form")]
    assert asyncio.run(_end_offsets_total(kafka_bootstrap, topics)) == produced > 400


def test_simulate_shows_progress_and_stops_cleanly_on_ctrl_c(
    kafka_bootstrap: str, unique_name: str
) -> None:
    env = {
        **os.environ,
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CONTACTSTREAM_TOPIC_PREFIX": unique_name,
    }
    cli("topics", "ensure", env=env)
    proc = subprocess.Popen(
        # Long enough (about a minute and a half) that the interrupt lands mid-stream.
        [*CLI, "simulate", "--rate", "50", "--count", "4000"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait for the first plain progress line (every 10 s when not at a terminal), however
    # slowly a loaded machine starts the command, then interrupt.
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        if ready:
            line = proc.stderr.readline()
            seen.append(line)
            if re.fullmatch(r"sending: \d[\d,]* of [\d,]+\n", line) or not line:
                break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=30)
    err = "".join(seen) + rest
    assert proc.returncode == 130, err
    assert re.search(r"^sending: \d[\d,]* of [\d,]+$", err, re.MULTILINE), err
    summary = err.strip().splitlines()[-1]
    assert re.fullmatch(r"interrupted: sent [\d,]+ of [\d,]+ messages", summary), err
    assert "Traceback" not in err
    assert "Unclosed" not in err
