"""Every Prometheus metric of the worker, declared in one place.

Labels carry only bounded values (channel, reason code, topic, partition, kind): never contact
ids or anything personal. tests/unit/test_metrics.py checks the label names.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from streams.observability.health import Health, with_health
from streams.observability.histograms import BatchHistogram

_BATCH_BUCKETS = (1, 10, 100, 500, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_PIPELINE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300)
_FRESHNESS_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400, 2_592_000, 63_072_000)


class Metrics(NamedTuple):
    events_consumed: Counter
    events_accepted: Counter
    events_rejected: Counter
    dlq_writes: Counter
    sink_batch_rows: Histogram
    sink_insert_seconds: Histogram
    sink_insert_failures: Counter
    sink_retries: Counter
    # Observed once per batch per channel, for every stored event
    # (streams/observability/histograms.py).
    event_freshness_seconds: BatchHistogram
    pipeline_latency_seconds: BatchHistogram
    pipeline_latency_target: Gauge
    consumer_lag: Gauge
    consumer_progress_age: Gauge
    processing_failures: Counter
    processing_waiting: Gauge
    tombstones_emitted: Counter
    redactions_applied: Counter
    retention_overdue_contacts: Gauge
    retention_oldest_overdue: Gauge
    retention_due_30d_contacts: Gauge
    retention_last_success: Gauge
    dlq_oldest_unhandled_age: Gauge
    dlq_retention: Gauge
    subject_requests: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        p = "contactstream_"
        return cls(
            events_consumed=Counter(
                p + "events_consumed", "Raw events read", ["channel"], registry=registry
            ),
            events_accepted=Counter(
                p + "events_accepted", "Events validated and stored", ["channel"], registry=registry
            ),
            events_rejected=Counter(
                p + "events_rejected",
                "Events sent to the DLQ",
                ["channel", "code"],
                registry=registry,
            ),
            dlq_writes=Counter(
                p + "dlq_writes", "Dead letters produced", ["channel"], registry=registry
            ),
            sink_batch_rows=Histogram(
                p + "sink_batch_rows",
                "Rows per ClickHouse insert",
                ["table"],
                buckets=_BATCH_BUCKETS,
                registry=registry,
            ),
            sink_insert_seconds=Histogram(
                p + "sink_insert_seconds",
                "ClickHouse insert latency",
                ["table"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            sink_insert_failures=Counter(
                p + "sink_insert_failures", "Failed inserts", ["table", "kind"], registry=registry
            ),
            sink_retries=Counter(
                p + "sink_retries",
                "Insert retries after a retriable failure",
                ["table"],
                registry=registry,
            ),
            event_freshness_seconds=BatchHistogram(
                p + "event_freshness_seconds",
                "now - occurred_at when stored",
                ["channel"],
                buckets=_FRESHNESS_BUCKETS,
                registry=registry,
            ),
            pipeline_latency_seconds=BatchHistogram(
                p + "pipeline_latency_seconds",
                "Stored time - the record's Kafka timestamp: the pipeline's own delay",
                ["channel"],
                buckets=_PIPELINE_BUCKETS,
                registry=registry,
            ),
            pipeline_latency_target=Gauge(
                p + "pipeline_latency_target_seconds",
                "The p99 pipeline latency above which ContactstreamPipelineSlow fires (a setting)",
                registry=registry,
            ),
            consumer_lag=Gauge(
                p + "consumer_lag",
                "Messages between the group's committed offset and the partition end (broker)",
                ["topic", "partition"],
                registry=registry,
            ),
            consumer_progress_age=Gauge(
                p + "consumer_progress_age_seconds",
                "Seconds since the group's committed offset last moved while behind "
                "(0 when caught up)",
                ["topic", "partition"],
                registry=registry,
            ),
            processing_failures=Counter(
                p + "processing_failures",
                "Failed attempts of a batch or request that now waits and retries",
                ["task", "source"],
                registry=registry,
            ),
            processing_waiting=Gauge(
                p + "processing_waiting",
                "1 while a task's batch waits for a failed dependency",
                ["task"],
                registry=registry,
            ),
            tombstones_emitted=Counter(
                p + "tombstones_emitted", "Tombstones produced", ["reason"], registry=registry
            ),
            redactions_applied=Counter(
                p + "redactions_applied", "Contacts redacted", ["reason"], registry=registry
            ),
            retention_overdue_contacts=Gauge(
                p + "retention_overdue_contacts",
                "Contacts holding personal data past their retention due time (redacted in "
                "batches: 0 after each batch)",
                registry=registry,
            ),
            retention_oldest_overdue=Gauge(
                p + "retention_oldest_overdue_seconds",
                "How long the oldest contact holding personal data has been past its due time "
                "(0: none); alerted on past 6 h",
                registry=registry,
            ),
            retention_due_30d_contacts=Gauge(
                p + "retention_due_30d_contacts",
                "Contacts due for redaction in 30 days",
                registry=registry,
            ),
            retention_last_success=Gauge(
                p + "retention_last_success_timestamp_seconds",
                "Unix time of the last successful retention run",
                registry=registry,
            ),
            dlq_oldest_unhandled_age=Gauge(
                p + "dlq_oldest_unhandled_age_seconds",
                "Age of the oldest dead letter neither redriven nor deleted by Kafka (0: none)",
                registry=registry,
            ),
            dlq_retention=Gauge(
                p + "dlq_retention_seconds",
                "How long Kafka keeps a dead letter (the DLQ's retention.ms)",
                registry=registry,
            ),
            subject_requests=Counter(
                p + "subject_requests",
                "Data-subject requests handled",
                ["kind", "status"],
                registry=registry,
            ),
        )


def serve(
    registry: CollectorRegistry, host: str, port: int, health: Health
) -> WSGIServer | None:
    """Serve /metrics, /healthz and /readyz on host:port from a daemon thread (port 0: none)."""
    if not port:
        return None
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    server = _Server((host, port), _QuietHandler, family)
    server.set_app(with_health(make_wsgi_app(registry), health))
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


class _Server(ThreadingWSGIServer):
    """The metrics server, listening on an IPv4 or IPv6 address as the host resolves."""

    def __init__(
        self, address: tuple[str, int], handler: type[WSGIRequestHandler], family: int
    ) -> None:
        self.address_family = family
        super().__init__(address, handler)


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape or probe on stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def create_series(metrics: Metrics, labels: SeriesLabels) -> None:
    """Every labelled series exists from the start at 0, so an alert on `increase()` fires on
    the first failure after a restart and "nothing happened" is a 0, not a missing series."""
    for channel in labels.channels:
        for counter in (metrics.events_consumed, metrics.events_accepted, metrics.dlq_writes):
            counter.labels(channel)
        for code in labels.rejection_codes:
            metrics.events_rejected.labels(channel, code)
        metrics.event_freshness_seconds.labels(channel)
        metrics.pipeline_latency_seconds.labels(channel)
    for task in labels.tasks:
        metrics.processing_waiting.labels(task).set(0)
        for source in labels.failure_sources:
            metrics.processing_failures.labels(task, source)
    for table in labels.tables:
        metrics.sink_batch_rows.labels(table)
        metrics.sink_insert_seconds.labels(table)
        metrics.sink_retries.labels(table)
        for kind in ("system", "rejected"):
            metrics.sink_insert_failures.labels(table, kind)
    for reason in labels.redaction_reasons:
        metrics.tombstones_emitted.labels(reason)
        metrics.redactions_applied.labels(reason)


class SeriesLabels(NamedTuple):
    """The bounded label values of the worker's series."""

    channels: Sequence[str]
    rejection_codes: Sequence[str]
    # Named `task`, not `job`: Prometheus sets `job` on every scraped series (the scrape job)
    # and would rename ours to `exported_job`.
    tasks: Sequence[str]
    failure_sources: Sequence[str]
    tables: Sequence[str]
    redaction_reasons: Sequence[str]
