"""Analyst views and KPIs (streams/storage/sql/0004_analyst_views.sql) on a hand-computed data set,
and the access roles (deploy/clickhouse/roles.sql) parsed by ClickHouse's own parser.

The data set and its table: tests/support/kpi_dataset.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client

from schemas.contact import PERSONAL_FIELDS
from streams.analyst.store import ADDITIVE
from streams.config import Settings
from streams.storage import migrate
from streams.storage.migrations import MIGRATIONS_DIR, Migration, load_migrations
from tests.support.kpi_dataset import at, client, documented_service_level_sql

__all__ = ["client"]  # the fixture: a database loaded with the data set

REPO = Path(__file__).resolve().parents[2]
ANALYST_SQL = MIGRATIONS_DIR / "0004_analyst_views.sql"
ROLES_SQL = REPO / "deploy" / "clickhouse" / "roles.sql"
APPLY_ROLES = REPO / "docker" / "clickhouse" / "apply-roles.sh"
GRAFANA_ANALYST = REPO / "deploy" / "grafana" / "dashboards" / "analyst.json"


def query(client: Client, sql: str, **parameters: Any) -> list[dict[str, Any]]:
    """Rows as dicts; the driver's naive datetimes (UTC columns) made UTC-aware."""
    result = client.query(sql, parameters=parameters)
    return [
        {name: _aware(value) for name, value in zip(result.column_names, row, strict=True)}
        for row in result.result_rows
    ]


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def one(client: Client, sql: str, **parameters: Any) -> dict[str, Any]:
    rows = query(client, sql, **parameters)
    assert len(rows) == 1, rows
    return rows[0]


def analyst_views() -> list[str]:
    return re.findall(r"CREATE VIEW IF NOT EXISTS (\w+)", ANALYST_SQL.read_text())


def parameterized(view: str) -> bool:
    """Whether `view` is an analyst view that takes parameters (it can only be read by a call)."""
    _, found, body = ANALYST_SQL.read_text().partition(f"CREATE VIEW IF NOT EXISTS {view}\n")
    return bool(found) and "{sl_seconds:" in body.split(";\n", 1)[0]


def select_all(view: str) -> str:
    return f"SELECT * FROM {view}" + ("(sl_seconds = 60)" if parameterized(view) else "")


# ---------------------------------------------------------------- analyst_contacts


FLAGS = (
    "queued",
    "answered",
    "abandoned",
    "in_queue",
    "wait_seconds",
    "handle_seconds",
    "repeat_eligible",
    "is_repeat_7d",
    "redacted",
)
EXPECTED_FLAGS = {
    "E1": (0, 1, 0, 0, 300.0, 300.0, 1, 0, 0),
    "F1": (0, 1, 0, 0, 600.001, 600.0, 1, 0, 0),
    "P1": (1, 1, 0, 0, 30.0, 300.0, 1, 0, 0),
    "P2": (1, 1, 0, 0, 90.0, 600.0, 1, 1, 0),  # E1 exactly 7 days earlier: a repeat
    "S1": (0, 1, 0, 0, 1800.0, 300.0, 1, 1, 0),
    "P3": (1, 0, 1, 0, None, None, 1, 1, 0),
    "R1": (0, 0, 0, 0, None, None, 0, 0, 1),
    "P4": (1, 0, 1, 0, None, None, 1, 0, 0),  # F1 7 days and 1 ms earlier: not a repeat
    "P5": (1, 1, 0, 0, 45.0, 480.0, 1, 1, 0),
    "S2": (0, 0, 0, 0, None, None, 1, 0, 0),
    "E2": (0, 1, 0, 0, 1800.0, None, 1, 0, 0),
    "P6": (1, 0, 0, 1, None, None, 1, 0, 0),
}


def test_analyst_contacts_has_one_row_per_contact_with_derived_flags(client: Client) -> None:
    rows = query(client, f"SELECT contact_id, {', '.join(FLAGS)} FROM analyst_contacts")
    got = {row["contact_id"]: tuple(row[f] for f in FLAGS) for row in rows}
    assert got == EXPECTED_FLAGS


