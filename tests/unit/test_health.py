"""/healthz and /readyz (streams/observability/health.py) on the real metrics server, with a real
event loop.

The metrics server answers from threads of its own, so these check that /healthz asks the loop:
a blocked loop fails /healthz while /metrics still answers. The worker's own readiness (a real
batch consumer, a ClickHouse directory made unwritable) is in tests/integration/test_alerts.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from streams.kafka.local.broker import free_port
from streams.observability.health import Health, readiness_problem
from streams.observability.metrics import Metrics, serve


class Batches:
    """Stands in for the batch consumer's two readings."""

    def __init__(self) -> None:
        self.settled_at: float | None = None
        self.partitions = 0

    def assigned(self) -> bool:
        return self.partitions > 0


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(timeout=10)
    running.close()


def test_readiness_needs_an_assignment_and_a_recent_batch() -> None:
    assert readiness_problem(True, 100.0, 130.0, 60) is None
    assert "no partitions assigned" in str(readiness_problem(False, 100.0, 101.0, 60))
    assert "no batch finished yet" in str(readiness_problem(True, None, 101.0, 60))
    late = readiness_problem(True, 100.0, 175.0, 60)
    assert late == "not ready: the last batch finished 75s ago (bound 60s)"


@pytest.fixture
def server() -> Iterator[tuple[int, Health]]:
    """The worker's metrics server on a free port, and the Health it answers from."""
    registry = CollectorRegistry()
    Metrics.create(registry)
    health = Health(ready_within=5.0, loop_timeout=0.5)
    port = free_port()
    running = serve(registry, "127.0.0.1", port, health)
    assert running is not None
    yield port, health
    running.shutdown()
    running.server_close()


def test_healthz_fails_when_the_event_loop_hangs_while_metrics_still_answer(
    server: tuple[int, Health], loop: asyncio.AbstractEventLoop
) -> None:
    port, health = server
    assert get(port, "/healthz") == (503, "starting: the batch consumer is not running yet\n")
    batches = Batches()
    health.watch(loop, batches)
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/readyz")[0] == 503
    batches.partitions, batches.settled_at = 4, time.monotonic()
    assert get(port, "/readyz") == (200, "ok\n")

    released = threading.Event()
    loop.call_soon_threadsafe(released.wait, 30)  # a blocking call on the loop: it hangs
    try:
        assert get(port, "/healthz") == (503, "the event loop did not answer within 0.5s\n")
        assert get(port, "/readyz")[0] == 503
        status, text = get(port, "/metrics")
        assert status == 200
        assert "contactstream_events_consumed_total" in text
    finally:
        released.set()
    assert get(port, "/healthz") == (200, "ok\n")

    batches.settled_at = time.monotonic() - 6
    status, text = get(port, "/readyz")
    assert status == 503
    assert text.startswith("not ready: the last batch finished 6s ago")
