"""The analyst views' stored snapshot (streams/storage/sql/0007_analyst_store.sql): with a snapshot
the views answer exactly what they answer without one, through late, duplicate and out-of-order
events, redaction and time passing; the stored tables hold no personal column.

Each test keeps two databases with the same data: `stored` is refreshed, `live` never is (its
views compute everything from contacts_merged, as the views of 0004 did). The data set is
tests/support/kpi_dataset.py's, ingested an hour ago so that the snapshot holds it.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from schemas.contact import PERSONAL_FIELDS
from streams.analyst.store import (
    STORE_TABLES,
    drop_superseded,
    refresh_analyst_store,
    refresh_needed,
    store_state,
)
from streams.config import Settings
from streams.privacy import sql as redaction
from streams.privacy.sql import REDACTABLE_TABLES, TTL_BOUNDED_TABLES
from streams.storage import migrate, open_client
from streams.storage.migrations import MIGRATIONS_DIR
from streams.subjects import sql as subjects
from tests.support.kpi_dataset import PERSONAL_DEFAULTS, at, dataset, event, insert, redact

STORE_SQL = (MIGRATIONS_DIR / "0007_analyst_store.sql", MIGRATIONS_DIR / "0011_analyst_deltas.sql")
VIEWS = {
    "analyst_contacts": "SELECT * FROM analyst_contacts",
    "kpi_hourly": "SELECT * FROM kpi_hourly",
    "kpi_daily": "SELECT * FROM kpi_daily",
    "kpi_service_level": "SELECT * FROM kpi_service_level(sl_seconds = 60)",
    "kpi_service_level_30": "SELECT * FROM kpi_service_level(sl_seconds = 30)",
    "kpi_service_level_90": "SELECT * FROM kpi_service_level(sl_seconds = 90)",
    # oldest_age_seconds moves with the clock between two queries.
    "kpi_backlog": "SELECT * EXCEPT oldest_age_seconds FROM kpi_backlog",
}


def answers(client: Client) -> dict[str, list[tuple[Any, ...]]]:
    """Every analyst view's rows, sorted, floats rounded (sums may add in another order)."""
    found = {}
    for view, sql in VIEWS.items():
        rows = client.query(sql).result_rows
        found[view] = sorted(
            (tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows),
            key=repr,
        )
    return found


def snapshot_in_use(client: Client) -> int:
    return int(client.query("SELECT snapshot FROM analyst_store_current").result_rows[0][0])


def live_count(client: Client) -> int:
    return int(client.query("SELECT count() FROM analyst_live_contact_ids").result_rows[0][0])


@pytest.fixture
def pair(chdb_settings: Settings, request: pytest.FixtureRequest) -> tuple[Client, Client]:
    """Two databases with the same data. P7's call is abandoned once it has waited an hour in
    the queue: `request.param` (indirect) says how soon that comes; by default in 30 minutes, so
    no comparison of two answers straddles the moment."""
    abandoned_in: timedelta = getattr(request, "param", timedelta(minutes=30))
    clients = []
    now = datetime.now(UTC)
    for suffix in ("stored", "live"):
        settings = chdb_settings.model_copy(
            update={"clickhouse_database": f"{chdb_settings.clickhouse_database}_{suffix}"}
        )
        client = open_client(settings)
        migrate(client, settings)
        rows = dataset(now)
        # P7: queued, nothing since: in the queue now, abandoned in `abandoned_in`.
        queued = now - (timedelta(hours=1) - abandoned_in)
        rows.append(
            event("P7", "phone", "queued", queued, arrived_at=queued, subject_key="K8", queue="q1")
        )
        insert(client, rows, ingested=now - timedelta(hours=1))
        redact(client, "R1")
        clients.append(client)
    stored, live = clients
    return stored, live


def both(pair: tuple[Client, Client], rows: list[dict[str, Any]]) -> None:
    for client in pair:
        insert(client, rows)


def test_a_snapshot_answers_like_the_live_views(pair: tuple[Client, Client]) -> None:
    stored, live = pair
    assert snapshot_in_use(stored) == 0  # none yet: everything is computed live
    refreshed = refresh_analyst_store(stored)
    assert refreshed is not None
    assert refreshed.contacts == 13
    assert snapshot_in_use(stored) == refreshed.snapshot
    assert live_count(stored) == 0, "nothing changed since the snapshot"
    assert answers(stored) == answers(live)