def test_analyst_contacts_merges_lifecycle_and_latest_labels(client: Client) -> None:
    p1 = one(client, "SELECT * FROM analyst_contacts WHERE contact_id = 'P1'")
    assert (p1["arrived_at"], p1["handling_started_at"], p1["handled_at"]) == (
        at(10, "09:00:00"),
        at(10, "09:00:30"),
        at(10, "09:05:30"),
    )
    assert (p1["advisor_id"], p1["queue"], p1["reason"]) == ("a1", "q1", "billing")
    assert p1["contact_at"] == at(10, "09:00:00")


# ---------------------------------------------------------------- kpi_daily / kpi_hourly

DAILY_TOTALS = """
SELECT sum(contacts) AS contacts, sum(offered_calls) AS offered, sum(answered_calls) AS answered,
       sum(abandoned_calls) AS abandoned, sum(calls_in_queue) AS in_queue,
       sum(answered_within_60s) AS within_60s,
       sum(answer_wait_seconds_sum) / sum(answer_wait_count) AS asa,
       sum(handle_seconds_sum) / sum(handle_count) AS aht,
       sum(abandoned_calls) / sum(offered_calls) AS abandonment,
       sum(answered_within_60s) / sum(offered_calls) AS service_level,
       sum(repeat_contacts_7d) AS repeats, sum(repeat_eligible_contacts) AS eligible
FROM kpi_daily WHERE period_start = {day:DateTime} AND channel LIKE {channel:String}
"""


def test_phone_kpis_of_a_day(client: Client) -> None:
    got = one(client, DAILY_TOTALS, day=at(10, "00:00:00"), channel="phone")
    # P1, P2, P5 answered (waits 30, 90, 45 s; handled 300, 600, 480 s); P3, P4 abandoned.
    assert got["contacts"] == 5
    assert (got["offered"], got["answered"], got["abandoned"], got["in_queue"]) == (5, 3, 2, 0)
    assert got["asa"] == pytest.approx(55.0)
    assert got["aht"] == pytest.approx(460.0)
    assert got["abandonment"] == pytest.approx(0.4)
    assert got["within_60s"] == 2
    assert got["service_level"] == pytest.approx(0.4)


def test_volume_handle_time_and_repeat_rate_of_a_day_over_all_channels(client: Client) -> None:
    got = one(client, DAILY_TOTALS, day=at(10, "00:00:00"), channel="%")
    assert got["contacts"] == 7  # P1..P5, S1, R1
    assert got["aht"] == pytest.approx((300 + 600 + 480 + 300) / 4)  # P1, P2, P5, S1
    # Repeats P2, S1, P3, P5 among the six contacts with a key (R1 was redacted).
    assert (got["repeats"], got["eligible"]) == (4, 6)
    volume = query(
        client,
        "SELECT toDate(period_start) AS day, channel, sum(contacts) AS n "
        "FROM kpi_daily GROUP BY day, channel ORDER BY day, channel",
    )
    by_day = {(str(r["day"]), r["channel"]): r["n"] for r in volume}
    p6 = one(
        client, "SELECT toDate(contact_at) AS day FROM analyst_contacts WHERE contact_id = 'P6'"
    )
    today = str(p6["day"])  # about now, whatever the clock says at midnight
    assert by_day == {
        ("2025-03-03", "email"): 1,
        ("2025-03-03", "form"): 1,
        ("2025-03-10", "phone"): 5,
        ("2025-03-10", "sms"): 2,
        ("2025-03-11", "email"): 1,
        ("2025-03-11", "sms"): 1,
        (today, "phone"): 1,
    }


