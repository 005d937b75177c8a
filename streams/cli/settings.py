"""The settings a command runs with: Settings(), plus the local broker when none is named.

`contactstream broker start --port 0` picks a free port and records it in
$DATA_DIR/kafka/broker.json; a later command in the same data directory finds that broker there
when CONTACTSTREAM_KAFKA_BOOTSTRAP is not set, and says so on stderr.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from streams.cli.kafka_failure import remember
from streams.config import SECRETS_DIR, Settings
from streams.kafka.local import LocalBroker

_VARIABLE = "CONTACTSTREAM_KAFKA_BOOTSTRAP"


def command_settings() -> Settings:
    """The settings of the running command, also kept for its Kafka error message."""
    settings = _chosen()
    remember(settings)
    return settings


def _chosen() -> Settings:
    settings = Settings()
    found = local_broker(settings)
    if found is None:
        return settings
    bootstrap, state_file = found
    click.echo(
        f"using the local broker at {bootstrap} (from {state_file}; "
        f"set {_VARIABLE} to use another)",
        err=True,
    )
    return settings.model_copy(update={"kafka_bootstrap": bootstrap})


def local_broker(settings: Settings) -> tuple[str, Path] | None:
    """The address of the data directory's running broker and the state file that names it,
    when commands use it instead of the settings' bootstrap (none is set, and it differs)."""
    if _VARIABLE in os.environ or (SECRETS_DIR / _VARIABLE.lower()).is_file():
        return None
    broker = LocalBroker(home=settings.data_dir / "kafka", jar_cache=settings.jars_path)
    state = broker.status()
    if state is None or state.bootstrap == settings.kafka_bootstrap:
        return None
    return state.bootstrap, broker.state_file
