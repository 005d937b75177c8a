"""The retention evidence's pure parts: whose status a document is, when it is stale, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.cli.retention import (
    EXIT_CURRENT_NONE_OVERDUE,
    EXIT_NO_CURRENT_EVIDENCE,
    EXIT_OVERDUE,
    Figures,
    due_line,
    duration,
    exit_code,
    figures_from_document,
    foreign_reason,
    is_stale,
    late_after,
    stale_after,
    status_lines,
)
from streams.config import Settings
from streams.privacy.retention import RetentionRun, status_document
from streams.privacy.sql import ContactKey
from tests.support.cli import run

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(
        data_dir=tmp_path, clickhouse_database="prod", topic_prefix="contacts"
    ).model_copy(update=changes)


def _document(
    settings: Settings, due: list[tuple[ContactKey, datetime]] | None = None
) -> dict[str, object]:
    run_ = RetentionRun(NOW, 2, 2, 2, 5, 10)
    document = status_document(settings, run_, {"retention": 3}, due or [])
    parsed: dict[str, object] = json.loads(json.dumps(document))
    return parsed


def test_the_status_file_is_keyed_by_database_and_prefix(tmp_path: Path) -> None:
    one = _settings(tmp_path)
    assert one.retention_status_path == tmp_path / "retention" / "prod.contacts.json"
    paths = {
        _settings(tmp_path, clickhouse_database=db, topic_prefix=prefix).retention_status_path
        for db, prefix in [("a", "b.c"), ("a_b", "c"), ("a", "b_c"), ("a_b", "c.d")]
    }
    assert len(paths) == 4


def test_the_document_names_its_deployment_and_each_due_contact_by_id_and_channel(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    due = [
        (ContactKey("c-1", "phone"), NOW - timedelta(days=1)),
        (ContactKey("c-2", "sms"), NOW - timedelta(days=2)),
    ]
    document = _document(settings, due)
    assert {k: document[k] for k in ("database", "topic_prefix", "retention_months")} == {
        "database": "prod",
        "topic_prefix": "contacts",
        "retention_months": 18,
    }
    assert document["clickhouse"] == f"chdb://{tmp_path / 'clickhouse'}"
    assert document["written_at"] == NOW.isoformat()
    figures = figures_from_document(document, settings, Path("x"), NOW)
    assert [due_line(entry) for entry in figures.due_now] == [
        "c-1\tphone\tdue 2026-01-01 03:04",
        "c-2\tsms\tdue 2025-12-31 03:04",
    ]
    assert (figures.overdue, figures.due_30d, figures.redacted) == (2, 5, {"retention": 3})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"clickhouse_database": "demo_1"}, "database demo_1"),
        ({"topic_prefix": "demo_1"}, "topic prefix demo_1"),
        ({"retention_months": 24}, "24 months"),
        ({"clickhouse_dsn": SecretStr("chdb:///elsewhere")}, "chdb:///elsewhere"),
    ],
)
def test_a_document_of_another_deployment_is_foreign(
    tmp_path: Path, change: dict[str, object], named: str
) -> None:
    ours = _settings(tmp_path)
    theirs = _document(_settings(tmp_path, **change))
    reason = foreign_reason(theirs, ours, Path("s.json"))
    assert reason is not None
    assert named in reason
    assert "the configured database prod (topic prefix contacts, 18 months" in reason
    assert foreign_reason(_document(ours), ours, Path("s.json")) is None


def test_a_document_without_its_deployment_is_foreign(tmp_path: Path) -> None:
    legacy = _document(_settings(tmp_path))
    del legacy["database"]
    assert foreign_reason(legacy, _settings(tmp_path), Path("s.json")) is not None


def test_staleness_bound_is_three_intervals_and_at_least_five_minutes(tmp_path: Path) -> None:
    assert stale_after(_settings(tmp_path, retention_interval_seconds=2.0)) == 300
    assert stale_after(_settings(tmp_path, retention_interval_seconds=600.0)) == 1800
    assert not is_stale(NOW - timedelta(seconds=299), NOW, 300)
    assert is_stale(NOW - timedelta(seconds=301), NOW, 300)
    assert is_stale(NOW + timedelta(minutes=5), NOW, 300), "a clock in the future"
    assert not is_stale(NOW + timedelta(seconds=30), NOW, 300)


def _figures(overdue: int, stale: bool, oldest: float = 86_400.0) -> Figures:
    return Figures(
        "db", "p", 18, overdue, 0, None, {}, "worker_status", NOW, stale=stale,
        oldest_overdue_seconds=oldest if overdue else 0.0,
    )  # fmt: skip


def test_exit_codes() -> None:
    bound = late_after(_settings(Path("/unused")))
    assert bound == 3600 + 300, "the hourly batch, then time to see and redact it"
    assert exit_code(_figures(0, False), bound) == EXIT_CURRENT_NONE_OVERDUE == 0
    assert exit_code(_figures(3, False), bound) == EXIT_OVERDUE == 2
    assert exit_code(_figures(3, False, oldest=bound - 1), bound) == 0, "waiting for its batch"
    assert exit_code(_figures(3, False, oldest=bound + 1), bound) == 2
    assert exit_code(_figures(0, True), bound) == EXIT_NO_CURRENT_EVIDENCE == 1
    assert exit_code(_figures(3, True), bound) == 1, "stale figures prove nothing either way"


def test_the_status_says_whether_past_due_contacts_wait_for_their_batch_or_are_late() -> None:
    bound = 3900.0
    waiting = status_lines(_figures(2, False, oldest=1800), NOW, 300, bound)
    assert (
        "past due with personal data: 2 (waiting for their redaction batch: the oldest "
        "30 min past due)" in waiting
    )
    late = status_lines(_figures(2, False, oldest=3 * 86_400), NOW, 300, bound)
    assert (
        "past due with personal data: 2 (LATE: the oldest 3 days past due, over the "
        "schedule's 65 min)" in late
    )
    assert "past due with personal data: 0" in status_lines(_figures(0, False), NOW, 300, bound)


def test_durations_read_easily() -> None:
    assert [duration(s) for s in (5, 130, 1200, 4 * 3600, 3 * 86_400)] == [
        "5 s",
        "2 min",
        "20 min",
        "4 h",
        "3 days",
    ]


def test_status_help_names_the_exit_codes_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "retention", "status", "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "Exit codes: 0 current figures, none past due longer than the redaction schedule" in flat
    assert "2 current figures, personal data held past that" in flat
    assert "--json" in flat
