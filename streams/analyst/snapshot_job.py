"""The leader worker's timer that writes the analyst snapshots (streams.analyst.snapshots).

A round writes only the periods that changed, but still reads the views for them (seconds at
18 months of volume), so it runs on the worker's mutation lane (Runtime.mutations), like the
analyst store's refresh: ingestion's inserts, on the worker's main storage lane, do not wait
behind it."""

from __future__ import annotations

import logging

import faust

from streams.analyst.snapshots import write_snapshots
from streams.observability.logs import Throttle
from streams.retry import describe
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)


def register(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    interval = settings.snapshot_interval
    if not interval:
        return
    directory = settings.analyst_path
    store = runtime.mutations

    failures = Throttle(interval=300.0)  # one line per cause per 5 minutes

    async def write() -> None:
        try:
            await store.call(lambda client: write_snapshots(client, directory))
        except Exception as exc:  # the next tick tries again; analysts keep the last files
            if failures.allow(describe(exc)) is not None:
                log.warning("analyst snapshots not written: %s", describe(exc))

    app.timer(interval, on_leader=True, name="contactstream.analyst-snapshots")(write)
