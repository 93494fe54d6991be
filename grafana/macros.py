"""The ClickHouse plugin's macros and Grafana's variables, expanded offline.

Grafana sends a panel's SQL to the plugin after replacing dashboard
variables; the plugin's backend then replaces its macros
(``pkg/macros/macros.go`` of grafana/clickhouse-datasource). This module does
both the same way, so the checks and the preview run exactly the SQL a
Grafana server would send to ClickHouse. A macro it does not know is an
error, never passed through.

>>> tr = TimeRange.parse("2025-05-19T00:00:00Z", "2025-05-19T02:00:00Z")
>>> expand("SELECT 1 WHERE $__timeFilter(ts)", tr)
'SELECT 1 WHERE ts >= toDateTime(1747612800) AND ts <= toDateTime(1747620000)'
>>> expand("$__timeInterval(ts)", tr, min_interval_s=3600)
'toStartOfInterval(toDateTime(ts), INTERVAL 3600 second)'
>>> stores = Variable("store", ["S1", "S2"], selected=["S2"])
>>> expand("$__conditionalAll(store_id IN (${store}), $store)", tr, [stores])
"store_id IN ('S2')"
>>> expand("$__conditionalAll(store_id IN (${store}), $store)", tr, [Variable("store", ["S1"])])
'1=1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: Grafana's automatic interval aims at about this many points per panel (it uses the panel's width in pixels).
TARGET_POINTS = 100
#: Grafana rounds the automatic interval to one of these (seconds).
NICE_INTERVALS_S = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)
ALL = "$__all"


class MacroError(ValueError):
    """SQL with a macro or variable that cannot be expanded."""


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range (UTC)."""

    start: datetime
    end: datetime

    @classmethod
    def of(cls, start: datetime, end: datetime) -> TimeRange:
        """A range from two datetimes; one without a zone is UTC (as ClickHouse returns them)."""
        return cls(_utc(start), _utc(end))

    @classmethod
    def parse(cls, start: str, end: str) -> TimeRange:
        return cls.of(datetime.fromisoformat(start), datetime.fromisoformat(end))

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True)
class Variable:
    """A multi-value dashboard variable with an "All" option; ``selected`` empty means All."""

    name: str
    options: list[str]
    selected: list[str] = field(default_factory=list)

    @property
    def is_all(self) -> bool:
        return not self.selected

    @property
    def values(self) -> list[str]:
        return list(self.options) if self.is_all else list(self.selected)

    def formatted(self) -> str:
        """How the plugin formats a multi-value variable: each value single-quoted, comma-separated."""
        return ",".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in self.values)


def auto_interval_s(time_range: TimeRange, min_interval_s: int = 1) -> int:
    """Grafana's ``$__interval`` for a range, rounded up to a nice step, at least the panel's minimum.

    >>> auto_interval_s(TimeRange.parse("2025-01-01T00:00:00", "2025-01-02T00:00:00"))
    900
    """
    raw = time_range.seconds / TARGET_POINTS
    nice = next((s for s in NICE_INTERVALS_S if s >= raw), NICE_INTERVALS_S[-1])
    return max(nice, min_interval_s, 1)


def _args(sql: str, open_paren: int) -> tuple[list[str], int]:
    """Comma-separated arguments of the call whose ``(`` is at ``open_paren``, and the index after ``)``."""
    depth, start, args = 0, open_paren + 1, []
    for i in range(open_paren, len(sql)):
        ch = sql[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append(sql[start:i].strip())
                return args, i + 1
        elif ch == "," and depth == 1:
            args.append(sql[start:i].strip())
            start = i + 1
    raise MacroError(f"unbalanced parentheses after {sql[max(0, open_paren - 20) : open_paren]!r}")


_MACRO = re.compile(r"\$__(\w+)")
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")


def expand(
    sql: str,
    time_range: TimeRange,
    variables: list[Variable] | None = None,
    min_interval_s: int = 1,
) -> str:
    """The SQL Grafana and the plugin would run for this range and these variable values."""
    by_name = {v.name: v for v in variables or []}
    sql = _conditional_all(sql, by_name)
    sql = _variables(sql, by_name)
    return _macros(sql, time_range, auto_interval_s(time_range, min_interval_s))


def _conditional_all(sql: str, by_name: dict[str, Variable]) -> str:
    macro = "$__conditionalAll("
    while (at := sql.rfind(macro)) != -1:
        args, end = _args(sql, at + len(macro) - 1)
        if len(args) != 2:
            raise MacroError(f"$__conditionalAll takes 2 arguments, got {len(args)}")
        name = args[1].strip().lstrip("$").strip("{}")
        if name not in by_name:
            raise MacroError(f"$__conditionalAll names an unknown variable {args[1]!r}")
        sql = sql[:at] + ("1=1" if by_name[name].is_all else args[0]) + sql[end:]
    return sql


def _variables(sql: str, by_name: dict[str, Variable]) -> str:
    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name.startswith("__"):
            return m.group(0)  # a macro: expanded next
        if name not in by_name:
            raise MacroError(f"unknown dashboard variable ${name}")
        return by_name[name].formatted()

    return _VARIABLE.sub(replace, sql)


def _macros(sql: str, tr: TimeRange, interval_s: int) -> str:
    start, end = int(tr.start.timestamp()), int(tr.end.timestamp())
    start_ms, end_ms = int(tr.start.timestamp() * 1000), int(tr.end.timestamp() * 1000)
    plain = {
        "fromTime": f"toDateTime({start})",
        "toTime": f"toDateTime({end})",
        "fromTime_ms": f"fromUnixTimestamp64Milli({start_ms})",
        "toTime_ms": f"fromUnixTimestamp64Milli({end_ms})",
        "interval_s": str(interval_s),
    }
    with_column = {
        "timeFilter": lambda c: f"{c} >= toDateTime({start}) AND {c} <= toDateTime({end})",
        "timeFilter_ms": lambda c: (
            f"{c} >= fromUnixTimestamp64Milli({start_ms}) AND {c} <= fromUnixTimestamp64Milli({end_ms})"
        ),
        "dateFilter": lambda c: f"{c} >= toDate('{tr.start:%Y-%m-%d}') AND {c} <= toDate('{tr.end:%Y-%m-%d}')",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {interval_s} second)",
        "timeInterval_ms": lambda c: (
            f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {interval_s * 1000} millisecond)"
        ),
    }
    out: list[str] = []
    pos = 0
    for m in _MACRO.finditer(sql):
        if m.start() < pos:
            continue
        name = m.group(1)
        out.append(sql[pos : m.start()])
        if name in with_column:
            if m.end() >= len(sql) or sql[m.end()] != "(":
                raise MacroError(f"$__{name} needs a column argument")
            args, after = _args(sql, m.end())
            if len(args) != 1:
                raise MacroError(f"$__{name} takes 1 argument, got {len(args)}")
            out.append(with_column[name](args[0]))
            pos = after
        elif name in plain:
            out.append(plain[name])
            pos = m.end()
        else:
            raise MacroError(f"unknown macro $__{name}")
    out.append(sql[pos:])
    return "".join(out)
