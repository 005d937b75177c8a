"""The worker's metrics as Prometheus sees them (streams/observability/metrics.py): every sample
name a worker exposes and each family's labels, and the check of a PromQL expression (an alert
rule, a dashboard panel) against them. The metrics tests check the names and labels themselves;
the deploy tests check alert rules and dashboards against them.
"""

from __future__ import annotations

import re
from functools import cache

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from streams.observability.metrics import Metrics

# Prometheus sets these on every series it scrapes (the scrape job and the target). A metric's
# own label of either name is stored as exported_job / exported_instance, and a rule grouping
# by it groups by the scrape job instead.
TARGET_LABELS = frozenset({"job", "instance"})
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def metric_objects() -> dict[str, MetricWrapperBase]:
    """Field name -> metric object, on a fresh registry."""
    metrics = Metrics.create(CollectorRegistry())
    return {name: getattr(metrics, name) for name in Metrics._fields}


@cache
def metric_labels() -> dict[str, frozenset[str]]:
    """Family name (as declared, without _total) -> its label names."""
    return {
        next(iter(metric.describe())).name: label_names(metric)
        for metric in metric_objects().values()
    }


def label_names(metric: MetricWrapperBase) -> frozenset[str]:
    # prometheus_client has no public accessor for a metric's declared label names; our
    # BatchHistogram has one.
    return frozenset(getattr(metric, "labelnames", None) or metric._labelnames)


@cache
def exported_metric_names() -> dict[str, str]:
    """Every sample name a worker exposes -> its family name (counters get _total, ...)."""
    registry = CollectorRegistry()
    Metrics.create(registry)
    return {
        family.name + suffix: family.name
        for family in registry.collect()
        for suffix in SUFFIXES[family.type]
    }


# Series Prometheus itself adds to every scrape, usable in rules next to the workers' own.
SCRAPE_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
_SELECTOR = re.compile(r"\b(contactstream_[a-zA-Z0-9_]+|up)\b(\{[^}]*\})?")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(series name, label names matched) for each series selector of a PromQL expression."""
    found = []
    for match in _SELECTOR.finditer(expr):
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=|!=|=~|!~)", match[2] or ""))
        found.append((match[1], labels))
    return found


def check_selectors(expr: str) -> None:
    """Every series in `expr` is exported by a worker, with labels that series has."""
    exported = exported_metric_names()
    for name, labels in selectors(expr):
        if name in SCRAPE_SERIES:
            assert labels <= TARGET_LABELS, (name, labels)
            continue
        assert name in exported, f"{name} is not a metric of streams/observability/metrics.py"
        allowed = own_labels(name) | TARGET_LABELS
        assert labels <= allowed, f"{name} has no label(s) {sorted(labels - allowed)}"
    check_grouping(expr)


def own_labels(name: str) -> frozenset[str]:
    """The labels a worker's series `name` has itself (`le` for histogram buckets)."""
    labels = metric_labels()[exported_metric_names()[name]]
    return labels | {"le"} if name.endswith("_bucket") else labels


def check_grouping(expr: str) -> None:
    """Rules and panels aggregate the workers' series over workers (every worker exports the
    broker-side lag, only the leader the retention gauges): `by (...)` names their own labels."""
    names = [name for name, _ in selectors(expr) if name.startswith("contactstream_")]
    if not names:
        return
    allowed = frozenset().union(*(own_labels(name) for name in names))
    for match in _GROUPING.finditer(expr):
        grouped = {label.strip() for label in match[1].split(",") if label.strip()}
        assert grouped <= allowed, f"grouped by {sorted(grouped - allowed)}, not a metric label"
