"""The steady-state benchmarks run (in their quick mode) so that they cannot rot: each loads its
contacts through the worker's parse path into a real chDB database, runs every job it times
through the project's own functions and prints its table. Nothing here checks a time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_quick(script: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), "--quick"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # The population's phone numbers and addresses are synthetic, but a bench prints none.
    assert not re.search(r"\+358|@example\.", done.stdout + done.stderr)
    return done.stdout


def count(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in:\n{text}"
    return int(found.group(1).replace(",", ""))


def test_analyst_bench_times_every_state() -> None:
    out = run_quick("analyst.py")
    assert count(r"loaded 5,000 contacts, ([\d,]+) events", out) > 10_000
    assert count(r"\[rectified\] one subject's phone rectified on (\d+) contacts", out) > 0
    assert count(r"\[redacted\] ([\d,]+) contacts past due redacted", out) > 0
    for state in ("fresh", "traffic 10m", "burst", "rectified", "redacted"):
        assert re.search(rf"^{state}: slowest warm [\d.]+ s .* of 3 over 1 s warm$", out, re.M)
    assert len(re.findall(r"^analyst query panel: .*: [\d.]+ s, [\d.]+x$", out, re.M)) == 3


def test_steady_state_bench_reports_every_job() -> None:
    out = run_quick("steady_state.py")
    assert count(r"([\d,]+) past due", out) > 0
    for job in (
        r"retention tick \(queries\) / 60 s",
        r"redaction batch \(\d+\) / 3600 s",
        r"baseline, every tick: redaction of 1 / 60 s",
        "erasure of 1 subjects",
        "rectification of 1 subjects",
        r"Parquet round / 60 s",
        r"store refresh / \d+ s",
    ):
        assert re.search(rf"^{job}.*\|\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M), job
    assert re.search(r"^total per day .*\|\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M)
    assert "target 5 GB/day" in out
