"""One batch of table rows into ClickHouse: one insert per table (rows, and the Arrow tables a columnar
step hands whole), then its ``pipeline_freshness`` rows.

Each insert carries a deduplication token so a retried insert does not duplicate rows (transient
failures are retried for up to :data:`~dataflows.warehouse.INSERT_RETRY_S`); a
``pipeline_freshness`` row is added for each table that has a freshness stream
(:attr:`~dataflows.tables.Table.freshness`).
"""

from __future__ import annotations

import time
from operator import attrgetter

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_connect.driver.client import Client

from dataflows.tables import TABLES, TableRows, clickhouse_types
from dataflows.warehouse import dedup_token, insert_arrow, insert_rows

_EVENT_TIME = {name: attrgetter(t.freshness[1]) for name, t in TABLES.items() if t.freshness is not None}
FRESHNESS_COLUMNS = ["layer", "stream", "newest_event_ts", "newest_ingest_ts"]


_TIMESTAMPS = {
    name: {c for c, typ in clickhouse_types(t.row).items() if "DateTime64" in typ} for name, t in TABLES.items()
}


def for_insert(table: str, whole: pa.Table) -> pa.Table:
    """An Arrow table as the warehouse takes it: milliseconds (int64) as UTC timestamps."""
    for i, name in enumerate(whole.column_names):
        if name in _TIMESTAMPS[table]:
            whole = whole.set_column(i, name, whole.column(i).cast(pa.timestamp("ms", tz="UTC")))
    return whole


def write_table_rows(client: Client, batch: TableRows) -> dict[str, tuple[int, float]]:
    """Insert every table of a batch, then its freshness rows; returns ``{table: (rows, seconds)}``."""
    now = time.time_ns() // 1_000_000
    counts: dict[str, tuple[int, float]] = {}
    freshness: list[list[object]] = []
    for table in sorted(batch.rows):
        rows = batch.rows[table]
        if not rows:
            continue
        started = time.perf_counter()
        insert_rows(client, table, rows, dedup_token())
        counts[table] = (len(rows), time.perf_counter() - started)
        if (stream := TABLES[table].freshness) is not None:
            newest = max(map(_EVENT_TIME[table], rows))
            freshness.append([TABLES[table].layer, stream[0], newest, now])
    for table in sorted(batch.columns):
        tables = [t for t in batch.columns[table] if t.num_rows]
        if not tables:
            continue
        started = time.perf_counter()
        whole = pa.concat_tables(tables)
        insert_arrow(client, table, for_insert(table, whole), dedup_token())
        n = counts.get(table, (0, 0.0))
        counts[table] = (n[0] + whole.num_rows, n[1] + time.perf_counter() - started)
        if (stream := TABLES[table].freshness) is not None:
            newest = pc.max(whole.column(stream[1])).as_py()
            freshness.append([TABLES[table].layer, stream[0], newest, now])
    if freshness:
        insert_rows(client, "pipeline_freshness", freshness, dedup_token(), FRESHNESS_COLUMNS)
    return counts
