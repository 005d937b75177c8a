"""The demo's report files: CSV (raw figures), the chart (PNG) and one self-contained HTML page
(the chart embedded as a data: URI, the retention and KPI tables; no script, stylesheet or font
from elsewhere, so it opens offline and can be mailed as it is). Only counts and rates appear,
never a personal value."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.dev.report import KPI_COLUMNS, KPI_HEADINGS, MONTHLY_COLUMNS, Report, kpi_display_rows
from streams.extras import require

if TYPE_CHECKING:  # matplotlib is the demo extra's: imported only when a chart is drawn
    from matplotlib.figure import Figure

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
table { border-collapse: collapse; } th, td { padding: .3rem .7rem; border-bottom: 1px solid #ddd; }
th { text-align: right; vertical-align: bottom; } td { text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; } .ok { color: #2a7d2a; } .bad { color: #c62828; }
"""


def table(headings: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h).replace(chr(10), '<br>')}</th>" for h in headings)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if headings else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def retention_rows(report: Report) -> list[tuple[str, str]]:
    redacted = ", ".join(f"{reason} {count:,}" for reason, count in sorted(report.redacted.items()))
    return [
        ("retention period", f"{report.months} months after handling"),
        ("personal data removed before", f"{report.cutoff:%Y-%m-%d %H:%M} UTC"),
        ("contacts in ClickHouse", f"{report.contacts:,}"),
        ("past due still holding personal data", f"{report.overdue:,}"),
        ("due in the next 30 days", f"{report.due_30d:,}"),
        ("redacted so far", redacted or "none"),
    ]


def render(report: Report, chart_png: bytes) -> str:
    chart = base64.b64encode(chart_png).decode("ascii")
    verdict = (
        '<p class="ok">No contact past its retention period holds personal data.</p>'
        if report.overdue == 0
        else f'<p class="bad">{report.overdue:,} contacts past their retention period still '
        "hold personal data.</p>"
    )
    monthly = [
        (f"{ago} to {ago + 1} months ago", f"from {start:%Y-%m-%d}", f"{p:,}", f"{r:,}", f"{n:,}")
        for ago, start, p, r, n in report.monthly
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>contactstream demo report</title>
<style>{_STYLE}</style></head><body>
<h1>contactstream demo report</h1>
<h2>Retention: personal data removed {report.months} months after handling</h2>
{verdict}
<img alt="Contacts per month: personal data held and redacted, with the {report.months}-month
line" src="data:image/png;base64,{chart}">
{table((), retention_rows(report))}
<h2>KPIs per channel, last 30 days</h2>
{table(KPI_HEADINGS, kpi_display_rows(report.kpis))}
<h2>Contacts per month since they were handled</h2>
{table(("handled", "", "personal data held", "redacted", "never held any"), monthly)}
</body></html>
"""


def write(report: Report, directory: Path) -> list[Path]:
    """The CSV files, the chart (retention_by_month.png) and report.html in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    kpi_csv = directory / "kpi_by_channel.csv"
    _csv(kpi_csv, KPI_COLUMNS, report.kpis)
    daily_csv = directory / "daily_contacts.csv"
    _csv(daily_csv, ("day", "channel", "contacts"), report.daily)
    monthly_csv = directory / "retention_by_month.csv"
    _csv(monthly_csv, MONTHLY_COLUMNS, report.monthly)
    chart = directory / "retention_by_month.png"
    chart.write_bytes(chart_png(report))
    page = directory / "report.html"
    page.write_text(render(report, chart.read_bytes()), encoding="utf-8")
    return [page, chart, kpi_csv, monthly_csv, daily_csv]


def _csv(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def chart_png(report: Report) -> bytes:
    figure = chart_figure(report)  # first: it names the demo extra when matplotlib is missing
    from matplotlib import pyplot

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    return buffer.getvalue()


def chart_figure(report: Report) -> Figure:
    """Per month of age, stacked bars of contacts redacted and contacts still holding personal
    data, with the retention line on a bar's edge: every bar left of it should be grey only."""
    require("demo", "the demo report's chart (retention_by_month.png)")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    starts = [_day_number(row[1]) for row in report.monthly]
    personal = [row[2] for row in report.monthly]
    redacted = [row[3] for row in report.monthly]
    width = 30.44 * 0.85  # a month, less a gap between the bars
    figure, axes = pyplot.subplots(figsize=(11, 4.8), dpi=110)
    axes.bar(starts, redacted, width=width, align="edge", color="#9aa5b1", label="redacted")
    axes.bar(
        starts,
        personal,
        width=width,
        align="edge",
        bottom=redacted,
        color="#1f77b4",
        label="personal data held",
    )
    cutoff = _day_number(report.cutoff)
    axes.axvline(cutoff, color="#d62728", linestyle="--", linewidth=1.5)
    axes.annotate(
        f"{report.months} months ago\n{report.cutoff:%Y-%m-%d}\n← personal data removed:\n"
        f"{sum(redacted):,} contacts redacted",
        xy=(cutoff, 0.97),
        xycoords=("data", "axes fraction"),
        xytext=(-8, 0),
        textcoords="offset points",
        ha="right",
        va="top",
        color="#d62728",
    )
    axes.xaxis_date()
    axes.set_title(
        "Contacts per month since they were handled: personal data held vs redacted\n"
        "(the last month includes the demo's live traffic)"
    )
    axes.set_ylabel("contacts")
    axes.legend(loc="upper center")
    axes.grid(axis="y", alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def _day_number(moment: datetime) -> float:
    """Matplotlib's date axis unit: days since 1970-01-01 UTC (its default epoch)."""
    # ClickHouse returns UTC times without a zone; the report's `now` carries one.
    naive = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    return (naive - datetime(1970, 1, 1)).total_seconds() / 86_400
