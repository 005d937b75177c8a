"""The worker's Prometheus metrics (streams/observability/metrics.py): names, labels, exposition,
docs. The names and labels a worker exports: tests/support/metrics.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase

from schemas.contact import PERSONAL_FIELDS
from streams.observability.metrics import Metrics
from tests.support.metrics import (
    SUFFIXES,
    TARGET_LABELS,
    exported_metric_names,
    label_names,
    metric_labels,
)

REPO = Path(__file__).resolve().parents[2]
OPERATING_MD = REPO / "docs" / "operating.md"

# Labels hold bounded values only (DESIGN P6: nothing personal in metric labels).
BOUNDED_LABELS = frozenset({"channel", "code", "table", "kind", "topic", "partition", "reason",
                            "status", "task", "source"})


def test_every_metric_is_named_contactstream_and_has_help() -> None:
    registry = CollectorRegistry()
    Metrics.create(registry)
    families = list(registry.collect())
    assert len(families) == len(Metrics._fields)
    for family in families:
        assert family.name.startswith("contactstream_"), family.name
        assert family.documentation, family.name
        assert family.type in SUFFIXES, family.type


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
