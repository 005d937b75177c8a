"""`contactstream worker`: set-up, then the worker until a signal (streams.worker)."""

from __future__ import annotations

import click

from streams.cli.settings import command_settings


@click.command("worker")
@click.option(
    "--setup/--no-setup",
    default=True,
    show_default=True,
    help="Ensure topics and migrate ClickHouse before consuming.",
)
def worker(setup: bool) -> None:
    """Run the stream worker (faust agents) until SIGTERM or Ctrl-C."""
    from streams.worker.startup import Setup

    chosen = command_settings()
    # Set-up runs (mostly outside the GIL) while the worker's modules are imported.
    begun = Setup(chosen, setup)
    from streams.worker.main import run_worker

    run_worker(chosen, begun=begun)


