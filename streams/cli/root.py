"""The `contactstream` command line. Wrong arguments: one line on stderr, exit 2, no traceback."""

from __future__ import annotations

import logging
import sys

import click
from pydantic import ValidationError

from streams.cli.analyst import analyst
from streams.cli.broker import broker
from streams.cli.config import SETTINGS_EPILOG, config
from streams.cli.demo import demo
from streams.cli.dlq import dlq
from streams.cli.kafka_failure import CommandLine
from streams.cli.keys import keys
from streams.cli.migrate import migrate_command
from streams.cli.retention import retention
from streams.cli.schemas import schemas_group
from streams.cli.simulate import simulate_command
from streams.cli.subject import subject
from streams.cli.topics import topics
from streams.cli.worker import worker
from streams.errors import ContactstreamError
from streams.files import use_private_umask
from streams.observability.logs import install_scrubbing


@click.group(
    cls=CommandLine,  # a Kafka failure: one line with the address the command used
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=SETTINGS_EPILOG,
)
@click.version_option(None, "-V", "--version", package_name="contactstream")
def app() -> None:
    """Customer-service contacts from Kafka into ClickHouse, with retention built in."""


for command in (
    analyst,
    broker,
    config,
    demo,
    dlq,
    keys,
    migrate_command,
    retention,
    schemas_group,
    simulate_command,
    subject,
    topics,
    worker,
):
    app.add_command(command)


def _name_the_settings(group: click.Group) -> None:
    """Every --help says where settings come from."""
    for command in group.commands.values():
        if not command.epilog:
            command.epilog = SETTINGS_EPILOG
        if isinstance(command, click.Group):
            _name_the_settings(command)


_name_the_settings(app)


def _settings_error_line(exc: ValidationError) -> str:
    # Never echo the input: an env var such as the DSN can hold a password.
    first = exc.errors()[0]
    name = "CONTACTSTREAM_" + "_".join(str(p) for p in first["loc"]).upper()
    return f"invalid setting {name}: {first['msg']}"


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps every expected failure to one line and an exit code."""
    # Private at rest: whatever any command (or a child such as the broker's JVM) creates is
    # 0700/0600. Which commands also refuse a data directory other users can use: those that
    # create or open personal data in it (worker, broker start, demo, and migrate and retention
    # on an embedded chDB), each calling streams.files.require_private_data. The others (topics,
    # simulate, subject, config, keys, schemas, analyst query, broker stop/status) keep no
    # personal data there.
    use_private_umask()
    install_scrubbing()
    # A command reports a Kafka failure in one line of its own; aiokafka's retry chatter is noise.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        result = app.main(args=argv, prog_name="contactstream", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        sys.exit(0)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "contactstream"
        click.echo(f"{command}: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except ValidationError as exc:
        click.echo(f"contactstream: error: {_settings_error_line(exc)}", err=True)
        sys.exit(2)
    except ContactstreamError as exc:
        click.echo(f"contactstream: error: {exc}", err=True)
        sys.exit(1)
    except (click.Abort, KeyboardInterrupt):
        click.echo("contactstream: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"contactstream: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(result if isinstance(result, int) else 0)
