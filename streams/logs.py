"""Logging with a last line of defence: identifiers that look personal are masked in every record.

Our code logs contact ids, counts and error codes only; this catches what a library or an
exception text might add (ClickHouse and pydantic errors can quote input values).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d{7,15}\b|\b0\d{1,3}[ -]?\d{5,8}\b")
_formatter = logging.Formatter()
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


def scrub(text: str) -> str:
    """Mask email addresses and phone numbers in free text."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


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


def setup_logging(level: str) -> None:
    install_scrubbing()
    # The worker logs Kafka trouble (INFO and up); aiokafka's DEBUG is per message and costly.
    logging.getLogger("aiokafka").setLevel(logging.INFO)
    logging.basicConfig(
        level=_LEVELS.get(level, logging.INFO),
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
    )
