"""deploy/grafana: provisioning and dashboards agree with the metrics and the analyst views.

- every SRE panel query uses only series the workers export (streams/observability/metrics.py),
with labels
  those series have;
- every analyst panel reads only analyst views (0004_analyst_views.sql, granted to the analyst
  role in roles.sql) through the data source that logs in as analyst_user, and names no personal
  column. tests/integration/test_kpi_views.py runs those queries against the real engine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.contact import PERSONAL_FIELDS
from tests.support.metrics import check_selectors

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
MIGRATIONS = REPO / "streams" / "storage" / "sql"
ROLES_SQL = REPO / "deploy" / "clickhouse" / "roles.sql"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "contactstream.yml"

_RELATION = re.compile(r"\b(?:FROM|JOIN)\s+(?:`?contactstream`?\.)?`?([A-Za-z_]\w*)`?", re.I)


def dashboard(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DASHBOARDS / f"{name}.json").read_text())
    return loaded


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that queries data, rows' children included."""
    found = []
    for panel in board["panels"]:
        found.extend(panel.get("panels", []))
        if panel["type"] != "row":
            found.append(panel)
    return found


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in panels(board) for target in panel["targets"]]


def datasources() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load(DATASOURCES.read_text())
    return {source["type"]: source for source in loaded["datasources"]}


def analyst_views() -> set[str]:
    """Views defined by the analyst migration and granted to the analyst role."""
    defined = set(re.findall(r"CREATE VIEW IF NOT EXISTS (\w+)",
                             (MIGRATIONS / "0004_analyst_views.sql").read_text()))
    # One GRANT sets the analyst role's privileges (WITH REPLACE OPTION, roles.sql).
    [grant] = re.findall(r"GRANT ([^;]*?)\s+TO analyst WITH REPLACE OPTION;", ROLES_SQL.read_text())
    granted = set(re.findall(r"SELECT ON contactstream\.(\w+)", grant))
    assert len(granted) == grant.count(" ON "), "the analyst role gets SELECT only"
    assert defined == granted, "roles.sql grants exactly the analyst views"
    return defined


def all_ddl_relations() -> set[str]:
    text = "\n".join(p.read_text() for p in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")))
    return set(re.findall(
        r"CREATE (?:TABLE|VIEW|MATERIALIZED VIEW) IF NOT EXISTS (\w+)", text))


def relations(sql: str) -> set[str]:
    return set(_RELATION.findall(sql))


def identifiers(sql: str) -> set[str]:
    """Words of `sql` outside string literals (channel = 'phone' names no column)."""
    return set(re.findall(r"[A-Za-z_]\w*", re.sub(r"'(?:[^'\\]|\\.)*'", "''", sql)))


def test_dashboards_are_valid_and_distinct() -> None:
    uids = set()
    for name in ("sre", "analyst"):
        board = dashboard(name)
        assert board["uid"] not in uids
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        assert panels(board), name
        for panel in panels(board):
            assert panel["targets"], panel["title"]
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_sre_panels_query_prometheus_for_exported_metrics_only() -> None:
    uid = datasources()["prometheus"]["uid"]
    board = dashboard("sre")
    used = set()
    for target in targets(board):
        assert target["datasource"]["uid"] == uid
        check_selectors(target["expr"])
        used.update(re.findall(r"contactstream_\w+", target["expr"]))
    assert len(used) >= 12, "the SRE dashboard shows most worker metrics"


def test_analyst_panels_read_analyst_views_only() -> None:
    source = datasources()["grafana-clickhouse-datasource"]
    views = analyst_views()
    assert views <= all_ddl_relations()
    read = set()
    for target in targets(dashboard("analyst")):
        assert target["datasource"]["uid"] == source["uid"]
        sql = target["rawSql"]
        found = relations(sql)
        assert found, sql
        assert found <= views, f"not an analyst view: {sorted(found - views)}"
        assert not identifiers(sql) & PERSONAL_FIELDS, f"personal column in {sql}"
        read |= found
    assert read >= {"kpi_hourly", "kpi_daily", "kpi_backlog", "kpi_service_level"}


def test_relation_check_notices_a_table_with_personal_data() -> None:
    assert relations("SELECT phone FROM contactstream.contacts_merged") == {"contacts_merged"}
    assert relations("SELECT 1 FROM kpi_daily AS d JOIN `contact_events` e ON 1") == {
        "kpi_daily", "contact_events"}
    assert "contacts_merged" not in analyst_views()
    assert identifiers("SELECT email FROM x WHERE channel = 'phone'") & PERSONAL_FIELDS == {
        "email"}


def test_clickhouse_data_source_logs_in_as_the_analyst_with_a_password_from_a_secret() -> None:
    source = datasources()["grafana-clickhouse-datasource"]
    assert source["jsonData"]["username"] == "analyst_user"
    assert source["jsonData"]["defaultDatabase"] == "contactstream"
    assert source["jsonData"]["protocol"] == "http"
    assert source["jsonData"]["port"] == 8123
    assert source["secureJsonData"]["password"] == (
        "$__file{/run/secrets/clickhouse_analyst_password}"
    )
    assert datasources()["prometheus"]["url"] == "http://prometheus:9090"


@pytest.mark.parametrize("variable", ["sl_seconds"])
def test_dashboard_variables_used_in_sql_are_defined(variable: str) -> None:
    board = dashboard("analyst")
    defined = {v["name"]: v for v in board["templating"]["list"]}
    assert variable in defined
    # Numbers only: the value is pasted into SQL as the view parameter.
    assert all(re.fullmatch(r"\d+", o["value"]) for o in defined[variable]["options"])
    used = {m for t in targets(board) for m in re.findall(r"\$\{?(\w+)", t["rawSql"])
            if not m.startswith("__")}
    assert used == set(defined)
