"""`contactstream worker`: set up (topics, migrations), then run the faust worker until a signal."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import get_args

import faust
from prometheus_client import CollectorRegistry

from schemas.control import RedactionReason
from schemas.reasons import PROCESSING_CODES, REJECTION_CODES
from streams.app import create_app
from streams.config import CHANNELS, Settings
from streams.errors import ConfigError
from streams.extras import require_embedded_engine
from streams.logs import logging_config, setup_logging
from streams.metrics import Metrics, SeriesLabels, create_series, serve
from streams.retry import FAILURE_SOURCES
from streams.runtime import Runtime
from streams.signing import verify_key
from streams.storage.store import Store
from streams.topics import EnsureReport, ensure_topics

log = logging.getLogger(__name__)


def prepare(settings: Settings, store: Store) -> None:
    """Idempotent set-up: declared topics exist, ClickHouse schema is current (both at once:
    one talks to Kafka, the other to ClickHouse on the storage thread)."""

    async def both() -> tuple[EnsureReport, list[str]]:
        return await asyncio.gather(ensure_topics(settings), asyncio.to_thread(store.migrate))

    report, applied = asyncio.run(both())
    for line in report.drift:
        log.warning("topic drift: %s (run 'contactstream topics ensure --fix')", line)
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


class QuietWorker(faust.Worker):
    """faust's worker without its terminal spinner: at level warn the spinner sets the root
    logger to DEBUG, so every debug call of faust builds a record (some with message bytes)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


def series_labels() -> SeriesLabels:
    return SeriesLabels(
        channels=CHANNELS,
        rejection_codes=(*REJECTION_CODES, *PROCESSING_CODES),
        jobs=("normalize", "redaction", "subjects"),
        failure_sources=FAILURE_SOURCES,
        tables=("contact_events",),
        redaction_reasons=get_args(RedactionReason),
    )


def check_secrets(settings: Settings) -> None:
    """Production refuses the placeholder salt (a known salt lets anyone reverse subject keys by
    trying every phone number) and needs the DPO's public key; dev mode allows both."""
    if settings.uses_placeholder_salt and settings.mode != "dev":
        raise ConfigError(
            "CONTACTSTREAM_SUBJECT_KEY_SALT is the placeholder; set a long random secret "
            "(or CONTACTSTREAM_MODE=dev on a test machine)"
        )
    verify_key(settings)


def run_worker(settings: Settings, setup: bool = True) -> None:
    check_secrets(settings)
    require_embedded_engine(settings)
    setup_logging(settings.log_level)
    store = Store(settings)
    try:
        if setup:
            prepare(settings, store)
        else:
            check_topics(settings)
        registry = CollectorRegistry()
        runtime = Runtime(settings=settings, store=store, metrics=Metrics.create(registry))
        create_series(runtime.metrics, series_labels())
        runtime.metrics.pipeline_latency_target.set(settings.pipeline_latency_alert_seconds)
        serve(registry, settings.metrics_host, settings.metrics_port)
        app = create_app(runtime)
        log.info(
            "worker starting: kafka=%s clickhouse=%s group=%s metrics=%s",
            settings.kafka_bootstrap,
            settings.dsn_for_display,
            settings.app_id,
            f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
            if settings.metrics_port
            else "off",
        )
        # Everything made so far (modules, the app, its agents) lives as long as the process:
        # out of the collector's sight, every full collection during ingestion is cheaper.
        gc.freeze()
        worker = QuietWorker(
            app,
            *runtime.services,
            loglevel=settings.log_level,
            logging_config=logging_config(settings.log_level),
            quiet=True,
            redirect_stdouts=False,
        )
        worker.execute_from_commandline()
    finally:
        store.close()