def test_ratio_columns_of_single_rows(client: Client) -> None:
    row = "SELECT * FROM kpi_hourly WHERE period_start = {h:DateTime} AND channel = 'phone' "
    answered = one(client, row + "AND advisor_id = 'a1'", h=at(10, "09:00:00"))
    assert answered["contacts"] == 2  # P1, P2
    assert answered["avg_speed_of_answer_seconds"] == pytest.approx(60.0)
    assert answered["avg_handle_seconds"] == pytest.approx(450.0)
    assert answered["service_level_60s"] == pytest.approx(0.5)
    assert answered["abandonment_rate"] == pytest.approx(0.0)
    assert answered["repeat_rate_7d"] == pytest.approx(0.5)  # P2 yes, P1 no
    abandoned = one(client, row + "AND advisor_id IS NULL", h=at(10, "09:00:00"))
    assert abandoned["contacts"] == 1  # P3
    assert abandoned["abandonment_rate"] == pytest.approx(1.0)
    assert abandoned["service_level_60s"] == pytest.approx(0.0)
    assert abandoned["avg_speed_of_answer_seconds"] is None
    assert abandoned["avg_handle_seconds"] is None
    waiting = one(
        client,
        "SELECT * FROM kpi_hourly WHERE channel = 'phone' AND period_start > {d:DateTime}",
        d=at(12, "00:00:00"),
    )
    assert (waiting["calls_in_queue"], waiting["offered_calls"]) == (1, 0)  # P6
    assert waiting["abandonment_rate"] is None


def test_hourly_rows_add_up_to_the_daily_rows(client: Client) -> None:
    keys = "channel, reason, queue, advisor_id"
    sums = ", ".join(f"sum({c}) AS {c}_total" for c in ADDITIVE)
    hourly = query(
        client,
        f"SELECT toStartOfDay(period_start) AS d, {keys}, {sums} "
        f"FROM kpi_hourly GROUP BY d, {keys} ORDER BY ALL",
    )
    daily = query(
        client,
        f"SELECT toStartOfDay(period_start) AS d, {keys}, {sums} "
        f"FROM kpi_daily GROUP BY d, {keys} ORDER BY ALL",
    )
    assert hourly == daily
    assert len(daily) > 5


def test_service_level_threshold_is_a_view_parameter(client: Client) -> None:
    sql = (
        "SELECT sum(answered_within_sl) AS within, sum(offered_calls) AS offered "
        "FROM kpi_service_level(sl_seconds = {n:UInt32}) WHERE toDate(period_start) = "
        "'2025-03-10'"
    )
    # Answered calls waited 30, 90 and 45 s; five calls were offered.
    for seconds, within in ((29, 0), (30, 1), (60, 2), (89, 2), (90, 3), (3600, 3)):
        assert one(client, sql, n=seconds) == {"within": within, "offered": 5}, seconds


def test_the_documented_service_level_formula_answers_like_the_view(client: Client) -> None:
    # Thresholds below, at and above every wait of the data set: the phone calls' 30, 45 and
    # 90 s and the messages' 300 s to 30 min (messages are answered but never queued).
    formula = documented_service_level_sql().replace(
        "wait_seconds <= 20", "wait_seconds <= {n:UInt32}"
    )
    view = (
        "SELECT sum(answered_within_sl) / sum(offered_calls) AS service_level "
        "FROM kpi_service_level(sl_seconds = {n:UInt32})"
    )
    for seconds in (20, 30, 60, 90, 300, 600, 1800, 3600):
        expected = one(client, view, n=seconds)["service_level"]
        got = one(client, formula, n=seconds)["service_level"]
        assert got == pytest.approx(expected), seconds


