"""The leader worker's timer that refreshes the analyst views' stored snapshot
(streams.analyst.store) when it is needed: once enough contacts are computed live beside
it, or it is some hours old (a refresh rewrites the months whose rows changed; every 5 minutes,
rewriting every contact, that was 40 GB a day at 1.5 M contacts). Every worker's views stay
exact without it; it keeps them cheap. The refresh takes seconds at 18 months of volume, so it
runs on the worker's mutation lane (Runtime.mutations): ingestion's inserts do not wait for it
(chDB serves several clients of one engine and releases the GIL while a query runs)."""

from __future__ import annotations

import logging

import faust

from streams.analyst.store import refresh_analyst_store, refresh_needed, store_state
from streams.observability.logs import Throttle
from streams.retry import describe
from streams.worker.runtime import Runtime

log = logging.getLogger(__name__)


def register(app: faust.App, runtime: Runtime) -> None:
    interval = runtime.settings.analyst_store_seconds
    if not interval:
        return
    store = runtime.mutations
    settings = runtime.settings

    failures = Throttle(interval=300.0)  # one line per cause per 5 minutes

    async def refresh() -> None:
        try:
            state = await store.call(store_state)
            if not refresh_needed(
                state,
                settings.analyst_store_changed_contacts,
                settings.analyst_store_max_age_seconds,
            ):
                return
            done = await store.call(refresh_analyst_store)
        except Exception as exc:  # the views stay exact; the next tick tries again
            if failures.allow(describe(exc)) is not None:
                log.warning("analyst snapshot not refreshed: %s", describe(exc))
            return
        if done is None:
            log.info(
                "analyst snapshot not refreshed: a mutation of contacts was running, or the "
                "refresh took longer than half its grace period; the next check tries again"
            )
        else:
            log.debug(
                "analyst snapshot %d: %d contacts, %d months rewritten",
                done.snapshot,
                done.contacts,
                done.months,
            )

    app.timer(interval, on_leader=True, name="contactstream.analyst-store")(refresh)
