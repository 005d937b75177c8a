"""`contactstream worker`: set up (topics, migrations; streams.worker.startup), then run the faust
worker until a signal."""

from __future__ import annotations

import gc
import logging
from typing import get_args

import faust
from prometheus_client import CollectorRegistry

from schemas.control import RedactionReason
from schemas.reasons import PROCESSING_CODES, REJECTION_CODES
from streams.config import CHANNELS, Settings
from streams.observability.logs import logging_config
from streams.observability.metrics import Metrics, SeriesLabels, create_series, serve
from streams.retry import FAILURE_SOURCES
from streams.worker.app import create_app
from streams.worker.runtime import Runtime
from streams.worker.startup import Setup

log = logging.getLogger(__name__)


class QuietWorker(faust.Worker):
    """faust's worker without its terminal spinner: at level warn the spinner sets the root
    logger to DEBUG, so every debug call of faust builds a record (some with message bytes)."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None


def series_labels() -> SeriesLabels:
    return SeriesLabels(
        channels=CHANNELS,
        rejection_codes=(*REJECTION_CODES, *PROCESSING_CODES),
        tasks=("normalize", "redaction", "subjects"),
        failure_sources=FAILURE_SOURCES,
        tables=("contact_events",),
        redaction_reasons=get_args(RedactionReason),
    )


def run_worker(settings: Settings, setup: bool = True, begun: Setup | None = None) -> None:
    """Run until a signal; `begun`: checks and set-up the caller started
    (streams.worker.startup)."""
    begun = begun or Setup(settings, setup)
    store = begun.store
    try:
        begun.finish()
        registry = CollectorRegistry()
        runtime = Runtime(settings=settings, store=store, metrics=Metrics.create(registry))
        create_series(runtime.metrics, series_labels())
        runtime.metrics.pipeline_latency_target.set(settings.pipeline_latency_alert_seconds)
        serve(registry, settings.metrics_host, settings.metrics_port, runtime.health)
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
            logging_config=logging_config(settings.log_level, settings.log_format),
            quiet=True,
            redirect_stdouts=False,
        )
        worker.execute_from_commandline()
    finally:
        store.close()