def test_late_duplicate_and_out_of_order_events_after_a_snapshot(
    pair: tuple[Client, Client],
) -> None:
    stored, live = pair
    assert refresh_analyst_store(stored) is not None
    late = [
        # P5's queue start arrives late and earlier: its hour moves from 10:00 to 09:00.
        event("P5", "phone", "queued", at(10, "09:50:00"), arrived_at=at(10, "09:50:00")),
        # A new contact of K3 a day before P4 makes the stored P4 a repeat (P4 itself unchanged).
        event(
            "F2",
            "form",
            "received",
            at(9, "10:00:00"),
            arrived_at=at(9, "10:00:00"),
            subject_key="K3",
        ),
        # P1's answered event once more (a duplicate) and S2's handling, out of order.
        event(
            "P1",
            "phone",
            "answered",
            at(10, "09:00:30"),
            handling_started_at=at(10, "09:00:30"),
            advisor_id="a1",
        ),
        event("S2", "sms", "handled", at(11, "08:30:00"), handled_at=at(11, "08:30:00")),
        event(
            "S2",
            "sms",
            "handling_started",
            at(11, "08:10:00"),
            handling_started_at=at(11, "08:10:00"),
            advisor_id="a2",
        ),
    ]
    both(pair, late)
    assert snapshot_in_use(stored) != 0
    # P5, F2, P1, S2 and the contacts of their keys up to 7 days after them (migration 0012):
    # P4 (K3), S1 and P3 (K1). P2 (K2, before P5), E1 (K2, 7 days before P5) and F1 (K3, 6 days
    # before F2) cannot have changed: their stored rows stay in use.
    assert live_count(stored) == 7
    assert answers(stored) == answers(live)
    p4 = stored.query("SELECT is_repeat_7d FROM analyst_contacts WHERE contact_id = 'P4'")
    assert p4.result_rows == [(1,)]
    assert refresh_analyst_store(stored) is not None  # the next snapshot holds them
    assert live_count(stored) == 7, "ingested within the margin: still computed live"
    assert answers(stored) == answers(live)


def test_a_redaction_after_a_snapshot_is_seen_at_once(pair: tuple[Client, Client]) -> None:
    stored, live = pair
    assert refresh_analyst_store(stored) is not None
    for client in (live, stored):
        redact(client, "P2")
    assert snapshot_in_use(stored) == 0, "a mutation of contacts since: computed live"
    assert answers(stored) == answers(live)
    assert refresh_analyst_store(stored) is not None
    assert snapshot_in_use(stored) != 0
    assert answers(stored) == answers(live)
    p2 = stored.query(
        "SELECT redacted, repeat_eligible FROM analyst_contacts WHERE contact_id = 'P2'"
    )
    assert p2.result_rows == [(1, 0)]


def test_the_products_redaction_keeps_the_snapshot_in_use(pair: tuple[Client, Client]) -> None:
    stored, live = pair
    assert refresh_analyst_store(stored) is not None
    # P2 made P5 a repeat (same key K2, 80 min earlier); E1 is 7 days before P2.
    for client in (live, stored):
        redaction.redact(
            client, [redaction.ContactKey("P2", "phone")], "retention", datetime.now(UTC)
        )
    assert snapshot_in_use(stored) != 0, "noted in contact_changes: no fallback"
    # P2 and P5, the contact of K2 in the 7 days after it (noted by the redaction); E1, 7 days
    # before P2, keeps its stored row.
    assert live_count(stored) == 2
    assert answers(stored) == answers(live)
    p5 = stored.query("SELECT is_repeat_7d FROM analyst_contacts WHERE contact_id = 'P5'")
    assert p5.result_rows == [(0,)]
    assert refresh_analyst_store(stored) is not None
    assert answers(stored) == answers(live)


def test_a_rectification_and_an_erasure_keep_the_snapshot_in_use(
    pair: tuple[Client, Client],
) -> None:
    stored, live = pair
    assert refresh_analyst_store(stored) is not None
    # P2's number (and so its key, K2 -> K9) corrected: P5 (K2, 80 min later) is no repeat now.
    wrong = PERSONAL_DEFAULTS["phone"]
    for client in (live, stored):
        subjects.rectify(
            client,
            [redaction.ContactKey("P2", "phone")],
            ("phone", wrong),
            "phone",
            ("+358509999999", "K9"),
        )
    assert snapshot_in_use(stored) != 0, "noted in contact_changes: no fallback"
    assert answers(stored) == answers(live)
    p5 = stored.query("SELECT is_repeat_7d FROM analyst_contacts WHERE contact_id = 'P5'")
    assert p5.result_rows == [(0,)]
    for client in (live, stored):  # S1's rows of the same number erased (its key K1 goes)
        subjects.erase_rows(client, [redaction.ContactKey("S1", "sms")], "phone", wrong)
    assert snapshot_in_use(stored) != 0
    assert answers(stored) == answers(live)
    assert refresh_analyst_store(stored) is not None
    assert answers(stored) == answers(live)


def live_ids(client: Client) -> set[str]:
    return {
        str(r[0])
        for r in client.query("SELECT contact_id FROM analyst_live_contact_ids").result_rows
    }


