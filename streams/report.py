"""The demo's report: KPI summary per channel, retention status, a chart and CSV files.

All figures are read from ClickHouse's analyst views (definitions in docs/kpis.md), so what is
printed is what ClickHouse holds.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.extras import require
from streams.storage.client import classify
from streams.storage.redaction import redaction_totals, retention_counts

KPI_COLUMNS = (
    "channel",
    "contacts",
    "offered_calls",
    "abandoned_calls",
    "abandonment_rate",
    "avg_speed_of_answer_s",
    "avg_handle_time_s",
    "service_level_60s",
    "repeat_rate_7d",
)

# Last 30 days per channel, rolled up from kpi_daily's additive columns (sum of numerators over
# sum of denominators), so the figures follow docs/kpis.md exactly. No personal column is read.
KPI_SQL = """
SELECT channel,
       sum(contacts) AS n_contacts,
       sum(offered_calls) AS n_offered,
       sum(abandoned_calls) AS n_abandoned,
       round(if(n_offered = 0, NULL, n_abandoned / n_offered), 4) AS r_abandonment,
       round(if(sum(answer_wait_count) = 0, NULL,
                sum(answer_wait_seconds_sum) / sum(answer_wait_count)), 1) AS s_answer,
       round(if(sum(handle_count) = 0, NULL,
                sum(handle_seconds_sum) / sum(handle_count)), 1) AS s_handle,
       round(if(n_offered = 0, NULL, sum(answered_within_60s) / n_offered), 4) AS r_service,
       round(if(sum(repeat_eligible_contacts) = 0, NULL,
                sum(repeat_contacts_7d) / sum(repeat_eligible_contacts)), 4) AS r_repeat
FROM kpi_daily
WHERE period_start >= toStartOfDay({since:DateTime64(3, 'UTC')})
GROUP BY channel ORDER BY channel
"""
DAILY_SQL = """
SELECT toDate(contact_at) AS day, channel, count() AS contacts
FROM analyst_contacts GROUP BY day, channel ORDER BY day, channel
"""


@dataclass(frozen=True)
class Report:
    kpis: list[tuple[Any, ...]]
    daily: list[tuple[Any, ...]]
    overdue: int
    due_30d: int
    redacted: dict[str, int]
    contacts: int


def collect(client: Client, now: datetime, since: datetime, months: int) -> Report:
    try:
        return _collect(client, now, since, months)
    except Exception as exc:
        raise classify(exc) from None


def _collect(client: Client, now: datetime, since: datetime, months: int) -> Report:
    kpis = [tuple(r) for r in client.query(KPI_SQL, parameters={"since": since}).result_rows]
    daily = [tuple(r) for r in client.query(DAILY_SQL).result_rows]
    overdue, due_30d = retention_counts(client, now, months)
    redacted = redaction_totals(client)
    total = int(client.query("SELECT count() FROM contacts_merged").result_rows[0][0])
    return Report(kpis, daily, overdue, due_30d, redacted, total)


def write(report: Report, directory: Path) -> list[Path]:
    """kpi_by_channel.csv, daily_contacts.csv and daily_contacts.png in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    kpi_csv = directory / "kpi_by_channel.csv"
    _csv(kpi_csv, KPI_COLUMNS, report.kpis)
    daily_csv = directory / "daily_contacts.csv"
    _csv(daily_csv, ("day", "channel", "contacts"), report.daily)
    chart = directory / "daily_contacts.png"
    _chart(report.daily, chart)
    return [kpi_csv, daily_csv, chart]


def _csv(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _chart(daily: list[tuple[Any, ...]], path: Path) -> None:
    require("demo", "the demo report's chart (daily_contacts.png)")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(11, 4.5), dpi=110)
    for channel in sorted({row[1] for row in daily}):
        points = [(row[0], row[2]) for row in daily if row[1] == channel]
        axes.plot([p[0] for p in points], [p[1] for p in points], label=channel, linewidth=1)
    axes.set_title("Contacts per day and channel (backfilled history, then today's live traffic)")
    axes.set_ylabel("contacts (log scale)")
    axes.set_yscale("log")
    axes.legend(loc="upper left")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)
