"""The worker's Prometheus metrics (streams/observability/metrics.py): names, labels, exposition,
docs.

`exported_metric_names()` and `metric_labels()` are also what the deploy tests check alert rules
and dashboards against.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from schemas.contact import PERSONAL_FIELDS
from streams.observability.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
OPERATING_MD = REPO / "docs" / "operating.md"

# Labels hold bounded values only (DESIGN P6: nothing personal in metric labels).
BOUNDED_LABELS = frozenset({"channel", "code", "table", "kind", "topic", "partition", "reason",
                            "status", "task", "source"})
# Prometheus sets these on every series it scrapes (the scrape job and the target). A metric's
# own label of either name is stored as exported_job / exported_instance, and a rule grouping
# by it groups by the scrape job instead.
TARGET_LABELS = frozenset({"job", "instance"})
_SUFFIXES = {
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
        for suffix in _SUFFIXES[family.type]
    }


def test_every_metric_is_named_contactstream_and_has_help() -> None:
    registry = CollectorRegistry()
    Metrics.create(registry)
    families = list(registry.collect())
    assert len(families) == len(Metrics._fields)
    for family in families:
        assert family.name.startswith("contactstream_"), family.name
        assert family.documentation, family.name
        assert family.type in _SUFFIXES, family.type


def test_labels_are_bounded_and_never_personal() -> None:
    for name, labels in metric_labels().items():
        assert labels <= BOUNDED_LABELS, f"{name}: {sorted(labels - BOUNDED_LABELS)}"
        assert not labels & (PERSONAL_FIELDS | {"contact_id", "event_id", "request_id"}), name


def test_no_label_is_one_prometheus_sets_on_every_scraped_series() -> None:
    for name, labels in metric_labels().items():
        assert not labels & TARGET_LABELS, f"{name}: {sorted(labels & TARGET_LABELS)}"
        assert not any(label.startswith("__") for label in labels), name


def test_predicted_sample_names_match_the_exposition() -> None:
    registry = CollectorRegistry()
    metrics = Metrics.create(registry)
    for name in Metrics._fields:
        metric: MetricWrapperBase = getattr(metrics, name)
        labels = label_names(metric)
        child = metric.labels(**dict.fromkeys(labels, "x")) if labels else metric
        if hasattr(child, "observe"):
            child.observe(1)
        elif hasattr(child, "inc"):
            child.inc()
    text = generate_latest(registry).decode()
    exposed = {m[1] for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.MULTILINE)}
    assert exposed == set(exported_metric_names())


def test_each_registry_gets_its_own_metrics() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics.create(first).events_accepted.labels("sms").inc(3)
    Metrics.create(second)
    assert first.get_sample_value("contactstream_events_accepted_total", {"channel": "sms"}) == 3
    assert second.get_sample_value("contactstream_events_accepted_total",
                                   {"channel": "sms"}) is None


def test_every_metric_is_documented_for_operators() -> None:
    text = OPERATING_MD.read_text()
    for family in sorted(set(exported_metric_names().values())):
        assert f"`{family}" in text, f"{family} is missing from docs/operating.md"
