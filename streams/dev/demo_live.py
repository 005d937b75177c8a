"""The demo's live view: the worker's Prometheus metrics, read while the traffic runs."""

from __future__ import annotations

import time
import urllib.request
from collections import deque

from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table


def scrape(port: int) -> dict[str, float] | None:
    """Sum of each sample name (with its labels) from the worker's /metrics, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f"|{k}={v}" for k, v in sorted(sample.labels.items()))
            values[key] = sample.value
    return values


def total(sample: dict[str, float], name: str, **labels: str) -> float:
    want = [f"{k}={v}" for k, v in labels.items()]
    return sum(
        v
        for k, v in sample.items()
        if k.split("|")[0] == name and all(w in k.split("|")[1:] for w in want)
    )


def caught_up(sample: dict[str, float]) -> bool:
    return bool(sample) and total(sample, "contactstream_consumer_lag") == 0


def retention_done(sample: dict[str, float], since: float) -> bool:
    last_run = total(sample, "contactstream_retention_last_success_timestamp_seconds")
    return last_run > since and total(sample, "contactstream_retention_overdue_contacts") == 0


LATENCY = "contactstream_pipeline_latency_seconds"
LATENCY_WINDOW = 5  # scrapes (about seconds) the live latency figures cover


def latency_figures(
    old: dict[str, float], new: dict[str, float], channel: str
) -> tuple[float, float, str]:
    """Events of `channel` stored between two scrapes, their mean pipeline latency (stored time
    minus the record's Kafka timestamp: the pipeline's own delay, not the age of the data, which
    a backfill makes months) and the bucket bound under which 99 % of them fell."""

    def delta(suffix: str, **labels: str) -> float:
        name, labels["channel"] = LATENCY + suffix, channel
        return total(new, name, **labels) - total(old, name, **labels)

    count = delta("_count")
    if count <= 0:
        return 0.0, 0.0, "-"
    bounds = {k.split("|le=")[1].split("|")[0] for k in new if k.startswith(LATENCY + "_bucket|")}
    p99 = next(
        (b for b in sorted(bounds, key=float) if delta("_bucket", le=b) >= 0.99 * count), "+Inf"
    )
    return count, delta("_sum") / count, "-" if p99 == "+Inf" else f"≤ {float(p99):g} s"


class LiveView:
    def __init__(self, channels: tuple[str, ...]) -> None:
        self.channels = channels
        self.previous: dict[str, float] = {}
        self.at = time.monotonic()
        self.window: deque[dict[str, float]] = deque(maxlen=LATENCY_WINDOW + 1)
        # The last figures seen: once the traffic is stored the window empties, and the final
        # frame should still show what the latency was.
        self.latency: dict[str, tuple[str, str]] = {}

    def table(self, sample: dict[str, float]) -> Table:
        now = time.monotonic()
        span = max(now - self.at, 1e-3)
        if sample:  # an empty one (no answer) would make the next delta the whole run's
            self.window.append(sample)
        table = Table(title="contactstream worker (live)", caption_justify="left")
        for column in ("channel", "events/s", "accepted", "rejected", "DLQ"):
            table.add_column(column, justify="right")
        table.add_column("latency\nmean", justify="right")
        table.add_column("latency\np99", justify="right")
        for channel in self.channels:
            consumed = total(sample, "contactstream_events_consumed_total", channel=channel)
            rate = (consumed - self.previous.get(channel, consumed)) / span
            self.previous[channel] = consumed
            stored, mean, p99 = latency_figures(
                self.window[0] if self.window else sample, sample, channel
            )
            if stored:
                self.latency[channel] = (f"{mean:.2f} s", p99)
            table.add_row(
                channel,
                f"{rate:,.0f}",
                f"{total(sample, 'contactstream_events_accepted_total', channel=channel):,.0f}",
                f"{total(sample, 'contactstream_events_rejected_total', channel=channel):,.0f}",
                f"{total(sample, 'contactstream_dlq_writes_total', channel=channel):,.0f}",
                *self.latency.get(channel, ("-", "-")),
            )
        self.at = now
        table.caption = (
            f"latency: Kafka timestamp to stored in ClickHouse, last {LATENCY_WINDOW} s with "
            f"events\nlag {total(sample, 'contactstream_consumer_lag'):,.0f}"
            f" · tombstones {total(sample, 'contactstream_tombstones_emitted_total'):,.0f}"
            f" · redactions {total(sample, 'contactstream_redactions_applied_total'):,.0f}"
            f" · overdue {total(sample, 'contactstream_retention_overdue_contacts'):,.0f}"
        )
        return table
