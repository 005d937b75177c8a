"""A short `contactstream demo`: it exits 0 and what it prints is what ClickHouse holds."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from tests.conftest import cli
from tests.integration.harness import query


def test_short_demo_reports_what_clickhouse_holds(kafka_bootstrap: str, tmp_path: Path) -> None:
    env = {
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CONTACTSTREAM_DATA_DIR": str(tmp_path / "state"),
    }
    run = cli(
        "demo",
        "--duration",
        "5",
        "--rate",
        "100",
        "--history-contacts",
        "1500",
        "--report-dir",
        str(tmp_path / "reports"),
        env=env,
        timeout=300,
    )
    out = run.stdout
    contacts = int(re.search(r"contacts in ClickHouse: (\d+)", out).group(1))  # type: ignore[union-attr]
    overdue, redacted = map(
        int,
        re.search(  # type: ignore[union-attr]
            r"past due with personal data: (\d+); redacted this run: (\d+)", out
        ).groups(),
    )
    database = re.search(r"database (demo_\d+_\d+)", out).group(1)  # type: ignore[union-attr]
    report = Path(re.search(r"report: (\S+)", out).group(1))  # type: ignore[union-attr]

    db_env = {**env, "CONTACTSTREAM_CLICKHOUSE_DATABASE": database}
    held, audit, old_personal = query(
        db_env,
        "SELECT count() FROM contacts_merged",
        "SELECT count() FROM redaction_log",
        "SELECT count() FROM contacts_merged WHERE retention_clock_at < now() - INTERVAL 19 MONTH "
        "AND (phone IS NOT NULL OR email IS NOT NULL OR content IS NOT NULL)",
    )
    assert contacts == held[0][0] >= 1500
    assert overdue == 0
    assert redacted == audit[0][0] > 0, "backfilled contacts older than 18 months were redacted"
    assert old_personal == [[0]]
    with (report / "kpi_by_channel.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sum(int(r["contacts"]) for r in rows) <= contacts
    assert {r["channel"] for r in rows} == {"phone", "sms", "email", "form"}
    assert (report / "daily_contacts.png").stat().st_size > 10_000
