"""The demo's report as a person reads it: a KPI table that fits 100 columns, the retention chart's
series and line, one self-contained HTML page, and the live view's pipeline latency."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from rich.console import Console
from rich.measure import Measurement

from streams.dev.demo import kpi_table
from streams.dev.demo_live import LiveView, latency_figures
from streams.dev.report import kpi_display_rows, minutes_seconds, percent
from streams.dev.report_files import chart_figure, chart_png, render
from tests.support.demo_report import CUTOFF, sample_report

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_numbers_read_as_a_person_writes_them() -> None:
    assert percent(0.4412) == "44 %"
    assert percent(None) == "-"
    assert minutes_seconds(72.4) == "1 m 12 s"
    assert minutes_seconds(45) == "45 s"
    assert minutes_seconds(3725) == "1 h 2 m"
    assert minutes_seconds(None) == "-"
    assert kpi_display_rows(sample_report().kpis)[2] == (
        "phone",
        "2,345,678",
        "44 %",
        "1 m 12 s",
        "4 m 25 s",
        "46 %",
        "5 %",
    )


def test_the_kpi_table_fits_100_columns_uncut() -> None:
    table = kpi_table(sample_report())
    # Its natural width (on a wide console), not what rich squeezes it into at 100.
    wide = Console(width=1000)
    assert Measurement.get(wide, wide.options, table).maximum <= 100
    console = Console(width=100, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
    for cell in ("2,345,678", "44 %", "1 m 12 s", "2 h 2 m", "answered ≤ 60 s", "% of calls"):
        assert cell in text


def test_the_chart_shows_personal_and_redacted_per_month_and_the_retention_line() -> None:
    report = sample_report()
    figure = chart_figure(report)
    axes = figure.axes[0]
    bars = {c.get_label(): [round(b.get_height()) for b in c] for c in axes.containers}
    assert bars == {"redacted": [800, 830, 0, 0], "personal data held": [0, 0, 820, 5_800]}
    lines = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert len(lines) == 1
    line_x = lines[0].get_xdata()[0]  # type: ignore[index]
    assert line_x == (CUTOFF - datetime(1970, 1, 1)).total_seconds() / 86_400
    # The line is the left edge of the youngest month's bar past it: redacted to its left only.
    edges = {round(b.get_x(), 6) for c in axes.containers for b in c}
    assert round(line_x, 6) in edges
    annotation = " ".join(t.get_text() for t in axes.texts)
    assert "18 months ago" in annotation
    assert "1,630 contacts redacted" in annotation


def test_the_html_report_is_one_file_with_the_chart_and_the_tables() -> None:
    report = sample_report()
    png = chart_png(report)
    page = render(report, png)
    embedded = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert embedded is not None
    assert base64.b64decode(embedded.group(1)) == png
    assert not re.search(r'(src|href)="(?!data:)', page), "nothing is loaded from elsewhere"
    assert "<script" not in page
    for cell in (
        "2,345,678",
        "1 m 12 s",
        "44 %",
        "18 to 19 months ago",
        "5,800",
        "erasure 2, retention 1,630",
    ):
        assert f"<td>{cell}</td>" in page
    assert "No contact past its retention period holds personal data." in page


def _sample(le_counts: dict[str, float], total: float, count: float) -> dict[str, float]:
    name = "contactstream_pipeline_latency_seconds"
    sample = {f"{name}_bucket|channel=phone|le={le}": n for le, n in le_counts.items()}
    sample[f"{name}_sum|channel=phone"] = total
    sample[f"{name}_count|channel=phone"] = count
    # The age of the data, which a 24-month backfill makes months: not what the view shows.
    sample["contactstream_event_freshness_seconds_sum|channel=phone"] = 26_854_058.0 * count
    sample["contactstream_event_freshness_seconds_count|channel=phone"] = count
    return sample


def test_the_live_view_shows_pipeline_latency_not_data_age() -> None:
    before = _sample({"0.25": 0, "0.5": 0, "1.0": 0, "+Inf": 0}, 0.0, 0)
    after = _sample({"0.25": 60, "0.5": 99, "1.0": 100, "+Inf": 100}, 30.0, 100)
    assert latency_figures(before, after, "phone") == (100, 0.3, "≤ 0.5 s")
    assert latency_figures(after, after, "phone") == (0.0, 0.0, "-")

    view = LiveView(("phone",))
    view.table(before)
    console = Console(width=100, record=True, color_system=None)
    console.print(view.table(after))
    text = console.export_text()
    assert "0.30 s" in text
    assert "≤ 0.5 s" in text
    assert "Kafka timestamp to stored" in text
    assert "freshness" not in text
    assert "26,854,058" not in text
