"""`contactstream worker`: set up (topics, migrations), then run the faust worker until a signal."""

from __future__ import annotations

import asyncio
import logging

import faust
from prometheus_client import CollectorRegistry

from streams.app import create_app
from streams.config import Settings
from streams.errors import ConfigError
from streams.logs import setup_logging
from streams.metrics import Metrics, serve
from streams.runtime import Runtime
from streams.storage.store import Store
from streams.topics import ensure_topics

log = logging.getLogger(__name__)


def prepare(settings: Settings, store: Store) -> None:
    """Idempotent set-up: declared topics exist, ClickHouse schema is current."""
    report = asyncio.run(ensure_topics(settings))
    for line in report.drift:
        log.warning("topic drift: %s (run 'contactstream topics ensure --fix')", line)
    applied = store.migrate()
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))


def check_topics(settings: Settings) -> None:
    """Without set-up the declared topics must exist: faust would wait on a missing one silently."""
    report = asyncio.run(ensure_topics(settings, dry_run=True))
    if report.missing:
        raise ConfigError(
            f"topics missing: {', '.join(report.missing)}; run "
            "'contactstream topics ensure' (or start the worker with --setup)"
        )


def run_worker(settings: Settings, setup: bool = True) -> None:
    setup_logging(settings.log_level)
    store = Store(settings)
    try:
        if setup:
            prepare(settings, store)
        else:
            check_topics(settings)
        registry = CollectorRegistry()
        runtime = Runtime(settings=settings, store=store, metrics=Metrics.create(registry))
        serve(registry, settings.metrics_port)
        app = create_app(runtime)
        log.info(
            "worker starting: kafka=%s clickhouse=%s group=%s",
            settings.kafka_bootstrap,
            settings.dsn_for_display,
            settings.app_id,
        )
        worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()
    finally:
        store.close()
