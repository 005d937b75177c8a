"""`contactstream simulate`: synthetic contacts produced to the raw topics."""

from __future__ import annotations

import sys

import click

from streams.cli.progress import progress_of
from streams.cli.settings import command_settings
from streams.config import CHANNELS, Channel
from streams.dev.simulator.produce import Sent


@click.command("simulate")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Contacts to produce (default 1000, or rate x duration).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="Events per second (default: as fast as possible).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds of traffic at --rate (instead of --count).",
)
@click.option(
    "--history-months",
    type=click.IntRange(0, 120),
    default=0,
    show_default=True,
    help="Backfill contacts spread over this many past months (0: the last hour).",
)
@click.option(
    "--invalid-fraction",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of events spoiled on purpose (they go to the DLQ).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Reproducible output.")
@click.option(
    "--channel",
    type=click.Choice(CHANNELS),
    default=None,
    help="Only this channel's contacts, written to its raw topic only (all a producer "
    "principal may write). Default: every channel in realistic proportions.",
)
def simulate_command(
    count: int | None,
    rate: float | None,
    duration: float | None,
    history_months: int,
    invalid_fraction: float,
    seed: int,
    channel: Channel | None,
) -> None:
    """Produce realistic synthetic contacts (fake people only) to the raw topics."""
    import asyncio

    from streams.dev.simulator.produce import simulate

    if duration is not None and rate is None:
        raise click.UsageError("--duration needs --rate")
    if duration is not None and count is not None:
        raise click.UsageError("give --count or --duration, not both")
    if duration is not None and rate is not None:
        count = max(1, int(rate * duration / 2.4))  # about 2.4 events per contact
    sent = Sent(0)
    work = simulate(
        command_settings(),
        count or 1000,
        seed,
        history_months,
        invalid_fraction,
        rate,
        sent=sent,
        channel=channel,
    )
    try:
        with progress_of(sent, "sending"):
            report = asyncio.run(work)
    except KeyboardInterrupt:
        click.echo(f"interrupted: sent {sent.count:,} of {sent.total:,} messages", err=True)
        sys.exit(130)
    for line in report.lines():
        click.echo(line)


