"""Batch check of the correctness bar (SPEC §3): recompute silver sessions and
every gold table in SQL from bronze, and compare with what was streamed.

The queries live in ``clickhouse/verify``; each starts with ``-- key: …``
naming the columns that identify a row. Times compare as epoch milliseconds,
floats with a relative tolerance of 1e-9 (summation order differs).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from dataflows.config import WindowConfig
from dataflows.warehouse import Migration, WarehouseError, quote_identifier, recorded_day_timezone, sql_dir

_KEY = re.compile(r"^--\s*key:\s*(.+)$", re.MULTILINE)
_EPOCH = datetime(1970, 1, 1)


@dataclass
class TableCheck:
    table: str
    expected_rows: int
    actual_rows: int
    missing: list[tuple[Any, ...]] = field(default_factory=list)
    unexpected: list[tuple[Any, ...]] = field(default_factory=list)
    different: list[tuple[tuple[Any, ...], str, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.different)


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return (value - _EPOCH) // _MS
    if isinstance(value, tuple):
        return tuple(_norm(v) for v in value)
    return value


_MS = datetime(1970, 1, 1, 0, 0, 0, 1000) - _EPOCH


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def check_table(client: Client, table: str, sql: str, params: dict[str, Any]) -> TableCheck:
    m = _KEY.search(sql)
    if not m:
        raise ValueError(f"{table}: verify query lacks a '-- key:' line")
    keys = [k.strip() for k in m.group(1).split(",")]
    expected = client.query(sql, parameters=params)
    cols = list(expected.column_names)
    if not cols:  # no rows came back: ask for the shape instead
        body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
        cols = [r[0] for r in client.query(f"DESCRIBE ({body})", parameters=params).result_rows]
    actual = client.query(f"SELECT {', '.join(quote_identifier(c) for c in cols)} FROM {quote_identifier(table)} FINAL")
    key_idx = [cols.index(k) for k in keys]

    def index(rows: Sequence[Sequence[Any]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        out = {}
        for raw in rows:
            r = tuple(_norm(v) for v in raw)
            out[tuple(r[i] for i in key_idx)] = r
        return out

    exp, act = index(expected.result_rows), index(actual.result_rows)
    check = TableCheck(table, len(exp), len(act))
    check.missing = sorted(exp.keys() - act.keys(), key=repr)
    check.unexpected = sorted(act.keys() - exp.keys(), key=repr)
    for k in sorted(exp.keys() & act.keys(), key=repr):
        for c, a, b in zip(cols, exp[k], act[k], strict=True):
            if not _same(a, b):
                check.different.append((k, c, a, b))
    return check


def verify(client: Client, windows: WindowConfig, directory: Path | None = None) -> list[TableCheck]:
    """Recompute and compare; returns one :class:`TableCheck` per table. A warehouse built with another
    ``day_timezone`` is refused (:class:`~dataflows.warehouse.WarehouseError`): its days would all differ."""
    recorded = recorded_day_timezone(client)
    if recorded is not None and recorded != windows.day_timezone:
        raise WarehouseError(
            f"the warehouse was built with day_timezone {recorded!r}; verify is configured with "
            f"{windows.day_timezone!r}: set day_timezone = {recorded!r}"
        )
    directory = directory or sql_dir("verify")
    params = {
        "gap_ms": windows.session_gap_ms,
        "out_of_orderness_ms": windows.out_of_orderness_ms,
        "healthy_ratio": windows.healthy_ratio,
        "offline_rows_h": windows.offline_rows_h,
        "clock_skew_ms": windows.clock_skew_ms,
        "device_retire_ms": windows.device_retire_ms,
        "tz": windows.day_timezone,
    }
    setup = Migration(0, "sessions", (directory / "00_sessions.sql").read_text("utf-8"))
    for stmt in setup.statements():
        client.command(stmt, parameters=params)
    try:
        return [
            check_table(client, path.stem, path.read_text("utf-8"), params)
            for path in sorted(directory.glob("*.sql"))
            if not path.name.startswith("00_")
        ]
    finally:
        client.command("DROP TABLE IF EXISTS verify_sessions")
