"""The command line: help everywhere, one-line errors with exit code 2, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

from schemas.jsonschema import TOPIC_MODELS
from streams.cli.root import app
from streams.cli.settings import command_settings
from streams.config import Settings
from tests.support.cli import REPO, cli, run


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", _commands(app))
def test_every_command_has_help(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith("Usage: contactstream")


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_the_version_is_one_line(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    code, out, err = run(capsys, flag)
    assert (code, err) == (0, "")
    assert out.startswith("contactstream, version ")
    assert len(out.splitlines()) == 1


def test_no_wheel_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.whl"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert tracked.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [
        ("broker", "start", "--port", "abc"),
        ("broker", "start", "--port", "70000"),
        ("broker", "--bogus"),
        ("nosuchcommand",),
        ("simulate", "--duration", "5"),
        ("simulate", "--invalid-fraction", "2"),
        ("subject", "erase", "--phone", "+358 12", "--email", "a@example.com"),
        ("subject", "erase", "--phone", "+358 12"),
        ("subject", "rectify", "--phone", "0501234567", "--field", "name", "--value", "x"),
    ],
)
def test_wrong_arguments_give_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0]
    assert "Traceback" not in err


def test_an_invalid_phone_is_named_without_being_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run(capsys, "subject", "erase", "--phone", "+358 12 39")
    assert "phone" in err
    assert "12 39" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ("subject", "export", "--phone", "not a number"),
        ("subject", "erase", "--email", "not-an-email"),
        ("subject", "rectify", "--phone", "0501234567", "--field", "phone", "--value", "x 1"),
    ],
)
def test_subject_arguments_are_checked_before_the_signing_key(
    argv: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In production with no key and no broker, a wrong argument is still the first thing said."""
    monkeypatch.delenv("CONTACTSTREAM_DPO_SIGNING_KEY_FILE", raising=False)
    env = {
        "CONTACTSTREAM_MODE": "production",
        "CONTACTSTREAM_DATA_DIR": str(tmp_path),
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    }
    done = cli(*argv, env=env, check=False, timeout=60)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line.startswith(f"contactstream subject {argv[1]}: error: invalid "), line
    assert argv[-1] not in line


def test_unreachable_kafka_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    code, _, err = run(capsys, "topics", "ensure")
    assert code == 1
    assert err.strip().splitlines() == [
        "contactstream: error: Kafka at 127.0.0.1:1 failed: KafkaConnectionError "
        "(is the broker running? 'contactstream broker start')"
    ]


def test_bad_environment_setting_is_one_line_without_its_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTSTREAM_RETENTION_MONTHS", "eighteen-secret")
    code, _, err = run(capsys, "retention", "status")
    assert code == 2
    assert err.strip().startswith(
        "contactstream: error: invalid setting CONTACTSTREAM_RETENTION_MONTHS"
    )
    assert "eighteen-secret" not in err


def test_missing_java_is_said_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither java nor mvn can be found
    code, _, err = run(capsys, "broker", "start", "--port", "0", "--data-dir", str(tmp_path))
    assert code == 1
    assert err.strip().splitlines() == [
        "contactstream: error: 'java' is not installed or not on PATH: install a JDK 17+ "
        "(e.g. apt-get install openjdk-17-jre-headless)"
    ]


def test_schemas_export_writes_what_is_committed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "schemas", "export", str(tmp_path))
    assert code == 0
    committed = Path(__file__).resolve().parents[2] / "schemas" / "json"
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(p.name for p in committed.glob("*.json"))
    assert len(written) == len(TOPIC_MODELS)
    for name in written:
        assert (tmp_path / name).read_text() == (committed / name).read_text()
    assert out.count("wrote ") == len(TOPIC_MODELS)


