"""The demo's report: the figures (KPIs per channel, retention by month) and how a person reads
them (streams/dev/report_files.py writes them out). All figures are read from ClickHouse (the KPIs
from the analyst views, definitions in docs/kpis.md; the retention figures from contacts_merged,
counts only), so what is printed is what ClickHouse holds. No personal value is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.privacy.sql import holds_personal_sql, redaction_totals, retention_counts
from streams.storage.client import classify

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
"""The CSV's columns (raw numbers, units in the names), in KPI_SQL's order."""

KPI_HEADINGS = (
    "channel",
    "contacts",
    "abandoned\n% of calls",
    "answer wait\naverage",
    "handling\naverage",
    "answered ≤ 60 s\n% of calls",
    "repeat ≤ 7 days\n% of contacts",
)
"""What a person reads: fewer columns than the CSV (the call counts behind the rates are left
out), units in the headings, numbers formatted (kpi_display_rows)."""

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
# Per month of age of the retention clock (when the contact was handled, P2), counted back from
# now so that the retention line falls on a bar's edge: contacts whose personal data is still
# held, contacts redacted, and contacts that never held any (the event carrying it was refused
# to the DLQ). Counts only; the personal columns are only tested for NULL.
MONTHLY_COLUMNS = ("months_ago", "period_start", "with_personal_data", "redacted", "never_personal")
MONTHLY_SQL = f"""
SELECT greatest(age('month', retention_clock_at, {{now:DateTime64(3, 'UTC')}}), 0) AS months_ago,
       addMonths({{now:DateTime64(3, 'UTC')}}, -(months_ago + 1)) AS period_start,
       countIf(redacted_at IS NULL AND {holds_personal_sql()}) AS with_personal_data,
       countIf(redacted_at IS NOT NULL) AS redacted,
       countIf(redacted_at IS NULL AND NOT {holds_personal_sql()}) AS never_personal
FROM contacts_merged GROUP BY months_ago ORDER BY months_ago DESC
"""
CUTOFF_SQL = "SELECT addMonths({now:DateTime64(3, 'UTC')}, -{months:UInt16})"


@dataclass(frozen=True)
class Report:
    kpis: list[tuple[Any, ...]]
    daily: list[tuple[Any, ...]]
    overdue: int
    due_30d: int
    redacted: dict[str, int]
    contacts: int
    monthly: list[tuple[int, datetime, int, int, int]]  # MONTHLY_COLUMNS, oldest first
    cutoff: datetime  # the retention period before now: personal data before it is removed
    months: int


def collect(client: Client, now: datetime, since: datetime, months: int) -> Report:
    try:
        return _collect(client, now, since, months)
    except Exception as exc:
        raise classify(exc) from None


def _collect(client: Client, now: datetime, since: datetime, months: int) -> Report:
    kpis = [tuple(r) for r in client.query(KPI_SQL, parameters={"since": since}).result_rows]
    daily = [tuple(r) for r in client.query(DAILY_SQL).result_rows]
    monthly = [
        (int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]))
        for r in client.query(MONTHLY_SQL, parameters={"now": now}).result_rows
    ]
    cutoff = client.query(CUTOFF_SQL, parameters={"now": now, "months": months}).result_rows[0][0]
    overdue, due_30d, _ = retention_counts(client, now, months)
    redacted = redaction_totals(client)
    total = int(client.query("SELECT count() FROM contacts_merged").result_rows[0][0])
    return Report(kpis, daily, overdue, due_30d, redacted, total, monthly, cutoff, months)


def percent(ratio: float | None) -> str:
    """0.4412 -> '44 %'; a rate with no denominator -> '-'."""
    return "-" if ratio is None else f"{100 * ratio:.0f} %"


def minutes_seconds(seconds: float | None) -> str:
    """72.4 -> '1 m 12 s', 45 -> '45 s', 3725 -> '1 h 2 m'; None -> '-'."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} m"
    return f"{minutes} m {secs} s" if minutes else f"{secs} s"


def kpi_display_rows(kpis: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
    """KPI_SQL's rows as KPI_HEADINGS' cells."""
    rows: list[tuple[str, ...]] = []
    for channel, contacts, _, _, abandoned, answer, handle, service, repeat in kpis:
        rows.append(
            (
                str(channel),
                f"{contacts:,}",
                percent(abandoned),
                minutes_seconds(answer),
                minutes_seconds(handle),
                percent(service),
                percent(repeat),
            )
        )
    return rows