def test_backlog_counts_open_messages_and_their_oldest_age(client: Client) -> None:
    rows = {r["channel"]: r for r in query(client, "SELECT * FROM kpi_backlog")}
    assert set(rows) == {"sms", "email", "form"}
    sms, email, form = rows["sms"], rows["email"], rows["form"]
    # S2 waits; R1 was never handled but is redacted, so it is not work any more.
    assert (sms["open_contacts"], sms["not_started"], sms["in_handling"]) == (1, 1, 0)
    assert sms["oldest_arrived_at"] == at(11, "08:00:00")
    assert (email["open_contacts"], email["not_started"], email["in_handling"]) == (1, 0, 1)
    assert email["oldest_arrived_at"] == at(11, "09:00:00")
    assert (form["open_contacts"], form["oldest_arrived_at"], form["oldest_age_seconds"]) == (
        0,
        None,
        None,
    )
    expected_age = (datetime.now(UTC) - at(11, "08:00:00")).total_seconds()
    assert sms["oldest_age_seconds"] == pytest.approx(expected_age, abs=120)


# ---------------------------------------------------------------- privacy (P6)


def test_no_analyst_view_exposes_a_personal_column(client: Client) -> None:
    views = analyst_views()
    assert {"analyst_contacts", "kpi_hourly", "kpi_daily", "kpi_backlog"} <= set(views)
    for view in views:
        columns = {r["name"] for r in query(client, f"DESCRIBE ({select_all(view)})")}
        assert columns, view
        assert not columns & PERSONAL_FIELDS, view
        query(client, select_all(view))  # and it can be read
    # The check would notice: the merged contact does hold personal columns.
    merged = {r["name"] for r in query(client, "DESCRIBE contacts_merged")}
    assert merged >= PERSONAL_FIELDS


def test_analyst_views_run_with_their_definers_rights(client: Client) -> None:
    for view in analyst_views():
        ddl = client.command(f"SHOW CREATE TABLE {view}")
        assert "SQL SECURITY DEFINER" in str(ddl), view


def test_migrations_are_idempotent(client: Client, chdb_settings: Settings) -> None:
    assert migrate(client, chdb_settings) == []
    assert "0004_analyst_views.sql" in [m.name for m in load_migrations()]


def grafana_queries() -> list[tuple[str, str]]:
    """(panel title, SQL) of the analyst dashboard, its macros filled in as Grafana would."""
    board = json.loads(GRAFANA_ANALYST.read_text())
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            sql = re.sub(
                r"\$__timeFilter\((\w+)\)",
                r"\1 >= toDateTime('2025-01-01', 'UTC') AND \1 <= now()",
                target["rawSql"],
            )
            sql = sql.replace("${sl_seconds}", "60").replace("contactstream.", "")
            found.append((panel["title"], sql))
    return found


def test_grafana_analyst_queries_run_on_the_views(client: Client) -> None:
    queries = grafana_queries()
    assert len(queries) >= 8
    for title, sql in queries:
        assert "$" not in sql, title
        rows = query(client, sql)
        assert rows, f"panel {title!r} shows nothing on the test data"
    sl = dict(queries)["Service level (answered within $sl_seconds s)"]
    by_hour = {r["time"]: r["service_level"] for r in query(client, sl)}
    assert by_hour[at(10, "09:00:00")] == pytest.approx(1 / 3)  # P1 of P1, P2, P3
    assert by_hour[at(10, "10:00:00")] == pytest.approx(1 / 2)  # P5 of P4, P5


# ---------------------------------------------------------------- roles.sql


def statements(text: str) -> list[str]:
    """roles.sql split the way migrations are: on ';' + newline, '--' lines dropped."""
    return Migration(0, "roles.sql", text).statements({})


def formatted(client: Client, sql: str) -> str:
    """ClickHouse's own parse of one statement, printed back in its canonical form."""
    return str(
        client.query("SELECT formatQuery({q:String})", parameters={"q": sql}).result_rows[0][0]
    )


def personal_objects(client: Client) -> dict[str, bool]:
    """Every table and view of the migrated database -> whether it has a personal column.

    Derived from the DDL as ClickHouse applied it (parameterized views described through a call).
    """
    tables = client.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
    ).result_rows
    found = {}
    for name, ddl in tables:
        columns = {r["name"] for r in query(client, f"DESCRIBE ({called(name, ddl)})")}
        found[name] = bool(columns & PERSONAL_FIELDS)
    return found


