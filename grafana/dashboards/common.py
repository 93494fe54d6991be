"""What every Scout dashboard shares: the store variable, time settings, tags, JSON encoding."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard, QueryVariable, Row
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, VariableRefresh, VariableSort

from grafana.datasource import ref

TAGS = ["scout-stream"]
INTERVAL_ONLY = ("auto", "auto_count", "auto_min")
#: A filter on the ``store`` variable: every store when "All" is chosen.
STORE_FILTER = "$__conditionalAll(store_id IN (${store}), $store)"


def models_text(models: str) -> str:
    """SQL turning a ``Map(kind, version)`` expression into ``"kind=version, …"``."""
    return f"arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v), mapKeys({models}), mapValues({models})), ', ')"


def store_variable(table: str) -> QueryVariable:
    """A multi-value ``store`` variable, with "All", listing the stores in ``table``."""
    return (
        QueryVariable("store")
        .label("Store")
        .description("Stores to show; All shows the whole chain")
        .datasource(ref())
        .query(f"SELECT DISTINCT store_id FROM {table} ORDER BY store_id")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
    )


def dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-24h", "now")
        .timezone("browser")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .readonly()
    )


def row(title: str) -> Row:
    return Row(title)


def to_json(builder: Dashboard) -> dict[str, Any]:
    """The dashboard JSON, with panel ids assigned in order."""
    out: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    for variable in out.get("templating", {}).get("list", []):
        if variable.get("type") != "interval":
            # The SDK writes interval-variable fields on every variable; Grafana 11.6's schema has no such
            # fields for a query variable (found by the schema check), so they are dropped.
            for key in INTERVAL_ONLY:
                variable.pop(key, None)
    for i, panel in enumerate(out.get("panels", []), start=1):
        panel["id"] = i
    return out