def k9_message(contact: str, moment: datetime) -> dict[str, Any]:
    """A message of subject key K9 received at `moment`."""
    return event(contact, "sms", "received", moment, arrived_at=moment, subject_key="K9")


def test_only_the_contacts_near_a_change_are_computed_live(pair: tuple[Client, Client]) -> None:
    """Migration 0012: a change reaches the contacts of its subject key from its contact time to
    7 days after, where it is now and where the snapshot had it; the others of that key (months
    away, or just before) keep their stored rows, and every answer stays exact."""
    stored, live = pair
    # K9: a customer of a year: January, April, June (the 1st and the 10th), September.
    history = [
        event(name, "phone", "queued", moment, arrived_at=moment, subject_key="K9")
        for name, moment in {
            "H1": at(5, "10:00:00", month=1),
            "H2": at(5, "10:00:00", month=4),
            "H3": at(1, "10:00:00", month=6),
            "H4": at(10, "10:00:00", month=6),
            "H5": at(5, "10:00:00", month=9),
        }.items()
    ]
    # M1 is handled first with no arrival (its contact time is its first event, 6 June) and
    # makes H4 a repeat; its arrival (on 20 June) comes after the snapshot and moves it later.
    history.append(event("M1", "sms", "handled", at(6, "10:00:00", month=6), subject_key="K9"))
    # M2 likewise on 20 January; its arrival on 1 September moves it 7 months later.
    history.append(event("M2", "sms", "handled", at(20, "10:00:00", month=1), subject_key="K9"))
    for client in pair:
        insert(client, history, ingested=datetime.now(UTC) - timedelta(hours=1))
    assert refresh_analyst_store(stored) is not None
    assert live_count(stored) == 0
    h4 = "SELECT is_repeat_7d FROM analyst_contacts WHERE contact_id = 'H4'"
    assert stored.query(h4).result_rows == [(1,)]

    # M1's arrival moves it from 6 to 20 June: H4 (10 June) was a repeat through M1 only (H3 is
    # 9 days before it) and is no longer one. H4 is 14 days before M1's new time: it is in the
    # span because of where the snapshot had M1. H1-H3 and H5 are before or months away.
    both(pair, [k9_message("M1", at(20, "10:00:00", month=6))])
    assert live_ids(stored) == {"M1", "H4"}
    assert answers(stored) == answers(live)
    assert stored.query(h4).result_rows == [(0,)]

    # A new contact on 8 June, between H3 and H4: H4 is a repeat again.
    both(pair, [k9_message("N9", at(8, "10:00:00", month=6))])
    assert live_ids(stored) == {"M1", "N9", "H4"}
    assert answers(stored) == answers(live)
    assert stored.query(h4).result_rows == [(1,)]

    # After a refresh and past the margin, a contact a day before H3 (31 May): H3 becomes a
    # repeat, and N9 (8 June) stays one; H4, 10 days after, is out of reach.
    assert refresh_analyst_store(stored) is not None
    both(pair, [k9_message("N8", at(31, "10:00:00", month=5))])
    assert {"N8", "H3"} <= live_ids(stored)
    assert not {"H1", "H2", "H5"} & live_ids(stored)
    assert answers(stored) == answers(live)
    h3 = "SELECT is_repeat_7d FROM analyst_contacts WHERE contact_id = 'H3'"
    assert stored.query(h3).result_rows == [(1,)]

    # M2's arrival: K9's span now covers 7 months (its snapshot rows are found by id, not by
    # month). H5 (5 September) becomes a repeat through M2.
    both(pair, [k9_message("M2", at(1, "10:00:00", month=9))])
    long_keys = "SELECT length(long_keys) FROM analyst_changed_key_months"
    assert stored.query(long_keys).result_rows == [(1,)]
    assert {"M2", "H5"} <= live_ids(stored)
    assert answers(stored) == answers(live)
    h5 = "SELECT is_repeat_7d FROM analyst_contacts WHERE contact_id = 'H5'"
    assert stored.query(h5).result_rows == [(1,)]


def wait_until_p7_is_abandoned(client: Client) -> None:
    last = client.query("SELECT last_event_at FROM analyst_contacts WHERE contact_id = 'P7'")
    quiet_hour_ends = last.result_rows[0][0].replace(tzinfo=UTC) + timedelta(hours=1, seconds=1)
    time.sleep(max(0.0, (quiet_hour_ends - datetime.now(UTC)).total_seconds()))


