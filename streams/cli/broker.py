"""`contactstream broker`: the local single-node Kafka broker of development and tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from streams.cli.progress import Stopwatch, progress_of
from streams.config import Settings
from streams.files import require_private_data
from streams.kafka.local import LocalBroker
from streams.kafka.local.broker import RETENTION_CHECK_MS

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (default: CONTACTSTREAM_DATA_DIR or ./.contactstream).",
)


def broker_of(data_dir: Path | None = None) -> LocalBroker:
    config = Settings()
    root = data_dir.absolute() if data_dir else config.data_dir
    return LocalBroker(home=root / "kafka", jar_cache=config.jars_path)


@click.group("broker")
def broker() -> None:
    """The local single-node Kafka broker (KRaft, jars from Maven Central)."""


@broker.command("start")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=9092,
    show_default=True,
    help="Listener port on 127.0.0.1; 0 picks a free one.",
)
@_DATA_DIR
@click.option("--fresh", is_flag=True, help="Wipe the broker's data before starting.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=90.0,
    show_default=True,
    help="Seconds to wait until a metadata request succeeds.",
)
@click.option(
    "--secure",
    is_flag=True,
    help="SASL/SCRAM-SHA-512 and ACLs (deny by default): one principal per role, credentials "
    "in DATA_DIR/kafka/principals.json (mode 0600); 'topics ensure' as admin applies the ACLs.",
)
@click.option(
    "--retention-check-seconds",
    type=click.FloatRange(min=1),
    default=RETENTION_CHECK_MS / 1000,
    show_default=True,
    help="How often the broker deletes expired log segments (log.retention.check.interval.ms; "
    "part of how long a record can outlive retention.ms, README 'Topics').",
)
def broker_start(
    port: int,
    data_dir: Path | None,
    fresh: bool,
    timeout: float,
    secure: bool,
    retention_check_seconds: float,
) -> None:
    """Assemble (first time only), format and start the broker; print bootstrap=HOST:PORT."""
    local = broker_of(data_dir)
    # The broker's log segments hold every raw record (personal data) under DATA_DIR/kafka.
    require_private_data(Settings(), local.home.parent)
    running = local.status()
    if running is not None:
        click.echo(f"broker already running (pid {running.pid})")
    else:
        # The first start downloads the jars; every start waits for a metadata request.
        with progress_of(Stopwatch(timeout), "starting the broker (s)"):
            running = local.start(
                port=port,
                fresh=fresh,
                timeout=timeout,
                secure=secure,
                retention_check_ms=int(retention_check_seconds * 1000),
            )
        click.echo(
            "jars: downloaded from Maven Central"
            if local.downloaded
            else f"jars: cached in {local.jar_cache}"
        )
        click.echo(
            f"broker started (Kafka {local.version}, pid {running.pid}, log {local.log_file})"
        )
    if running.secure:
        click.echo(
            f"security: SASL_PLAINTEXT, SCRAM-SHA-512; credentials in {local.principals_file} "
            "(set CONTACTSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT and "
            "CONTACTSTREAM_KAFKA_USERNAME/_PASSWORD of a principal)"
        )
    click.echo(f"bootstrap={running.bootstrap}")


@broker.command("stop")
@_DATA_DIR
def broker_stop(data_dir: Path | None) -> None:
    """Stop the broker cleanly (only this data directory's broker)."""
    local = broker_of(data_dir)
    click.echo("broker stopped" if local.stop() else "broker was not running" + _stranger(local))


@broker.command("status")
@_DATA_DIR
@click.option("--json", "as_json", is_flag=True, help="One JSON object (running, pid, bootstrap).")
def broker_status(data_dir: Path | None, as_json: bool) -> None:
    """Say whether the broker runs (exit 0) or not (exit 3)."""
    local = broker_of(data_dir)
    state = local.status()
    if as_json:
        document: dict[str, Any] = {"running": state is not None, "data_dir": str(local.home)}
        if state is not None:
            document |= {"pid": state.pid, "bootstrap": state.bootstrap, "secure": state.secure}
        elif local.stranger() is not None:
            document["stranger_pid"] = local.stranger()
        click.echo(json.dumps(document))
        sys.exit(0 if state is not None else 3)
    if state is None:
        click.echo("broker is not running" + _stranger(local))
        sys.exit(3)
    click.echo(f"broker is running (pid {state.pid})")
    click.echo(f"bootstrap={state.bootstrap}")


def _stranger(local: LocalBroker) -> str:
    """What to add when the state file names a live process that is not this broker."""
    pid = local.stranger()
    if pid is None:
        return ""
    return (
        f" ({local.state_file} names pid {pid}, which is not this data directory's broker: "
        "left alone)"
    )