def test_config_shows_every_setting_with_its_source_and_masks_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTSTREAM_KAFKA_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("CONTACTSTREAM_CLICKHOUSE_DSN", "http://u:dsn-secret@ch:8123/db")
    code, out, _ = run(capsys, "config")
    assert code == 0
    assert "hunter2-secret" not in out
    assert "dsn-secret" not in out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "***  [environment]" in lines["CONTACTSTREAM_KAFKA_PASSWORD"]
    assert "http://u:***@ch:8123/db" in lines["CONTACTSTREAM_CLICKHOUSE_DSN"]
    assert lines["CONTACTSTREAM_TOPIC_PREFIX"].endswith("[default]")
    assert len(lines) == len(Settings.model_fields)
    code, out, _ = run(capsys, "config", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["CONTACTSTREAM_KAFKA_PASSWORD"] == {"value": "***", "source": "environment"}
    assert document["CONTACTSTREAM_CLICKHOUSE_DSN"]["value"] == "http://u:***@ch:8123/db"
    assert document["CONTACTSTREAM_TOPIC_PREFIX"] == {"value": "contacts", "source": "default"}
    assert "secret" not in out
    assert len(document) == len(Settings.model_fields)


def test_config_shows_derived_values_with_their_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith("CONTACTSTREAM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CONTACTSTREAM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CONTACTSTREAM_MODE", "production")
    code, out, _ = run(capsys, "config")
    assert code == 0
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in out.splitlines()}
    assert rows["CONTACTSTREAM_JAR_CACHE"] == (
        f"{tmp_path}/jars  [derived: CONTACTSTREAM_DATA_DIR/jars]"
    )
    assert rows["CONTACTSTREAM_EXPORTS_DIR"] == (
        f"{tmp_path}/exports  [derived: CONTACTSTREAM_DATA_DIR/exports]"
    )
    assert rows["CONTACTSTREAM_CLICKHOUSE_DSN"] == (
        f"chdb://{tmp_path}/clickhouse  [derived: chDB in CONTACTSTREAM_DATA_DIR/clickhouse]"
    )
    assert rows["CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS"] == (
        "60.0  [derived: 60 with chDB, 0 (none) with a ClickHouse server]"
    )
    # Unset with nothing derived: no login; production has no generated DPO key.
    not_set = sorted(name for name, row in rows.items() if row.startswith("(not set)"))
    assert not_set == sorted(
        f"CONTACTSTREAM_{name}"
        for name in [
            "KAFKA_USERNAME",
            "KAFKA_PASSWORD",
            "KAFKA_CA_FILE",
            "DPO_SIGNING_KEY_FILE",
            "DPO_VERIFY_KEY_FILE",
        ]
    )
    monkeypatch.setenv("CONTACTSTREAM_MODE", "dev")
    monkeypatch.setenv("CONTACTSTREAM_CLICKHOUSE_DSN", "http://ch:8123/db")
    monkeypatch.setenv("CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    code, out, _ = run(capsys, "config", "--json")
    document = json.loads(out)
    assert document["CONTACTSTREAM_ANALYST_SNAPSHOT_SECONDS"] == {
        "value": "0.0",
        "source": "derived: 60 with chDB, 0 (none) with a ClickHouse server",
    }
    assert document["CONTACTSTREAM_DPO_SIGNING_KEY_FILE"] == {
        "value": f"{tmp_path}/keys/dpo-signing-key.pem",
        "source": "derived: dev mode: a pair generated in CONTACTSTREAM_DATA_DIR/keys",
    }
    assert document["CONTACTSTREAM_KAFKA_CA_FILE"]["value"] == "the system's CA certificates"
    assert document["CONTACTSTREAM_CLICKHOUSE_DSN"]["source"] == "environment"
    assert document["CONTACTSTREAM_JAR_CACHE"]["source"] == "derived: CONTACTSTREAM_DATA_DIR/jars"


@pytest.mark.parametrize("command", _commands(app))
def test_every_help_names_where_settings_come_from(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert "CONTACTSTREAM_*" in " ".join(out.split())


def test_commands_find_the_local_broker_from_its_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CONTACTSTREAM_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("CONTACTSTREAM_DATA_DIR", str(tmp_path))
    (tmp_path / "kafka").mkdir()
    # Only a process whose command line runs this directory's config is its broker: a stand-in
    # with the broker's main class and config path as arguments.
    config = str(tmp_path / "kafka" / "server.properties")
    sleep = "import time; time.sleep(60)"
    with subprocess.Popen([sys.executable, "-c", sleep, "kafka.Kafka", config]) as stand_in:
        cmdline = Path(f"/proc/{stand_in.pid}/cmdline")
        while b"kafka.Kafka" not in cmdline.read_bytes():  # until the child has exec'd
            time.sleep(0.01)
        state = {"pid": stand_in.pid, "port": 40123, "controller_port": 40124}
        (tmp_path / "kafka" / "broker.json").write_text(json.dumps(state))
        assert command_settings().kafka_bootstrap == "127.0.0.1:40123"
        assert "using the local broker at 127.0.0.1:40123" in capsys.readouterr().err
        _, out, _ = run(capsys, "config", "--json")  # what the commands use, and why
        _, _, err = run(capsys, "analyst", "query", "SELECT 1")  # no Kafka: no notice
        stand_in.kill()
    assert "local broker" not in err, err
    assert json.loads(out)["CONTACTSTREAM_KAFKA_BOOTSTRAP"] == {
        "value": "127.0.0.1:40123",
        "source": f"derived: the running local broker's {tmp_path / 'kafka' / 'broker.json'}",
    }
    monkeypatch.setenv("CONTACTSTREAM_KAFKA_BOOTSTRAP", "kafka.example:9092")
    assert command_settings().kafka_bootstrap == "kafka.example:9092"


def test_simulate_against_a_dead_broker_is_one_line_and_leaves_no_client_open() -> None:
    result = cli(
        "simulate",
        "--count",
        "5",
        env={"CONTACTSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "contactstream: error: Kafka at 127.0.0.1:1 failed: KafkaConnectionError "
        "(is the broker running? 'contactstream broker start')"
    ], result.stderr


def test_log_level_warning_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    from streams.observability.logs import level_number

    monkeypatch.setenv("CONTACTSTREAM_LOG_LEVEL", "warning")
    assert Settings().log_level == "warning"
    assert level_number("warning") == level_number("warn") == logging.WARNING
