"""`contactstream config`: the effective settings, where each comes from, secrets masked."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr

from streams.cli.settings import local_broker
from streams.config import SECRETS_DIR, Settings
from streams.subjects.signing import SIGNING_KEY_NAME, VERIFY_KEY_NAME

SETTINGS_EPILOG = (
    "Settings come from CONTACTSTREAM_* environment variables (or, for secrets, files in "
    "/run/secrets named like the variable in lower case); 'contactstream config' shows the "
    "effective ones."
)


def describe_settings(
    settings: Settings, environ: dict[str, str], broker: tuple[str, Path] | None = None
) -> list[tuple[str, str, str]]:
    """(variable, shown value, source) for every setting; secrets never shown (pure but for
    looking for secret files). A setting left unset that the code derives shows the value it
    derives and how; `broker`: the local broker commands use (address, its state file)."""
    rows = []
    derivations = derived(settings, broker)
    for name in Settings.model_fields:
        variable = f"CONTACTSTREAM_{name.upper()}"
        value: Any = getattr(settings, name)
        if name == "clickhouse_dsn":
            shown = settings.dsn_for_display
        elif isinstance(value, SecretStr):
            shown = "***"
        elif value is None:
            shown = "(not set)"
        else:
            shown = str(value)
        if variable in environ:
            source = "environment"
        elif (SECRETS_DIR / variable.lower()).is_file():
            source = f"secret file {SECRETS_DIR / variable.lower()}"
        elif name in derivations:
            value, how = derivations[name]
            shown, source = str(value), f"derived: {how}"
        else:
            source = "default"
        rows.append((variable, shown, source))
    return rows


def derived(
    settings: Settings, broker: tuple[str, Path] | None = None
) -> dict[str, tuple[object, str]]:
    """setting -> (the value the code uses while it is unset, how it is derived) (pure)."""
    found: dict[str, tuple[object, str]] = {
        "jar_cache": (settings.jars_path, "CONTACTSTREAM_DATA_DIR/jars"),
        "exports_dir": (settings.exports_path, "CONTACTSTREAM_DATA_DIR/exports"),
        "clickhouse_dsn": (settings.dsn_for_display, "chDB in CONTACTSTREAM_DATA_DIR/clickhouse"),
        "analyst_snapshot_seconds": (
            settings.snapshot_interval,
            "60 with chDB, 0 (none) with a ClickHouse server",
        ),
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        found["kafka_ca_file"] = ("the system's CA certificates", "SASL_SSL without a CA file")
    if settings.mode == "dev":
        dev_pair = "dev mode: a pair generated in CONTACTSTREAM_DATA_DIR/keys"
        found["dpo_signing_key_file"] = (settings.keys_path / SIGNING_KEY_NAME, dev_pair)
        found["dpo_verify_key_file"] = (settings.keys_path / VERIFY_KEY_NAME, dev_pair)
    found = {name: entry for name, entry in found.items() if getattr(settings, name) is None}
    if broker is not None:  # what `command_settings` uses, though the field has a default
        found["kafka_bootstrap"] = (broker[0], f"the running local broker's {broker[1]}")
    return found


@click.command("config", epilog=SETTINGS_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: variable -> value, source.")
def config(as_json: bool) -> None:
    """Print every setting's effective value and where it comes from (secrets masked)."""
    environ = {k: v for k, v in os.environ.items() if k.startswith("CONTACTSTREAM_")}
    settings = Settings()
    rows = describe_settings(settings, environ, local_broker(settings))
    if as_json:
        document = {variable: {"value": shown, "source": src} for variable, shown, src in rows}
        click.echo(json.dumps(document))
        return
    width = max(len(variable) for variable, _, _ in rows)
    for variable, shown, source in rows:
        click.echo(f"{variable:<{width}}  {shown}  [{source}]")
