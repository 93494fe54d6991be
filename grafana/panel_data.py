"""Run a built dashboard's panel queries against ClickHouse, as Grafana would.

Both the offline checks and the preview start from the dashboard JSON that
:mod:`grafana.dashboards` builds (never from a second copy of the SQL):
each panel's ``rawSql`` is expanded for a time range and variable values
(:mod:`grafana.macros`) and run read-only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from grafana.dashboards import data_range_sql
from grafana.macros import TimeRange, Variable, expand

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

READ_ONLY = {"readonly": 1}
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_s(text: str | None) -> int:
    """Grafana's ``interval`` text in seconds.

    >>> duration_s("1h"), duration_s(None)
    (3600, 1)
    """
    if not text:
        return 1
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


_NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal.*)\)?$")


@dataclass(frozen=True)
class Frame:
    """A query's result: column names, ClickHouse type names, rows.

    >>> f = Frame(["time", "store_id", "n"], ["DateTime64(3, 'UTC')", "LowCardinality(String)", "UInt64"], [])
    >>> f.numeric(), f.labels()
    ([2], [1])
    """

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]

    def numeric(self) -> list[int]:
        """Indexes of the numeric columns (by ClickHouse type; Bool is not a number)."""
        return [i for i, t in enumerate(self.types) if _NUMERIC.match(t)]

    def labels(self, skip: frozenset[int] = frozenset()) -> list[int]:
        """Indexes of the string columns (series or alert labels), but those in ``skip``."""
        return [i for i, t in enumerate(self.types) if i not in skip and "String" in t]


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """The panels that query (rows are layout only)."""
    return [p for p in dashboard.get("panels", []) if p.get("targets")]


def run_sql(client: Client, sql: str) -> Frame:
    result = client.query(sql, settings=READ_ONLY)
    return Frame(
        list(result.column_names), [t.name for t in result.column_types], [tuple(r) for r in result.result_rows]
    )


def data_time_range(client: Client, dashboard: dict[str, Any]) -> TimeRange:
    """The range the dashboard's data covers (its module's ``DATA_RANGE_SQL``); the last day if empty."""
    frame = run_sql(client, data_range_sql()[dashboard["uid"]])
    start, end = frame.rows[0] if frame.rows else (None, None)
    if not isinstance(start, datetime) or not isinstance(end, datetime) or start.year < 2000:
        end = datetime.now(UTC)
        return TimeRange(end - timedelta(days=1), end)
    return TimeRange.of(start, end)


def variables(
    client: Client, dashboard: dict[str, Any], selected: dict[str, list[str]] | None = None
) -> list[Variable]:
    """Each dashboard variable with its options (its own query, run) and the chosen values (All by default)."""
    found = []
    for var in dashboard.get("templating", {}).get("list", []):
        frame = run_sql(client, str(var["query"]))
        options = [str(r[0]) for r in frame.rows]
        found.append(Variable(var["name"], options, list((selected or {}).get(var["name"], []))))
    return found


def panel_sql(panel: dict[str, Any], time_range: TimeRange, values: list[Variable]) -> str:
    """The SQL Grafana would run for the panel's first query."""
    return expand(panel["targets"][0]["rawSql"], time_range, values, duration_s(panel.get("interval")))
