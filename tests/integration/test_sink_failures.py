"""The ClickHouse sink against the real engine: a retried batch is stored once, a batch spanning
more monthly partitions than one insert may is split, and rows whose values ClickHouse refuses
(a real CHECK constraint, code 469) are isolated, not dropped. System faults from the real
engine (full disk, read-only directory) are in test_failure_rule.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.config import Settings
from streams.errors import StorageUnavailable
from streams.ingest.sink import ClickHouseSink
from streams.observability.metrics import Metrics
from streams.storage.store import Store

REGISTRY = CollectorRegistry()


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    return Metrics.create(REGISTRY)


def _count(store: Store, sql: str) -> Any:
    return store.call_sync(lambda c: c.query(sql).result_rows[0][0])


async def test_a_retried_batch_is_stored_once(chdb_settings: Settings, metrics: Metrics) -> None:
    store = Store(chdb_settings)
    store.call_sync(
        lambda c: c.command(
            "CREATE TABLE t (n UInt64) ENGINE = MergeTree ORDER BY n "
            "SETTINGS non_replicated_deduplication_window = 100"
        )
    )
    sink = ClickHouseSink(store, metrics, "t", ["n"])
    rows = [[n] for n in range(1000)]
    assert await sink.write(rows, "raw.sms|0:0-999") == []
    # The same batch again (a crash after the insert, before the commit): stored once.
    assert await sink.write(rows, "raw.sms|0:0-999") == []
    assert _count(store, "SELECT count() FROM t") == 1000
    store.close()


async def test_years_of_months_are_split_into_allowed_inserts(
    chdb_settings: Settings, metrics: Metrics
) -> None:
    store = Store(chdb_settings)
    store.call_sync(
        lambda c: c.command(
            # Deduplication remembers one id per part: one per month and block here (the
            # product's contact_events keeps 10,000).
            "CREATE TABLE months (at DateTime64(3, 'UTC'), n UInt64) ENGINE = MergeTree "
            "PARTITION BY toYYYYMM(at) ORDER BY n "
            "SETTINGS non_replicated_deduplication_window = 1000"
        )
    )
    rows = [[datetime(2016 + i // 12 % 9, i % 12 + 1, 15, tzinfo=UTC), i] for i in range(324)]
    whole = ClickHouseSink(store, metrics, "months", ["at", "n"])
    with pytest.raises(StorageUnavailable, match="252 TOO_MANY_PARTS"):  # the engine's limit
        await whole.write(rows, "one-block")
    months = [(row[0].year, row[0].month) for row in rows]
    split = ClickHouseSink(store, metrics, "months", ["at", "n"], max_partitions=50)
    assert await split.write(rows, "split", months) == []
    assert await split.write(rows, "split", months) == []  # the retry of every block is dropped
    assert _count(store, "SELECT count() FROM months") == 324
    assert _count(store, "SELECT uniqExact(_partition_id) FROM months") == 108
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
