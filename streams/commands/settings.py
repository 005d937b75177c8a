"""The settings a command runs with: Settings(), plus the local broker when none is named.

`contactstream broker start --port 0` picks a free port and records it in
$DATA_DIR/kafka/broker.json; a later command in the same data directory finds that broker there
when CONTACTSTREAM_KAFKA_BOOTSTRAP is not set, and says so on stderr.
"""

from __future__ import annotations

import os

import click

from streams.config import SECRETS_DIR, Settings
from streams.localkafka import LocalBroker

_VARIABLE = "CONTACTSTREAM_KAFKA_BOOTSTRAP"


def command_settings() -> Settings:
    settings = Settings()
    if _VARIABLE in os.environ or (SECRETS_DIR / _VARIABLE.lower()).is_file():
        return settings
    broker = LocalBroker(home=settings.data_dir / "kafka", jar_cache=settings.jars_path)
    state = broker.status()
    if state is None or state.bootstrap == settings.kafka_bootstrap:
        return settings
    click.echo(
        f"using the local broker at {state.bootstrap} (from {broker.state_file}; "
        f"set {_VARIABLE} to use another)",
        err=True,
    )
    return settings.model_copy(update={"kafka_bootstrap": state.bootstrap})