VIEW_ARGUMENTS = {"sl_seconds": "60", "part": "'change'"}
"""A value for each parameter a view of the migrations takes (internal views too: analyst_kpi_rows
and the KPI counts take `part`)."""


def called(name: str, ddl: str) -> str:
    """SELECT * of a table or view, called with VIEW_ARGUMENTS if it takes parameters."""
    parameters = dict.fromkeys(re.findall(r"\{(\w+):\w+\}", ddl))
    assert set(parameters) <= set(VIEW_ARGUMENTS), f"{name} takes unknown parameters {parameters}"
    arguments = ", ".join(f"{p} = {VIEW_ARGUMENTS[p]}" for p in parameters)
    return f"SELECT * FROM {name}" + (f"({arguments})" if parameters else "")


GRANT = re.compile(r"^GRANT (?P<what>.+) TO (?P<grantees>.+?)(?P<replace> WITH REPLACE OPTION)?$")
# One element of a GRANT: privileges ON target (several elements are separated by ", ").
ELEMENT = re.compile(r"(?:^|, )(?P<privileges>[A-Z][A-Z ,]*?) ON (?P<target>[^\s,]+)")


def parse_grant(formatted_sql: str) -> tuple[list[tuple[str, str]], list[str], list[str], bool]:
    """(privilege elements, granted roles, grantees, WITH REPLACE OPTION) of a formatted GRANT;
    raises if it is not one."""
    match = GRANT.match(formatted_sql)
    assert match, formatted_sql
    elements = [(m["privileges"], m["target"]) for m in ELEMENT.finditer(match["what"])]
    roles = [] if elements else [r.strip() for r in match["what"].split(",")]
    grantees = [g.strip() for g in match["grantees"].split(",")]
    return elements, roles, grantees, bool(match["replace"])


def grants_to(client: Client, grantee: str) -> list[tuple[str, str]]:
    found = []
    for statement in statements(ROLES_SQL.read_text()):
        sql = formatted(client, statement)
        if sql.startswith("GRANT "):
            elements, _, grantees, _ = parse_grant(sql)
            if grantee in grantees:
                found.extend(elements)
    return found


def test_every_roles_statement_parses(client: Client) -> None:
    parsed = [formatted(client, s) for s in statements(ROLES_SQL.read_text())]
    assert len(parsed) > 10
    for kind in (
        "CREATE ROLE IF NOT EXISTS analyst",
        "CREATE ROLE IF NOT EXISTS writer",
        "CREATE ROLE IF NOT EXISTS dpo",
        "CREATE USER IF NOT EXISTS analyst_user",
        "CREATE USER IF NOT EXISTS worker_user",
        "CREATE USER IF NOT EXISTS dpo_user",
    ):
        assert any(p.startswith(kind) for p in parsed), kind


def test_analyst_role_reaches_no_personal_column(client: Client) -> None:
    has_personal = personal_objects(client)
    assert has_personal["contacts_merged"]
    assert has_personal["contact_events"]
    grants = grants_to(client, "analyst")
    granted = set()
    for privileges, target in grants:
        assert privileges == "SELECT", (privileges, target)
        database, _, name = target.partition(".")
        assert database == "contactstream", target
        assert "*" not in name, f"wildcard grant to analyst: {target}"
        assert name in has_personal, f"{target} does not exist in the DDL"
        assert not has_personal[name], f"analyst may read personal columns of {target}"
        granted.add(name)
    assert granted == set(analyst_views()), "every analyst view granted, nothing else"


