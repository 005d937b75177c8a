"""`contactstream demo`, short: what it prints is what ClickHouse holds, the commands it prints
last work on its data in processes of their own, a second run replaces the first's data, and
SIGINT, SIGTERM and SIGHUP stop the broker and worker it started without a warning."""

from __future__ import annotations

import base64
import csv
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from streams.kafka.local.broker import free_port
from streams.kafka.local.process import alive
from tests.support.cli import CLI, REPO, cli
from tests.support.harness import query

SHORT = ("--duration", "5", "--rate", "100", "--history-contacts", "1500")
NEXT_STEPS = "explore what the demo left"
COUNTS = ("with_personal_data", "redacted", "never_personal")


def demo(env: dict[str, str], reports: Path) -> str:
    run = cli("demo", *SHORT, "--report-dir", str(reports), env=env, timeout=400)
    return run.stdout


def printed_commands(out: str) -> list[str]:
    """The command lines the demo printed last (after NEXT_STEPS), as a shell would run them."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(NEXT_STEPS))
    steps = [line.strip() for line in lines[start + 1 :]]
    assert steps, out
    assert steps[-1].startswith("open the report: file://"), "the report is the last line"
    return [step for step in steps if not step.startswith("open the report")]


def shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S602 (the very line the demo printed, as a user pastes it)
        command,
        shell=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=REPO,
        timeout=300,
        check=False,
    )


def test_the_next_commands_see_the_demos_data(kafka_bootstrap: str, tmp_path: Path) -> None:
    # Only the data directory is the test's own: the demo and the commands after it use the
    # default database, topic prefix and consumer group, as after `make demo`.
    env = {
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CONTACTSTREAM_DATA_DIR": str(tmp_path / "state"),
    }
    out = demo(env, tmp_path / "reports")
    contacts, overdue, redacted = _figures(out)
    held, audit, old_personal = query(
        env,
        "SELECT count() FROM contacts_merged",
        "SELECT count() FROM redaction_log",
        "SELECT count() FROM contacts_merged WHERE retention_clock_at < now() - INTERVAL 19 MONTH "
        "AND (phone IS NOT NULL OR email IS NOT NULL OR content IS NOT NULL)",
    )
    assert contacts == held[0][0] >= 1500
    assert overdue == 0
    assert redacted == audit[0][0] > 0, "backfilled contacts older than 18 months were redacted"
    assert old_personal == [[0]]
    kpi_lines = out[out.index("KPIs per channel") : out.index("contacts in ClickHouse")]
    assert "…" not in kpi_lines
    assert max(len(line) for line in kpi_lines.splitlines()) <= 100

    report = Path(re.search(r"open the report: file://(\S+)", out).group(1)).parent  # type: ignore[union-attr]
    _check_report_files(report, contacts)

    # The commands it printed last, exactly as printed, each a process of its own.
    commands = printed_commands(out)
    assert any(" analyst query " in c for c in commands)
    assert any(c.endswith(" retention status") for c in commands)
    for command in commands:
        done = shell(command, env)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr

    # The same questions by hand, in machine-readable form.
    by_month = cli(
        "analyst",
        "query",
        "SELECT count() AS contacts, sum(redacted) AS redacted FROM analyst_contacts",
        "--format",
        "csv",
        env=env,
    ).stdout.splitlines()
    assert by_month[1] == f"{contacts},{redacted}", "the snapshot holds the demo's final data"
    status = json.loads(cli("retention", "status", "--json", env=env).stdout)
    assert (status["database"], status["topic_prefix"]) == ("contactstream", "contacts")
    assert status["overdue"] == 0
    assert sum(status["redacted"].values()) == redacted
    assert status["last_run"] is not None

    # Data no demo wrote is never dropped: without the demo's marker the next run refuses.
    marker = tmp_path / "state" / "demo.json"
    saved = marker.read_text()
    marker.unlink()
    refused = cli("demo", *SHORT, env=env, check=False)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert f"holds {contacts:,} contacts no demo wrote" in refused.stderr
    assert "Traceback" not in refused.stderr

    # With it, a second run replaces the first run's data instead of adding to it.
    marker.write_text(saved)
    again = demo(env, tmp_path / "reports")
    assert f"removed the previous demo's data ({contacts:,} contacts" in again
    second, _, second_redacted = _figures(again)
    assert query(env, "SELECT count() FROM contacts_merged")[0] == [[second]]
    assert second < 1.5 * contacts, "only the second run's contacts"
    status = json.loads(cli("retention", "status", "--json", env=env).stdout)
    assert sum(status["redacted"].values()) == second_redacted


def _figures(out: str) -> tuple[int, int, int]:
    """(contacts, past due with personal data, redacted) from the demo's summary line."""
    found = re.search(
        r"contacts in ClickHouse: ([\d,]+); past due with personal data: ([\d,]+); "
        r"redacted: ([\d,]+)",
        out,
    )
    assert found is not None, out
    contacts, overdue, redacted = (int(g.replace(",", "")) for g in found.groups())
    return contacts, overdue, redacted


