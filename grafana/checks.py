"""Offline checks of the dashboards, alert rules and provisioning (run by ``make test`` and ``scout grafana check``).

* :func:`schema_problems` — the dashboard JSON, each panel's options and
  custom field config, against JSON Schemas generated from the npm
  ``@grafana/schema`` package of the targeted Grafana version
  (``grafana/schema/generate.py``; unknown fields are errors).
* :func:`consistency_problems` — one datasource uid and plugin id everywhere,
  unique panel ids and dashboard uids.
* :func:`grant_problems` — every table a query reads is granted to the
  read-only Grafana user in ``clickhouse/users.d/``.
* :func:`sql_problems` / :func:`alert_problems` — every panel's and alert
  rule's SQL, expanded as Grafana would, runs in ClickHouse and returns what
  its panel needs (``time`` first for time series, one number for a stat,
  the category column for bars) and at least one row.

What they cannot check without a Grafana server is listed in grafana/README.md.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft7Validator

from dataflows.warehouse import sql_dir
from grafana.alerts import RULES
from grafana.datasource import DATASOURCE_UID, PLUGIN_ID, READONLY_USER
from grafana.macros import TimeRange, Variable, expand
from grafana.panel_data import Frame, data_time_range, panel_sql, query_panels, run_sql, variables

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

SCHEMAS = Path(__file__).resolve().parent / "schema" / "generated"
USERS_XML = sql_dir("users.d") / "scout-users.xml"
_TIME = re.compile(r"^(Nullable\()?(DateTime.*|Date)\)?$")
_TABLE_REF = re.compile(r"\b(?:FROM|(?<!ARRAY )JOIN)\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    """Something a check found: where (dashboard uid / panel title, or a file) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@cache
def _validator(name: str) -> Draft7Validator | None:
    path = SCHEMAS / f"{name}.schema.json"
    if not path.exists():
        return None
    return Draft7Validator(json.loads(path.read_text()))