def test_service_and_dpo_roles(client: Client) -> None:
    writer = grants_to(client, "writer")
    assert {target for _, target in writer} == {"contactstream.*"}
    privileges = {p for granted, _ in writer for p in granted.split(", ")}
    assert privileges >= {"SELECT", "INSERT", "ALTER UPDATE", "CREATE TABLE", "CREATE VIEW"}
    assert grants_to(client, "dpo") == [("SELECT", "contactstream.*")]
    parsed = [formatted(client, s) for s in statements(ROLES_SQL.read_text())]
    for user, role in (("analyst_user", "analyst"), ("worker_user", "writer"), ("dpo_user", "dpo")):
        assert grants_to(client, user) == [], "users get privileges through their role only"
        assert f"GRANT {role} TO {user} WITH REPLACE OPTION" in parsed
        assert f"ALTER USER {user} DEFAULT ROLE {role}" in parsed


class AccessModel:
    """What roles.sql does to roles, users and their grants, statement by statement, as
    ClickHouse does it: CREATE ... IF NOT EXISTS leaves an existing entity alone, CREATE OR
    REPLACE and DROP remove what it had, REVOKE removes, GRANT adds, and GRANT ... WITH REPLACE
    OPTION replaces the grantee's privileges (or roles) with the new set in one update of the
    entity (InterpreterGrantQuery clones the grantee, revokes all and grants the new set, then
    stores the clone once), so a session sees the old set or the new one, never none.
    A statement of a kind this model does not know fails the test (extend it first)."""

    _KEEPS_GRANTS = ("CREATE DATABASE IF NOT EXISTS ", "CREATE USER IF NOT EXISTS ",
                     "ALTER USER ", "CREATE SETTINGS PROFILE IF NOT EXISTS ",
                     "ALTER SETTINGS PROFILE ")

    def __init__(self) -> None:
        self.privileges: dict[str, set[tuple[str, str]]] = {}
        self.roles_of: dict[str, set[str]] = {}

    def apply(self, sql: str) -> None:
        created = re.match(r"^CREATE (?:ROLE|USER)( OR REPLACE)?( IF NOT EXISTS)? (\w+)", sql)
        if created:
            self._create(created[3], replace=bool(created[1]), if_not_exists=bool(created[2]))
        elif sql.startswith("GRANT "):
            self._grant(*parse_grant(sql))
        elif sql.startswith("REVOKE "):  # modelled as the worst case: everything goes
            for grantee in sql.rsplit(" FROM ", 1)[1].split(", "):
                self.privileges[grantee] = set()
                self.roles_of[grantee] = set()
        elif sql.startswith("DROP "):
            for name in re.split(r",\s*", sql.split(" ", 2)[2].removeprefix("IF EXISTS ")):
                self.privileges.pop(name, None)
                self.roles_of.pop(name, None)
        elif not sql.startswith(self._KEEPS_GRANTS):
            raise AssertionError(f"AccessModel does not know this statement: {sql}")

    def _create(self, name: str, *, replace: bool, if_not_exists: bool) -> None:
        if replace or name not in self.privileges:
            self.privileges[name] = set()
            self.roles_of[name] = set()
        elif not if_not_exists:
            raise AssertionError(f"CREATE {name} fails on a second run: it exists")

    def _grant(self, elements: list[tuple[str, str]], roles: list[str], grantees: list[str],
               replace: bool) -> None:
        granted = {(p.strip(), target) for privileges, target in elements
                   for p in privileges.split(",")}
        for grantee in grantees:
            if elements:
                kept = set() if replace else self.privileges[grantee]
                self.privileges[grantee] = kept | granted
            else:
                kept = set() if replace else self.roles_of[grantee]
                self.roles_of[grantee] = kept | set(roles)

    def effective(self, user: str) -> set[tuple[str, str]]:
        found = set(self.privileges.get(user, set()))
        for role in self.roles_of.get(user, set()):
            found |= self.privileges.get(role, set())
        return found


