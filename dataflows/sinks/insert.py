"""One batch of table rows into ClickHouse: one insert per table, then its ``pipeline_freshness`` rows.

Each insert carries a deduplication token so a retried insert does not duplicate rows (transient
failures are retried for up to :data:`~dataflows.warehouse.INSERT_RETRY_S`); a
``pipeline_freshness`` row is added for each table that has a freshness stream
(:attr:`~dataflows.tables.Table.freshness`).
"""

from __future__ import annotations

import time
from operator import attrgetter

from clickhouse_connect.driver.client import Client

from dataflows.tables import TABLES, TableRows
from dataflows.warehouse import dedup_token, insert_rows

_EVENT_TIME = {name: attrgetter(t.freshness[1]) for name, t in TABLES.items() if t.freshness is not None}
FRESHNESS_COLUMNS = ["layer", "stream", "newest_event_ts", "newest_ingest_ts"]


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
    if freshness:
        insert_rows(client, "pipeline_freshness", freshness, dedup_token(), FRESHNESS_COLUMNS)
    return counts