def _errors(validator: Draft7Validator, instance: object, where: str) -> list[Problem]:
    found = []
    for e in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        message = e.message
        if e.context:  # anyOf (a panel or a row): say what each alternative refused, not the whole object
            message = "; ".join(sorted({c.message[:200] for c in e.context}))
        found.append(Problem(where, f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {message}"))
    return found


def schema_problems(dashboard: dict[str, Any]) -> list[Problem]:
    """The dashboard and each panel's options/field config against Grafana's generated schemas."""
    uid = dashboard.get("uid", "?")
    dashboard_validator = _validator("dashboard")
    assert dashboard_validator is not None, f"missing {SCHEMAS}/dashboard.schema.json: run grafana/schema/generate.py"
    found = _errors(dashboard_validator, dashboard, uid)
    for panel in dashboard.get("panels", []):
        kind = panel.get("type")
        if kind == "row":
            continue
        where = f"{uid} / {panel.get('title')}"
        options = _validator(f"panel-{kind}-options")
        if options is None:
            found.append(Problem(where, f"no generated schema for panel type {kind!r}"))
            continue
        found += _errors(options, panel.get("options", {}), f"{where} options")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        field_config = _validator(f"panel-{kind}-fieldconfig")
        if custom is not None and field_config is not None:
            found += _errors(field_config, custom, f"{where} fieldConfig.defaults.custom")
    return found


def _refs(obj: object) -> list[dict[str, Any]]:
    """Every ``datasource`` reference inside a JSON value."""
    found: list[dict[str, Any]] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "datasource" and isinstance(value, dict):
                found.append(value)
            else:
                found += _refs(value)
    elif isinstance(obj, list):
        for item in obj:
            found += _refs(item)
    return found


def consistency_problems(dashboards: list[dict[str, Any]], alert_rules: list[dict[str, Any]]) -> list[Problem]:
    """One datasource (uid and plugin id) everywhere; unique dashboard uids and panel ids."""
    found: list[Problem] = []
    uids = [d.get("uid") for d in dashboards]
    if len(set(uids)) != len(uids):
        found.append(Problem("dashboards", f"duplicate dashboard uids: {uids}"))
    for d in dashboards:
        ids = [p.get("id") for p in d.get("panels", [])]
        if len(set(ids)) != len(ids):
            found.append(Problem(d["uid"], f"duplicate panel ids: {ids}"))
        for ref in _refs(d):
            if ref.get("uid") != DATASOURCE_UID or ref.get("type") != PLUGIN_ID:
                found.append(Problem(d["uid"], f"datasource reference {ref} is not {PLUGIN_ID}/{DATASOURCE_UID}"))
    for rule in alert_rules:
        for item in rule["data"]:
            if item["datasourceUid"] not in {DATASOURCE_UID, "__expr__"}:
                found.append(Problem(rule["uid"], f"query {item['refId']} uses datasource {item['datasourceUid']}"))
        for ref in _refs(rule):
            if ref.get("uid") != "__expr__" and (ref.get("uid") != DATASOURCE_UID or ref.get("type") != PLUGIN_ID):
                found.append(Problem(rule["uid"], f"datasource reference {ref} is not {PLUGIN_ID}/{DATASOURCE_UID}"))
    return found


def granted_tables(users_xml: Path = USERS_XML) -> set[str]:
    """Tables the read-only Grafana user may SELECT (whole table or some columns)."""
    user = ET.parse(users_xml).getroot().find(f"users/{READONLY_USER}")
    assert user is not None, f"{users_xml} defines no {READONLY_USER}"
    grants = [q.text or "" for q in user.findall("grants/query")]
    return {m.group(1) for g in grants if (m := re.search(r"\bON\s+\w+\.(\w+)", g)) and "SELECT" in g}


def tables_read(sql: str) -> set[str]:
    """Table names after FROM/JOIN (subqueries excluded).

    >>> sorted(tables_read("SELECT 1 FROM (SELECT 2 FROM a FINAL ARRAY JOIN c AS d) JOIN b USING x"))
    ['a', 'b']
    """
    return {t for t in _TABLE_REF.findall(sql) if t.upper() != "SELECT"}


def all_sql(dashboards: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(where, SQL) of every panel, variable and alert rule."""
    found = [(f"{d['uid']} / {p['title']}", p["targets"][0]["rawSql"]) for d in dashboards for p in query_panels(d)]
    found += [
        (f"{d['uid']} / ${v['name']}", str(v["query"]))
        for d in dashboards
        for v in d.get("templating", {}).get("list", [])
    ]
    found += [(f"alert {r.uid}", r.sql) for r in RULES]
    return found


def grant_problems(dashboards: list[dict[str, Any]], users_xml: Path = USERS_XML) -> list[Problem]:
    granted = granted_tables(users_xml)
    return [
        Problem(where, f"reads {table}, which {READONLY_USER} may not SELECT ({users_xml.name})")
        for where, sql in all_sql(dashboards)
        for table in sorted(tables_read(sql) - granted)
    ]


def frame_problems(panel: dict[str, Any], frame: Frame) -> list[str]:
    """What is wrong with a result for this panel's type (empty when it can draw)."""
    kind = panel["type"]
    problems: list[str] = []
    if not frame.rows:
        problems.append("the query returned no rows")
    numeric = [frame.columns[i] for i in frame.numeric()]
    if kind in {"timeseries", "state-timeline"}:
        if not frame.columns or frame.columns[0] != "time" or not _TIME.match(frame.types[0]):
            problems.append(f"a time series needs a first column `time` of a time type, got {frame.columns[:1]}")
        if not numeric:
            problems.append("a time series needs a numeric column")
    elif kind == "stat":
        if len(frame.rows) > 1:
            problems.append(f"a stat needs one row, got {len(frame.rows)}")
        if not numeric:
            problems.append("a stat needs a numeric column")
        elif frame.rows and frame.rows[0][frame.columns.index(numeric[0])] is None:
            problems.append("the stat's value is NULL")
    elif kind == "barchart":
        x_field = panel.get("options", {}).get("xField")
        if x_field not in frame.columns:
            problems.append(f"the bar chart's x field {x_field!r} is not a column of {frame.columns}")
        if not numeric:
            problems.append("a bar chart needs a numeric column")
    elif kind == "bargauge" and not numeric:
        problems.append("a bar gauge needs a numeric column")
    return problems


def sql_problems(
    client: Client, dashboard: dict[str, Any], time_range: TimeRange, values: list[Variable]
) -> list[Problem]:
    """Run every panel of the dashboard for this range and these variable values; report errors and
    results its panel cannot draw."""
    found: list[Problem] = []
    for panel in query_panels(dashboard):
        where = f"{dashboard['uid']} / {panel['title']}"
        try:
            frame = run_sql(client, panel_sql(panel, time_range, values))
        except Exception as exc:
            found.append(Problem(where, f"query failed: {str(exc).strip().splitlines()[0][:300]}"))
            continue
        found += [Problem(where, p) for p in frame_problems(panel, frame)]
    return found


def alert_problems(client: Client, ranges: dict[str, TimeRange]) -> list[Problem]:
    """Each alert rule's query runs, over the data range of the dashboard it is checked over (``ranges``:
    by dashboard uid), and returns label columns and exactly one number per row."""
    found: list[Problem] = []
    for rule in RULES:
        where = f"alert {rule.uid}"
        try:
            frame = run_sql(client, expand(rule.sql, ranges[rule.checked_over]))
        except Exception as exc:
            found.append(Problem(where, f"query failed: {str(exc).strip().splitlines()[0][:300]}"))
            continue
        if len(frame.numeric()) != 1 or len(frame.numeric()) + len(frame.labels()) != len(frame.types):
            found.append(Problem(where, f"needs string labels and one number, got {frame.types}"))
        if not frame.rows:
            found.append(Problem(where, "the query returned no rows"))
    return found


def check_all(client: Client, dashboards: list[dict[str, Any]], alert_rules: list[dict[str, Any]]) -> list[Problem]:
    """Every check: schemas, consistency, grants, each panel's SQL (all stores, then the first store alone),
    and the alert rules' SQL over the range of the dashboard each reads like (data quality, device health)."""
    problems = [p for d in dashboards for p in schema_problems(d)]
    problems += consistency_problems(dashboards, alert_rules) + grant_problems(dashboards)
    for d in dashboards:
        time_range, values = data_time_range(client, d), variables(client, d)
        problems += sql_problems(client, d, time_range, values)
        for var in values:
            if not var.options:
                problems.append(Problem(f"{d['uid']} / ${var.name}", "the variable's query lists no values"))
                continue
            # the other branch of $__conditionalAll: one value chosen
            one = [replace(v, selected=var.options[:1]) if v is var else v for v in values]
            problems += [
                Problem(f"{p.where} (${var.name}={var.options[0]})", p.message)
                for p in sql_problems(client, d, time_range, one)
            ]
    by_uid = {d["uid"]: d for d in dashboards}
    ranges = {uid: data_time_range(client, by_uid.get(uid, dashboards[0])) for uid in {r.checked_over for r in RULES}}
    problems += alert_problems(client, ranges)
    return problems