def test_roles_sql_never_takes_the_writers_rights_away_when_applied_again(
    client: Client,
) -> None:
    parsed = [formatted(client, s) for s in statements(ROLES_SQL.read_text())]
    model = AccessModel()
    for sql in parsed:
        model.apply(sql)
    first = {user: model.effective(user) for user in ("worker_user", "analyst_user", "dpo_user")}
    needed = {("SELECT", "contactstream.*"), ("INSERT", "contactstream.*"),
              ("ALTER UPDATE", "contactstream.*"), ("CREATE TABLE", "contactstream.*")}
    assert needed <= first["worker_user"]
    # The compose stack applies the file on every `up`, while workers run: after every
    # statement of the second run, each user still has all it had.
    for sql in parsed:
        model.apply(sql)
        for user, rights in first.items():
            assert rights <= model.effective(user), f"{user} loses rights at: {sql}"
    assert {user: model.effective(user) for user in first} == first, "idempotent"
    for sql in parsed:
        assert not sql.startswith(("REVOKE", "DROP")), sql
        assert " OR REPLACE " not in f" {sql} ", f"recreates an entity empty: {sql}"


def test_a_grant_removed_from_roles_sql_is_removed_from_the_server(client: Client) -> None:
    """WITH REPLACE OPTION keeps the file authoritative: a privilege given by hand (or by an
    older version of the file) is gone after the next run, in the same single update."""
    parsed = [formatted(client, s) for s in statements(ROLES_SQL.read_text())]
    model = AccessModel()
    for sql in parsed:
        model.apply(sql)
    model.apply("GRANT TRUNCATE ON contactstream.* TO writer")
    model.apply("GRANT SELECT ON contactstream.contacts_merged TO analyst")
    model.apply("GRANT dpo TO analyst_user")
    for sql in parsed:
        model.apply(sql)
    assert ("TRUNCATE", "contactstream.*") not in model.effective("worker_user")
    analyst = model.effective("analyst_user")
    assert ("SELECT", "contactstream.contacts_merged") not in analyst
    assert ("SELECT", "contactstream.*") not in analyst, "the dpo role was taken back"
    for role in ("analyst", "writer", "dpo"):
        replacing = [sql for sql in parsed
                     if sql.startswith("GRANT ") and parse_grant(sql)[2] == [role]]
        assert len(replacing) == 1, f"{role}: one GRANT sets all its privileges at once"
        assert parse_grant(replacing[0])[3], f"{role}: WITH REPLACE OPTION"


def test_no_password_is_committed_and_the_filled_file_parses(client: Client) -> None:
    text = ROLES_SQL.read_text()
    literals = re.findall(r"IDENTIFIED WITH \w+ BY '([^']*)'", text)
    assert literals, "users have passwords"
    assert all(re.fullmatch(r"\$\{[A-Z]+_PASSWORD\}", value) for value in literals), literals
    tricky = "it's a \\ pass & $word"
    env = {
        **os.environ,
        "ANALYST_PASSWORD": tricky,
        "WORKER_PASSWORD": "w",
        "DPO_PASSWORD": "d",
        "ROLES_SQL": str(ROLES_SQL),
        "CLICKHOUSE_CLIENT": "cat",
    }
    filled = subprocess.run(
        ["bash", str(APPLY_ROLES)], env=env, capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert "${" not in filled
    parsed = [formatted(client, s) for s in statements(filled)]
    users = [p for p in parsed if re.search(r"USER (IF NOT EXISTS )?analyst_user IDENTIFIED", p)]
    assert len(users) == 2
    for user in users:
        literal = re.search(r"BY ('(?:[^'\\]|\\.)*')", user)
        assert literal, user
        assert client.query(f"SELECT {literal[1]}").result_rows[0][0] == tricky


def test_apply_roles_refuses_a_missing_password() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_PASSWORD")}
    env.update(
        {
            "ROLES_SQL": str(ROLES_SQL),
            "CLICKHOUSE_CLIENT": "cat",
            "ANALYST_PASSWORD": "a",
            "WORKER_PASSWORD": "w",
        }
    )
    result = subprocess.run(
        ["bash", str(APPLY_ROLES)], env=env, capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 2
    assert "DPO_PASSWORD is not set" in result.stderr
    assert result.stdout == ""