def _check_report_files(report: Path, contacts: int) -> None:
    """The chart's series from ClickHouse: redacted only before the 18-month line, personal data
    only after it; the HTML page embeds the same PNG and the same figures."""
    with (report / "retention_by_month.csv").open() as handle:
        months = list(csv.DictReader(handle))
    assert sum(sum(int(m[k]) for k in COUNTS) for m in months) == contacts
    old = [m for m in months if int(m["months_ago"]) >= 18]
    young = [m for m in months if int(m["months_ago"]) < 18]
    assert old
    assert young
    assert all(int(m["with_personal_data"]) == 0 for m in old)
    assert sum(int(m["redacted"]) for m in old) > 0
    assert all(int(m["redacted"]) == 0 for m in young), "the demo erases no one: only retention"
    assert all(int(m["with_personal_data"]) > 0 for m in young)
    with (report / "kpi_by_channel.csv").open() as handle:
        kpis = list(csv.DictReader(handle))
    assert {r["channel"] for r in kpis} == {"phone", "sms", "email", "form"}
    png = (report / "retention_by_month.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert len(png) > 10_000
    page = (report / "report.html").read_text()
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page
    for month in months:
        assert f"<td>{int(month['redacted']):,}</td>" in page


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _terminal() -> tuple[int, int]:
    """A pseudo-terminal of 100 columns: the demo runs as at a user's terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 100, 0, 0))
    return master, slave


def _read(master: int, until: str | None, timeout: float) -> str:
    """What the terminal showed (colours stripped), until `until` appears or it is closed."""
    chunks: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 1.0)[0]:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every process holding the other side has exited
            break
        if not data:
            break
        chunks.append(ANSI.sub("", data.decode(errors="replace")))
        if until is not None and until in "".join(chunks):
            return "".join(chunks)
    if until is not None:
        raise AssertionError(f"no {until!r} in time:\n{''.join(chunks)}")
    return "".join(chunks)


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_stop_signal_stops_the_broker_and_worker_it_started(
    signum: signal.Signals, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    env = {
        **os.environ,
        # Nothing answers there: the demo starts a broker of its own on that port.
        "CONTACTSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "CONTACTSTREAM_DATA_DIR": str(state),
        "CONTACTSTREAM_JAR_CACHE": str(REPO / ".contactstream" / "jars"),
        "PYTHONWARNINGS": "default",  # every warning shows, asyncio's included
    }
    master, slave = _terminal()
    proc = subprocess.Popen(
        [*CLI, "demo", "--duration", "60", "--history-contacts", "300"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    os.close(slave)
    try:
        before = _read(master, "live traffic:", timeout=300)
        broker = json.loads((state / "kafka" / "broker.json").read_text())["pid"]
        worker = int(re.search(r"worker started \(pid (\d+)", before).group(1))  # type: ignore[union-attr]
        assert alive(broker)
        assert alive(worker)
        time.sleep(2)  # inside the live traffic: the producer has batches in flight
        if signum == signal.SIGHUP:
            os.close(master)  # the terminal is gone: each write to it fails from now on
            master = -1
        proc.send_signal(signum)
        after = _read(master, None, timeout=120) if master >= 0 else ""
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        if master >= 0:
            os.close(master)
    assert proc.returncode == 130, before + after + err
    if signum != signal.SIGHUP:  # after a hang-up nobody sees the terminal
        assert f"{signum.name}: stopping what the demo started" in after
        assert "broker stopped" in after
    text = before + after + err
    for noise in ("Traceback", "Task was destroyed", "Warning", "never awaited", "Unclosed"):
        assert noise not in text, text
    deadline = time.monotonic() + 10  # an exited child of the demo is reaped by init
    while (alive(broker) or alive(worker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(broker), "the broker the demo started is gone"
    assert not alive(worker), "the demo's worker is gone"
