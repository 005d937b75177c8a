"""Retry inside an agent: an agent that raises is restarted by faust without its batch, so every
batch is retried here, with capped exponential backoff, until it succeeds (design section 9)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from streams.errors import ContactstreamError

T = TypeVar("T")
log = logging.getLogger(__name__)


async def until_done(job: Callable[[], Awaitable[T]], what: str, max_delay: float) -> T:
    """Await `job()` until it returns; log each failure by error class (never its data)."""
    delay = 0.5
    while True:
        try:
            return await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            detail = str(exc) if isinstance(exc, ContactstreamError) else type(exc).__name__
            log.error("%s failed (%s); retrying in %.1fs", what, detail, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
