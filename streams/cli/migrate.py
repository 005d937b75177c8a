"""`contactstream migrate`: pending ClickHouse migrations applied."""

from __future__ import annotations

import click

from streams.cli.settings import command_settings
from streams.files import require_private_data


@click.command("migrate")
def migrate_command() -> None:
    """Apply pending ClickHouse migrations (streams/storage/sql/, idempotent)."""
    from streams.storage import migrate, open_client

    config = command_settings()
    if config.is_embedded:  # chDB's parts and the insert spool live under the data directory
        require_private_data(config)
    client = open_client(config)
    try:
        applied = migrate(client, config)
    finally:
        client.close()
    for name in applied:
        click.echo(f"applied   {name}")
    click.echo(
        f"database {config.clickhouse_database} is up to date "
        f"({len(applied)} migration(s) applied now)"
    )


