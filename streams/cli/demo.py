"""`contactstream demo`: the whole system on the embedded defaults (streams.dev.demo)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from streams.cli.settings import command_settings
from streams.files import require_private_data


@click.command("demo")
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds of live traffic after the backfill.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=1),
    default=200.0,
    show_default=True,
    help="Live events per second.",
)
@click.option(
    "--history-contacts",
    type=click.IntRange(min=0),
    default=20_000,
    show_default=True,
    help="Contacts backfilled over the history.",
)
@click.option(
    "--history-months",
    type=click.IntRange(0, 120),
    default=24,
    show_default=True,
    help="Months of backfilled history (older than 18 months gets redacted).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Reproducible traffic.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where run reports are written.",
)
def demo(
    duration: float,
    rate: float,
    history_contacts: int,
    history_months: int,
    seed: int,
    report_dir: Path,
) -> None:
    """Run the whole system on the embedded defaults and report what ClickHouse holds."""

    from streams.dev.demo import Demo, DemoOptions
    from streams.extras import require, require_embedded_engine

    config = command_settings()
    require_embedded_engine(config)
    require("demo", "contactstream demo")
    # It runs a broker and a worker (Kafka segments, chDB) in the data directory.
    require_private_data(config)

    options = DemoOptions(
        duration=duration,
        rate=rate,
        history_contacts=history_contacts,
        history_months=history_months,
        seed=seed,
        report_dir=report_dir,
    )
    console = Console() if sys.stdout.isatty() else Console(width=100)
    sys.exit(Demo(config, options, console).run())


