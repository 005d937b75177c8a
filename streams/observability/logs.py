"""Logging with a last line of defence: identifiers that look personal are masked in every record.

Our code logs contact ids, counts and error codes only; this catches what a library or an
exception text might add (ClickHouse and pydantic errors can quote input values).
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import time
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from typing import Any, Literal

import phonenumbers

from schemas.types import PRINTABLE

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A run of 7 to 17 digits, maybe grouped by up to two of " ().-/" between them, with an
# international (+, 00) or trunk (0) prefix or none. Which runs are phone numbers: _is_phone.
_DIGIT_RUN = re.compile(r"(?<![\w+])(?:\+|(?<![\d.])\b)\d(?:[ ().\-/]{0,2}\d){6,16}(?![\w])")
_NOT_DIGIT = re.compile(r"\D")
_formatter = logging.Formatter()
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def scrub(text: str) -> str:
    """Mask email addresses and phone numbers in free text."""
    return _DIGIT_RUN.sub(_mask_phone, _EMAIL.sub("[email]", text))


def _mask_phone(match: re.Match[str]) -> str:
    return "[phone]" if _is_phone(match.group()) else match.group()


def _is_phone(run: str) -> bool:
    """Whether a digit run is written like a phone number: international (+358 40 123 4567,
    00358401234567), national with a trunk 0 (040 123 4567, 09-123 4567), or the digits of a
    valid international number without its + (358401234567). A log line's offsets, counts,
    durations and dates are not: over-masking one costs a debugging hint, missing a number
    leaks it, so the first two forms are masked by shape alone."""
    digits = _NOT_DIGIT.sub("", run)
    if run.startswith("+"):
        return 7 <= len(digits) <= 15
    if digits.startswith("00"):
        return 7 <= len(digits) - 2 <= 15
    if digits.startswith("0"):
        return not run.startswith("0.") and len(digits) <= 13
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse("+" + digits)))
    except phonenumbers.NumberParseException:
        return False


def printable(text: str) -> str:
    """`text` as one harmless terminal line: control and format characters (a newline, an ANSI
    escape, a bidi override) escaped as \\x.., \\u.. . Ingestion refuses such identifiers; this
    guards what was stored before it did, or came from elsewhere."""
    if PRINTABLE.fullmatch(text):
        return text
    return "".join(
        c if PRINTABLE.fullmatch(c) else c.encode("unicode_escape").decode() for c in text
    )


def install_scrubbing() -> None:
    """Scrub every log record at creation time, whoever logs it and whatever handler prints it."""
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(previous, "contactstream_scrubbing", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            record.msg = scrub(record.getMessage())
        except Exception:
            record.msg = scrub(str(record.msg))
        record.args = ()  # not None: mode's formatter would wrap None into (None,)
        if record.exc_info:
            record.exc_text = scrub(_formatter.formatException(record.exc_info))
        return record

    factory.contactstream_scrubbing = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class Throttle:
    """At most one line per key per `interval` seconds; counts the lines held back."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def allow(self, key: Hashable) -> int | None:
        """None: hold this line back. Else the number held back since the last one shown."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._last) > 10_000:  # keys are bounded in practice; never let them grow
            self._last.clear()
        self._last[key] = now
        return self._held.pop(key, 0)


_DIGITS = re.compile(r"\d+")
# aiokafka logs a coordinator that is still being elected (Kafka error 15) as ERROR, on every
# first start of a group; it is retried at once and is no failure.
_TRANSIENT_AT_START = ("Group Coordinator Request failed", "CoordinatorNotAvailable")


class RepeatFilter(logging.Filter):
    """Handler filter: a warning or error repeated with other numbers (a node id, a port, an
    attempt) is shown once per interval with a count, so a broker outage is a line every 30 s,
    not a hundred a second."""

    def __init__(self, interval: float = 30.0) -> None:
        super().__init__()
        self.throttle = Throttle(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.levelno >= logging.ERROR and all(s in message for s in _TRANSIENT_AT_START):
            record.levelno, record.levelname = logging.INFO, "INFO"
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, _DIGITS.sub("N", message)[:200])
        held = self.throttle.allow(key)
        if held is None:
            return False
        if held:
            record.msg, record.args = f"{message} (repeated {held} times since the last line)", ()
        return True


LOG_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"
LogFormat = Literal["text", "json"]  # CONTACTSTREAM_LOG_FORMAT (streams.config)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (time in UTC, level, logger, message, exception), for a log
    collector. Scrubbed here as well: a record made without the scrubbing factory
    (logging.makeLogRecord, a queue listener) must not reach the collector unmasked."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = scrub(record.exc_text)
        return json.dumps(line, ensure_ascii=False)


def level_number(level: str) -> int:
    return _LEVELS.get(level, logging.INFO)


def logging_config(level: str, log_format: LogFormat = "text") -> dict[str, Any]:
    """One handler, one format, repeats throttled: for logging.config.dictConfig and faust."""
    formatter = {"()": JsonFormatter} if log_format == "json" else {"format": LOG_FORMAT}
    root = level_number(level)
    quiet = max(logging.WARNING, root)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"repeats": {"()": RepeatFilter}},
        "formatters": {"line": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "line",
                "filters": ["repeats"],
            }
        },
        "root": {"level": root, "handlers": ["stderr"]},
        # aiokafka's INFO is a line per client start (the DLQ replay check starts one per
        # partition) and its DEBUG one per message: warnings only, whatever the level. faust and
        # mode log each service's start and stop, every assignment and recovery step at INFO:
        # shown at debug only. The worker says itself what an operator needs (its start, each
        # wait, Kafka and ClickHouse trouble); their warnings and errors always show.
        "loggers": {
            "aiokafka": {"level": quiet},
            "faust": {"level": root if root == logging.DEBUG else quiet},
            "mode": {"level": root if root == logging.DEBUG else quiet},
        },
    }


def setup_logging(level: str, log_format: LogFormat = "text") -> None:
    install_scrubbing()
    logging.config.dictConfig(logging_config(level, log_format))
