"""The ClickHouse sink against the real engine with faults injected in front of it: retriable
failures pause and retry without loss or duplicates; refused rows are isolated, not dropped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.errors import StorageUnavailable
from streams.metrics import Metrics
from streams.sinks.clickhouse import ClickHouseSink
from streams.storage.store import Store

T = TypeVar("T")


class OutageStore(Store):
    """A real Store whose next `outages` calls fail as if ClickHouse were down."""

    def __init__(self, settings: Settings, outages: int) -> None:
        super().__init__(settings)
        self.outages = outages

    async def call(self, job: Callable[[Client], T]) -> T:
        if self.outages > 0:
            self.outages -= 1
            raise StorageUnavailable("ClickHouse error 210 NETWORK_ERROR: injected outage")
        return await super().call(job)


REGISTRY = CollectorRegistry()


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    return Metrics.create(REGISTRY)


def _count(store: Store, sql: str) -> Any:
    return store.call_sync(lambda c: c.query(sql).result_rows[0][0])


async def test_outage_pauses_then_stores_once(chdb_settings: Settings, metrics: Metrics) -> None:
    store = OutageStore(chdb_settings, outages=0)
    store.call_sync(
        lambda c: c.command(
            "CREATE TABLE t (n UInt64) ENGINE = MergeTree ORDER BY n "
            "SETTINGS non_replicated_deduplication_window = 100"
        )
    )
    sink = ClickHouseSink(store, metrics, "t", ["n"], retry_max_seconds=0.2)
    rows = [[n] for n in range(1000)]
    store.outages = 3
    assert await sink.write(rows, "raw.sms|0:0-999") == []
    assert REGISTRY.get_sample_value("contactstream_sink_retries_total", {"table": "t"}) == 3
    # The same batch again (a crash after the insert, before the commit): stored once.
    assert await sink.write(rows, "raw.sms|0:0-999") == []
    assert _count(store, "SELECT count() FROM t") == 1000
    store.close()


async def test_refused_rows_are_isolated(chdb_settings: Settings, metrics: Metrics) -> None:
    store = Store(chdb_settings)
    store.call_sync(
        lambda c: c.command(
            "CREATE TABLE checked (n UInt64, CONSTRAINT small CHECK n < 990) "
            "ENGINE = MergeTree ORDER BY n"
        )
    )
    sink = ClickHouseSink(store, metrics, "checked", ["n"])
    refused = await sink.write([[n] for n in range(1000)], "tok")
    assert refused == list(range(990, 1000))
    assert _count(store, "SELECT count() FROM checked") == 990
    store.close()
