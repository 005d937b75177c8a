"""/healthz and /readyz next to /metrics: what a container healthcheck or a probe asks.

The metrics server answers on threads of its own, so /metrics stays up when the event loop hangs.
Both checks therefore run a probe *on* the event loop and wait for its answer: a loop that does
not answer within a second or two is not alive.

- /healthz: the process is alive and its event loop answers.
- /readyz: that, and the raw batch consumer holds partitions and finished its last batch (or
  found nothing to fetch, with nothing in flight) within CONTACTSTREAM_READY_BATCH_SECONDS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, Protocol

LOOP_ANSWER_SECONDS = 2.0
Probe = Callable[[], str | None]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BatchProgress(Protocol):
    """What readiness reads from the batch consumer (streams.ingest.consumer.RawBatchConsumer)."""

    settled_at: float | None
    """time.monotonic() when it last finished a batch or found nothing to fetch, idle."""

    def assigned(self) -> bool: ...


def readiness_problem(
    assigned: bool, settled_at: float | None, now: float, bound: float
) -> str | None:
    """Why the worker is not ready, or None when it is."""
    if not assigned:
        return "not ready: the batch consumer has no partitions assigned"
    if settled_at is None:
        return "not ready: no batch finished yet"
    if now - settled_at > bound:
        return f"not ready: the last batch finished {now - settled_at:.0f}s ago (bound {bound:g}s)"
    return None


class Health:
    """The worker's answers to /healthz and /readyz (see the module docstring)."""

    def __init__(
        self,
        ready_within: float,
        loop_timeout: float = LOOP_ANSWER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ready_within = ready_within
        self.loop_timeout = loop_timeout
        self.clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batches: BatchProgress | None = None

    def watch(self, loop: asyncio.AbstractEventLoop, batches: BatchProgress) -> None:
        """Called on the loop once the batch consumer runs."""
        self._loop, self._batches = loop, batches

    def alive(self) -> str | None:
        """None when the event loop answers; else why not (from any thread but the loop's)."""
        return self._on_loop(lambda: None)

    def ready(self) -> str | None:
        return self._on_loop(self._readiness)

    def _readiness(self) -> str | None:
        batches = self._batches
        assert batches is not None, "watch() sets both"
        return readiness_problem(
            batches.assigned(), batches.settled_at, self.clock(), self.ready_within
        )

    def _on_loop(self, probe: Probe) -> str | None:
        """`probe()` run on the event loop (so it reads the loop's state safely), or why not."""
        loop = self._loop
        if loop is None:
            return "starting: the batch consumer is not running yet"
        answer: Future[str | None] = Future()

        def run() -> None:
            try:
                answer.set_result(probe())
            except Exception as exc:  # a probe's bug must not hang the request
                answer.set_result(f"check failed ({type(exc).__name__})")

        try:
            loop.call_soon_threadsafe(run)
        except RuntimeError:  # the loop is closed: the worker is stopping
            return "stopping: the event loop has closed"
        try:
            return answer.result(timeout=self.loop_timeout)
        except TimeoutError:
            return f"the event loop did not answer within {self.loop_timeout:g}s"


def with_health(metrics: WsgiApp, health: Health) -> WsgiApp:
    """`metrics` (prometheus_client's WSGI app) with /healthz and /readyz beside it."""
    checks: dict[str, Probe] = {"/healthz": health.alive, "/readyz": health.ready}

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        check = checks.get(environ.get("PATH_INFO", ""))
        if check is None:
            return metrics(environ, start_response)
        problem = check()
        body = f"{problem or 'ok'}\n".encode()
        start_response(
            "200 OK" if problem is None else "503 Service Unavailable",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app
