"""Small asyncio helpers shared by the worker's long-running loops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Future[Any] | None) -> None:
    """Cancel `task` if it still runs and wait until it has stopped; what it raises is dropped."""
    if task is None:
        return
    task.cancel()  # (nothing for a task already done)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def supervised(run: Callable[[], Awaitable[None]], what: str, pause: float = 1.0) -> None:
    """Run `run()` again and again until cancelled: a loop that must never die quietly. An
    unexpected error is logged by class (never its text, which may quote data) and it goes on."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("%s failed (%s); resuming in %gs", what, type(exc).__name__, pause)
            await asyncio.sleep(pause)
