"""deploy/prometheus: the config and alert rules are valid, tested, and use real metric names.

The promtool checks skip only when promtool is absent (deploy/prometheus/install-promtool.sh
installs it; CI runs that first). The name checks need nothing but Python.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.config import Settings
from tests.support.metrics import TARGET_LABELS, check_selectors, own_labels

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "contactstream.rules.yml"
RULES_TEST = PROMETHEUS / "rules" / "contactstream.rules.test.yml"
OPERATING_MD = REPO / "docs" / "operating.md"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed: run deploy/prometheus/install-promtool.sh",
)

_LABEL = re.compile(r'([a-zA-Z_]\w*)="([^"]*)"')
WORKER_JOB = "contactstream-worker"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


@needs_promtool
def test_prometheus_config_is_valid() -> None:
    result = promtool("check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES.relative_to(PROMETHEUS)), cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_alert_rules_pass_their_unit_tests() -> None:
    result = promtool("test", "rules", RULES_TEST.name, cwd=RULES_TEST.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_use_only_metrics_the_workers_export() -> None:
    for rule in rules():
        check_selectors(rule["expr"])
    assert any("contactstream_" in rule["expr"] for rule in rules())


def test_selector_check_notices_unknown_names_and_labels() -> None:
    with pytest.raises(AssertionError, match="not a metric"):
        check_selectors("rate(contactstream_events_accepted[5m])")  # missing _total
    with pytest.raises(AssertionError, match="no label"):
        check_selectors('contactstream_consumer_lag{channel="sms"}')
    with pytest.raises(AssertionError, match="grouped by"):
        # The scrape job: Prometheus' own label, not the worker's task.
        check_selectors("max by (job) (contactstream_processing_waiting)")
    check_selectors("max by (task) (contactstream_processing_waiting)")


def scrape_targets() -> dict[str, set[str]]:
    """Scrape job name -> its targets, as prometheus.yml declares them."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    return {job["job_name"]: {t for sc in job["static_configs"] for t in sc["targets"]}
            for job in config["scrape_configs"]}


def test_rule_tests_feed_the_series_prometheus_stores() -> None:
    """Each input series of the promtool tests is labelled as Prometheus stores a scraped
    worker series: the scrape job and target of prometheus.yml, then the metric's own labels.
    (A worker label named like a target label would be stored as exported_<name>.)"""
    workers = scrape_targets()[WORKER_JOB]
    tests = yaml.safe_load(RULES_TEST.read_text())
    fed = [series["series"] for group in tests["tests"] for series in group["input_series"]]
    assert fed
    for series in fed:
        name = series.split("{", 1)[0]
        labels = dict(_LABEL.findall(series))
        assert labels.get("job") == WORKER_JOB, series
        assert labels.get("instance") in workers, series
        own = set(labels) - TARGET_LABELS
        if name == "up":
            assert not own, series
        else:
            assert own == own_labels(name), f"{series}: not the labels a worker exports"


def markdown_sections(text: str) -> dict[str, str]:
    """GitHub's anchor of each heading -> the text up to the next heading."""
    sections: dict[str, str] = {}
    for part in re.split(r"^(?=#+ )", text, flags=re.MULTILINE):
        heading, _, body = part.partition("\n")
        if heading.startswith("#"):
            title = heading.lstrip("#").strip().lower()
            sections[re.sub(r"[^\w\- ]", "", title).replace(" ", "-")] = body
    return sections


def test_every_alert_links_its_runbook_in_the_operating_docs() -> None:
    sections = markdown_sections(OPERATING_MD.read_text())
    for rule in rules():
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path == "docs/operating.md", f"{rule['alert']}: runbook_url {url!r}"
        assert anchor in sections, f"{rule['alert']}: no section #{anchor} in docs/operating.md"
        assert "What to do" in sections[anchor], f"{rule['alert']}: #{anchor} says not what to do"


def test_required_alerts_exist_and_each_is_tested_firing_and_documented() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    required = {
        "ContactstreamWorkerDown": "up",
        "ContactstreamConsumerLagGrowing": "contactstream_consumer_lag",
        "ContactstreamNoProgress": "contactstream_consumer_progress_age_seconds",
        "ContactstreamBatchesWaiting": "contactstream_processing_waiting",
        "ContactstreamDeadLettersAboveNormal": "contactstream_events_rejected_total",
        "ContactstreamRowsRefusedByClickHouse": 'code="storage_rejected"',
        "ContactstreamRetentionOverdue": "contactstream_retention_oldest_overdue_seconds",
        "ContactstreamRetentionRunStale": "contactstream_retention_last_success_timestamp_seconds",
    }
    for alert, metric in required.items():
        assert alert in by_name, alert
        assert metric in by_name[alert]["expr"], alert
    tests = yaml.safe_load(RULES_TEST.read_text())
    fired = {case["alertname"] for group in tests["tests"] for case in group["alert_rule_test"]
             if case["exp_alerts"]}
    docs = OPERATING_MD.read_text()
    for alert, rule in by_name.items():
        assert alert in fired, f"no test shows {alert} firing"
        assert rule["labels"]["severity"] in {"warning", "critical"}, alert
        assert rule["annotations"]["summary"], alert
        assert f"`{alert}`" in docs, f"{alert} is not explained in docs/operating.md"


def test_scrape_targets_use_the_workers_metrics_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs["contactstream-worker"]["static_configs"] for t in sc["targets"]]
    port = Settings.model_fields["metrics_port"].default
    assert len(targets) >= 2
    assert all(t.endswith(f":{port}") for t in targets), targets
    assert jobs["contactstream-worker"].get("metrics_path", "/metrics") == "/metrics"
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS / rule_file).is_file(), rule_file
        assert not rule_file.endswith(".test.yml")


def test_install_script_is_idempotent_when_promtool_and_prometheus_exist(tmp_path: Path) -> None:
    for tool in ("promtool", "prometheus"):
        fake = tmp_path / tool
        fake.write_text("#!/bin/sh\nexit 0\n")
        fake.chmod(0o755)
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run([bash, str(PROMETHEUS / "install-promtool.sh")],
                            env={"PATH": str(tmp_path)}, capture_output=True,
                            text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
