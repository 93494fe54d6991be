"""Every table's typed row (dataflows/tables.py) against the DDL the migrations create."""

from __future__ import annotations

from typing import Annotated, NamedTuple

import pytest

from dataflows.tables import TABLES, clickhouse_types
from tests.e2e.conftest import Scout

pytestmark = pytest.mark.slow


def test_row_classes_match_the_migrated_tables_column_for_column(scout: Scout) -> None:
    scout("db", "migrate", "--sink", scout.sink)
    queries = {
        table: "SELECT name, type, default_kind FROM system.columns "
        f"WHERE database = currentDatabase() AND table = '{table}' ORDER BY position"
        for table in TABLES
    }
    found = scout.query_many(queries)
    for table, t in TABLES.items():
        ddl = found[table]
        assert ddl, f"{table} is not created by the migrations"
        declared = clickhouse_types(t.row)
        written = [(c["name"], c["type"]) for c in ddl if c["name"] in declared]
        # same names, same order, same ClickHouse types
        assert written == list(declared.items()), table
        # a column the row does not carry must fill itself
        assert all(c["default_kind"] for c in ddl if c["name"] not in declared), table


class _Drifted(NamedTuple):
    minute: Annotated[int, "DateTime64(3, 'UTC')"]
    stream: Annotated[str, "String"]  # the DDL says LowCardinality(String)


def test_declared_types_are_read_exactly() -> None:
    assert clickhouse_types(_Drifted) == {"minute": "DateTime64(3, 'UTC')", "stream": "String"}
    assert clickhouse_types(TABLES["dq_rule_metrics"].row)["stream"] == "LowCardinality(String)"
