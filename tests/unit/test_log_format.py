"""The worker's log lines (streams/observability/logs.py): CONTACTSTREAM_LOG_FORMAT=json writes one
JSON object per line, scrubbed like the text lines; faust's and mode's INFO stay out at level info.

Each case runs setup_logging in a child process, as the worker does, and reads its stderr (the
logging configuration is process-wide). tests/integration/test_alerts.py runs a whole worker
with JSON lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from streams.config import Settings

PROGRAM = textwrap.dedent("""
    import logging, sys
    from streams.observability.logs import setup_logging

    setup_logging(sys.argv[1], sys.argv[2])
    log = logging.getLogger("streams.example")
    log.info("subject +358 40 123 4567 wrote from maija.meikalainen@example.fi")
    try:
        raise ValueError("refused 0401234567")
    except ValueError:
        log.exception("insert failed for %s", "+358401234567")
    logging.getLogger("faust.worker").info("[^Worker]: Starting...")
    logging.getLogger("mode.services").info("[^--Service]: Starting...")
    logging.getLogger("faust.transport").warning("heartbeat missed")
    record = logging.makeLogRecord({"name": "made", "levelno": logging.WARNING,
                                    "levelname": "WARNING", "msg": "call 0401234567"})
    logging.getLogger("made").handle(record)
""")
PERSONAL = ("123 4567", "401234567", "maija", "example.fi")


def run(level: str, log_format: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", PROGRAM, level, log_format],
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stderr.splitlines()


def test_json_lines_are_objects_scrubbed_like_text_lines() -> None:
    lines = run("info", "json")
    records = [json.loads(line) for line in lines]
    assert [(r["level"], r["logger"]) for r in records] == [
        ("INFO", "streams.example"),
        ("ERROR", "streams.example"),
        ("WARNING", "faust.transport"),
        ("WARNING", "made"),
    ]
    assert records[0]["message"] == "subject [phone] wrote from [email]"
    assert records[1]["message"] == "insert failed for [phone]"
    assert records[1]["exception"].startswith("Traceback")
    assert records[1]["exception"].endswith("ValueError: refused [phone]")
    assert records[3]["message"] == "call [phone]", "a record made without the factory"
    assert all(set(r) <= {"time", "level", "logger", "message", "exception"} for r in records)
    assert records[0]["time"].endswith("+00:00")
    for line in lines:
        assert not any(value in line for value in PERSONAL), line


def test_text_lines_keep_their_format_and_faust_info_shows_at_debug_only() -> None:
    info = run("info", "text")
    assert info[0].endswith("INFO streams.example: subject [phone] wrote from [email]")
    assert not [line for line in info if "Starting..." in line]
    assert [line for line in info if "WARNING faust.transport: heartbeat missed" in line]
    debug = run("debug", "text")
    assert [line for line in debug if "INFO faust.worker: [^Worker]: Starting..." in line]
    assert [line for line in debug if "INFO mode.services" in line]


def test_the_log_format_is_a_setting() -> None:
    assert Settings().log_format == "text"
    assert Settings(log_format="json").log_format == "json"
    with pytest.raises(ValueError, match="log_format"):
        Settings(log_format="xml")