@pytest.mark.parametrize("pair", [timedelta(seconds=40)], indirect=True)
def test_abandonment_follows_the_clock_after_a_snapshot(pair: tuple[Client, Client]) -> None:
    stored, live = pair
    assert refresh_analyst_store(stored) is not None
    sql = "SELECT in_queue, abandoned FROM analyst_contacts WHERE contact_id = 'P7'"
    assert stored.query(sql).result_rows == [(1, 0)]
    assert answers(stored) == answers(live)
    wait_until_p7_is_abandoned(stored)
    assert stored.query(sql).result_rows == [(0, 1)]
    assert answers(stored) == answers(live)


def test_a_refresh_is_needed_once_the_live_part_grows_or_the_snapshot_ages(
    pair: tuple[Client, Client],
) -> None:
    """The timer refreshes only when it pays: a refresh copies every contact."""
    stored, _ = pair
    state = store_state(stored)
    assert not state.in_use
    assert refresh_needed(state, 1000, 3600), "no snapshot yet"
    assert refresh_analyst_store(stored) is not None
    state = store_state(stored)
    assert (state.in_use, state.changed_contacts) == (True, 0)
    assert 0 <= state.age_seconds < 300
    assert not refresh_needed(state, 1000, 3600)
    # Three new contacts: computed live beside the snapshot.
    new = [
        event(f"N{n}", "sms", "received", at(11, "10:00:00"), subject_key=f"KN{n}")
        for n in range(3)
    ]
    insert(stored, new)
    state = store_state(stored)
    assert state.changed_contacts == 3
    assert refresh_needed(state, 3, 3600)
    assert not refresh_needed(state, 4, 3600)
    assert refresh_needed(state, 1000, state.age_seconds), "old enough"
    assert refresh_needed(state, 0, 3600), "0: at every check"
    assert refresh_analyst_store(stored) is not None
    # Changed before the new snapshot began: no reason for another refresh (the views still
    # compute them live for INGEST_MARGIN, an insert may become visible late).
    assert store_state(stored).changed_contacts == 0


def store_partitions(client: Client, table: str) -> set[tuple[int, int]]:
    rows = client.query(
        "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() "
        "AND table = {table:String} AND active",
        parameters={"table": table},
    ).result_rows
    return {tuple(int(n) for n in str(p).strip("()").split(",")) for (p,) in rows}  # type: ignore[misc]


def test_a_refresh_rewrites_only_the_months_that_changed(pair: tuple[Client, Client]) -> None:
    """The store costs what changed: a refresh writes the months whose rows differ from the
    views' answer now, as a new generation, and the superseded partitions go."""
    stored, live = pair
    first = refresh_analyst_store(stored)
    assert first is not None
    now_month = int(datetime.now(UTC).strftime("%Y%m"))
    assert first.months == 2, "the data set's March 2025 and P7's call of now"
    unchanged = refresh_analyst_store(stored)
    assert unchanged is not None
    assert (unchanged.months, unchanged.contacts) == (0, first.contacts)
    # A late contact of March 2025: only that month is written again.
    both(pair, [event("N1", "sms", "received", at(11, "10:00:00"), subject_key="KN1")])
    third = refresh_analyst_store(stored)
    assert third is not None
    assert (third.months, third.contacts) == (1, first.contacts + 1)
    assert answers(stored) == answers(live)
    drop_superseded(stored, grace=timedelta(0))
    current = {(202503, third.snapshot), (now_month, first.snapshot)}
    assert store_partitions(stored, "analyst_contacts_store") == current
    assert store_partitions(stored, "kpi_daily_store") == current
    assert answers(stored) == answers(live)


def test_stored_tables_hold_no_personal_column(pair: tuple[Client, Client]) -> None:
    stored, _ = pair
    tables = {
        name
        for sql in STORE_SQL
        for name in re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", sql.read_text())
    }
    assert set(STORE_TABLES) <= set(tables)
    for table in tables:
        columns = {str(r[0]) for r in stored.query(f"DESCRIBE TABLE {table}").result_rows}
        assert columns, table
        assert not columns & PERSONAL_FIELDS, table


def test_every_stored_table_with_a_personal_column_is_redacted(
    pair: tuple[Client, Client],
) -> None:
    stored, _ = pair
    tables = stored.query(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
        "AND engine NOT LIKE '%View'"
    ).result_rows
    assert {"contacts", "contact_events", *STORE_TABLES} <= {str(name) for name, _ in tables}
    for name, engine in tables:
        columns = {str(r[0]) for r in stored.query(f"DESCRIBE TABLE {name}").result_rows}
        if columns & PERSONAL_FIELDS and engine != "Join":  # subject_values: in memory, per call
            if name in TTL_BOUNDED_TABLES:  # removed by their TTL, not by retention
                ddl = str(stored.command(f"SHOW CREATE TABLE {name}"))
                assert f"TTL toDateTime(erased_at) + toIntervalDay({TTL_BOUNDED_TABLES[name]})" in (
                    ddl
                ), ddl
                continue
            assert name in REDACTABLE_TABLES, name
