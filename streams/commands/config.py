"""`contactstream config`: the effective settings, where each comes from, secrets masked."""

from __future__ import annotations

import json
import os
from typing import Any

import click
from pydantic import SecretStr

from streams.config import SECRETS_DIR, Settings

SETTINGS_EPILOG = (
    "Settings come from CONTACTSTREAM_* environment variables (or, for secrets, files in "
    "/run/secrets named like the variable in lower case); 'contactstream config' shows the "
    "effective ones."
)


def describe_settings(settings: Settings, environ: dict[str, str]) -> list[tuple[str, str, str]]:
    """(variable, shown value, source) for every setting; secrets never shown (pure)."""
    rows = []
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
        else:
            source = "default"
        rows.append((variable, shown, source))
    return rows


@click.command("config", epilog=SETTINGS_EPILOG)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: variable -> value, source.")
def config(as_json: bool) -> None:
    """Print every setting's effective value and where it comes from (secrets masked)."""
    environ = {k: v for k, v in os.environ.items() if k.startswith("CONTACTSTREAM_")}
    rows = describe_settings(Settings(), environ)
    if as_json:
        document = {variable: {"value": shown, "source": src} for variable, shown, src in rows}
        click.echo(json.dumps(document))
        return
    width = max(len(variable) for variable, _, _ in rows)
    for variable, shown, source in rows:
        click.echo(f"{variable:<{width}}  {shown}  [{source}]")
