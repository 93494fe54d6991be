"""Bytewax sink writing :class:`~dataflows.tables.TableRows` into ClickHouse.

One insert per table per Bytewax write batch; each insert carries a content
deduplication token so a retried insert does not duplicate rows, and adds a
``pipeline_freshness`` row for what it wrote. Nothing is buffered across
write batches: when Bytewax snapshots an epoch, its rows are in ClickHouse
(at-least-once; the tables' keys make the repeats harmless).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition
from clickhouse_connect.driver.client import Client

from dataflows.metrics import INSERT_SECONDS, ROWS_WRITTEN
from dataflows.tables import COLUMNS, LAYERS, TableRows
from dataflows.warehouse import dedup_token, insert_rows

#: table -> (stream label, name of its event-time column) for pipeline_freshness.
FRESHNESS: dict[str, tuple[str, str]] = {
    "bronze_stt_raw": ("stt", "ts"),
    "bronze_visual_stream": ("visual", "ts"),
    "bronze_device_heartbeat": ("heartbeat", "ts"),
    "bronze_insight_feedback": ("feedback", "ts"),
    "quarantine_events": ("quarantine", "record_ts"),
    "late_events": ("late", "ts"),
    "silver_multimodal_aligned": ("interactions", "ended_at"),
    "silver_annotated_events": ("annotated", "ts"),
    "silver_device_heartbeat": ("heartbeat", "ts"),
    "gold_store_interaction_metrics": ("store_interactions", "window_start"),
    "gold_device_health_summary": ("device_health", "window_start"),
    "gold_transcript_sentiment_analysis": ("transcript_sentiment", "window_start"),
    "gold_brand_performance": ("brand_performance", "window_start"),
    "gold_insight_feedback": ("insight_feedback", "window_start"),
}
_TS_INDEX = {t: COLUMNS[t].index(col) for t, (_, col) in FRESHNESS.items()}
FRESHNESS_COLUMNS = ["layer", "stream", "newest_event_ts", "newest_ingest_ts", "rows_written"]


def write_table_rows(client: Client, batch: TableRows) -> dict[str, int]:
    """Insert every table of a batch, then its freshness rows; returns counts."""
    now = time.time_ns() // 1_000_000
    counts: dict[str, int] = {}
    freshness: list[list[object]] = []
    for table in sorted(batch.rows):
        rows = batch.rows[table]
        if not rows:
            continue
        started = time.perf_counter()
        insert_rows(client, table, rows, dedup_token())
        INSERT_SECONDS.labels(table).observe(time.perf_counter() - started)
        ROWS_WRITTEN.labels(table).inc(len(rows))
        counts[table] = len(rows)
        if table in FRESHNESS:
            idx = _TS_INDEX[table]
            newest = max(int(r[idx]) for r in rows)  # type: ignore[call-overload]
            freshness.append([LAYERS[table], FRESHNESS[table][0], newest, now, len(rows)])
    if freshness:
        client.insert("pipeline_freshness", freshness, column_names=FRESHNESS_COLUMNS)
    return counts


class _ClickHousePartition(StatelessSinkPartition[TableRows]):
    def __init__(self, client: Client, on_write: Callable[[dict[str, int]], None] | None) -> None:
        self._client = client
        self._on_write = on_write

    def write_batch(self, items: list[TableRows]) -> None:
        merged = TableRows(defaultdict(list))
        for item in items:
            merged.merge(item)
        counts = write_table_rows(self._client, merged)
        if self._on_write and counts:
            self._on_write(counts)

    def close(self) -> None:
        # The client may be shared with the caller (one chDB session per process).
        pass


class ClickHouseSink(DynamicSink[TableRows]):
    """Writes table rows through the client ``connect`` returns for each worker."""

    def __init__(
        self,
        connect: Callable[[], Client],
        on_write: Callable[[dict[str, int]], None] | None = None,
    ) -> None:
        self._connect = connect
        self._on_write = on_write

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ClickHousePartition:
        return _ClickHousePartition(self._connect(), self._on_write)
