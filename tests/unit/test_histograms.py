"""BatchHistogram exposes exactly what prometheus_client's Histogram would for the same values."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from streams.observability.histograms import BatchHistogram

BUCKETS = (0.05, 0.1, 0.5, 1, 2.5, 10)


def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    """(sample name with labels, le) -> value, without prometheus_client's _created series."""
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[(sample.name, labels)] = sample.value
    return found


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["phone", "sms"]),
            st.one_of(st.sampled_from([0.0, *BUCKETS]), st.floats(0, 1e6, allow_nan=False)),
        ),
        max_size=200,
    ),
    st.integers(1, 7),
)
def test_batches_expose_the_same_histogram_as_one_observation_each(
    values: list[tuple[str, float]], batch: int
) -> None:
    reference_registry, batch_registry = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("h", "doc", ["channel"], buckets=BUCKETS, registry=reference_registry)
    batched = BatchHistogram("h", "doc", ["channel"], BUCKETS, batch_registry)
    for channel in ("phone", "sms"):
        reference.labels(channel)
        batched.labels(channel)
    for channel, value in values:
        reference.labels(channel).observe(value)
    for start in range(0, len(values), batch):
        chunk = values[start : start + batch]
        for channel in ("phone", "sms"):
            batched.labels(channel).observe_many([v for c, v in chunk if c == channel])
    expected, got = samples(reference_registry), samples(batch_registry)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert math.isclose(got[key], value, rel_tol=1e-9, abs_tol=1e-9), key


def test_the_text_exposition_is_a_histogram_with_every_bound() -> None:
    registry = CollectorRegistry()
    histogram = BatchHistogram("contactstream_x_seconds", "doc", ["channel"], BUCKETS, registry)
    histogram.labels("sms").observe_many([0.05, 0.07, 30])
    text = generate_latest(registry).decode()
    assert "# TYPE contactstream_x_seconds histogram" in text
    assert 'contactstream_x_seconds_bucket{channel="sms",le="0.05"} 1.0' in text
    assert 'contactstream_x_seconds_bucket{channel="sms",le="0.1"} 2.0' in text
    assert 'contactstream_x_seconds_bucket{channel="sms",le="+Inf"} 3.0' in text
    assert 'contactstream_x_seconds_count{channel="sms"} 3.0' in text
