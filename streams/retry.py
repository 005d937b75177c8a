"""Retry inside an agent (design section 9: an agent that raises is restarted by faust without
its batch). A failure that reaches here is about the system, never about one event (those were
dead-lettered already): the job waits with capped exponential backoff and is tried again whole,
nothing acked meanwhile. Each wait is counted by kind and shown as a waiting gauge; the log
gets one line per kind of failure per interval, not one per attempt."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, Literal, TypeVar

from aiokafka.errors import KafkaError

from streams.errors import ContactstreamError, StorageError
from streams.observability.logs import Throttle
from streams.observability.metrics import Metrics

T = TypeVar("T")
FailureSource = Literal["storage", "kafka", "internal"]
FAILURE_SOURCES: Final[tuple[FailureSource, ...]] = ("storage", "kafka", "internal")
log = logging.getLogger(__name__)


def failure_source(exc: BaseException) -> FailureSource:
    """Which dependency a failure came from (a bounded metric label)."""
    if isinstance(exc, StorageError):
        return "storage"
    if isinstance(exc, KafkaError | ConnectionError | asyncio.TimeoutError):
        return "kafka"
    return "internal"


def describe(exc: BaseException) -> str:
    """Our errors' texts hold codes only; anything else is named by class (its text may hold
    data)."""
    return str(exc) if isinstance(exc, ContactstreamError) else type(exc).__name__


async def until_done(
    job: Callable[[], Awaitable[T]],
    what: str,
    max_delay: float,
    metrics: Metrics,
    throttle: Throttle,
) -> T:
    """Await `job()` until it returns. `what` names the task (a bounded label, e.g.
    'normalize'): it is the metrics' `task` label and the key of the line `throttle` lets through
    (the runtime's Runtime.failure_lines, shared by the worker's jobs)."""
    delay, failures = 0.5, 0
    try:
        while True:
            try:
                result = await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                source = failure_source(exc)
                metrics.processing_failures.labels(what, source).inc()
                metrics.processing_waiting.labels(what).set(1)
                held = throttle.allow((what, source, describe(exc)))
                if held is not None:
                    log.warning(
                        "%s waits: %s failure (%s); retrying with backoff up to %.0fs%s",
                        what,
                        source,
                        describe(exc),
                        max_delay,
                        f" ({held} more since the last line)" if held else "",
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay)
                continue
            if failures:
                log.info("%s resumed after %d failed attempts", what, failures)
            return result
    finally:
        if metrics is not None:
            metrics.processing_waiting.labels(what).set(0)
