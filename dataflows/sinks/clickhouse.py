"""Bytewax sink writing :class:`~dataflows.tables.TableRows` into ClickHouse.

One insert per table per flush; each insert carries a deduplication token so a
retried insert does not duplicate rows, and a ``pipeline_freshness`` row is
added for what it wrote. Rows are buffered within a Bytewax epoch and handed
to a :class:`~dataflows.sinks.writer.TableWriter` when the buffer is full and
at the epoch's end; the sink waits for the writer before Bytewax snapshots the
epoch, so a committed epoch's rows are in ClickHouse (at-least-once; the
tables' keys make the repeats harmless).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from operator import attrgetter

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from clickhouse_connect.driver.client import Client

from dataflows.sinks.writer import TableWriter
from dataflows.tables import LAYERS, TableRows
from dataflows.warehouse import WarehouseError, dedup_token, insert_rows
from scout_contract.streams import STREAMS

#: table -> (stream label, name of its event-time column) for pipeline_freshness.
FRESHNESS: dict[str, tuple[str, str]] = {
    **{s.bronze_table: (s.name, "ts") for s in STREAMS},
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
_EVENT_TIME = {t: attrgetter(col) for t, (_, col) in FRESHNESS.items()}
FRESHNESS_COLUMNS = ["layer", "stream", "newest_event_ts", "newest_ingest_ts", "rows_written"]


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
        if table in FRESHNESS:
            newest = max(map(_EVENT_TIME[table], rows))
            freshness.append([LAYERS[table], FRESHNESS[table][0], newest, now, len(rows)])
    if freshness:
        client.insert("pipeline_freshness", freshness, column_names=FRESHNESS_COLUMNS)
    return counts


class _ClickHousePartition(StatefulSinkPartition[TableRows, None]):
    """Buffers rows within an epoch; hands them to the writer when the buffer is full and
    at every epoch end (``snapshot``), and waits for the writer before Bytewax commits that epoch."""

    def __init__(self, writer: TableWriter, flush_rows: int) -> None:
        self._writer = writer
        self._flush_rows = flush_rows
        self._buffer = TableRows(defaultdict(list))
        self._buffered = 0
        self._failed = False

    def write_batch(self, values: list[TableRows]) -> None:
        for item in values:
            self._buffer.merge(item)
            self._buffered += item.count()
        if self._buffered >= self._flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self._buffered or self._failed:
            return
        buffer, self._buffer, self._buffered = self._buffer, TableRows(defaultdict(list)), 0
        try:
            self._writer.submit(buffer)
        except Exception as exc:
            # Not retried further and never retried from close(): Bytewax unwinds after this
            # error, and a second failure while it does aborts the process (which then hangs,
            # chDB's signal handler catching the abort). The epoch is not committed, so a
            # resume writes these rows again.
            self._failed = True
            if isinstance(exc, WarehouseError):
                raise
            raise WarehouseError(f"writing to the warehouse failed: {type(exc).__name__}: {exc}") from exc

    def _wait(self) -> None:
        if self._failed:
            return
        try:
            self._writer.wait()
        except Exception:
            self._failed = True
            raise

    def snapshot(self) -> None:
        self.flush()
        self._wait()  # the epoch's rows are in ClickHouse before its snapshot is committed

    def close(self) -> None:
        # The writer may be shared with the caller (one chDB session per process): not closed here.
        self.flush()
        self._wait()


class ClickHouseSink(FixedPartitionedSink[TableRows, None]):
    """Writes table rows through the writer ``connect`` returns.

    ``writers`` partitions (``clickhouse-0`` …): one for chDB — a chDB directory can be
    open in one process only, so exactly one worker of a cluster writes, and only that
    process ever opens it (``connect`` is called in ``build_part``) — or one per worker
    against a ClickHouse server. Rows are visible at the latest one epoch
    (``snapshot_interval_s``) after they were produced, or earlier when ``flush_rows``
    rows are waiting.
    """

    def __init__(self, connect: Callable[[], TableWriter], flush_rows: int = 50_000, writers: int = 1) -> None:
        self._connect = connect
        self._flush_rows = flush_rows
        self.writers = writers

    def list_parts(self) -> list[str]:
        return [f"clickhouse-{i}" for i in range(self.writers)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ClickHousePartition:
        return _ClickHousePartition(self._connect(), self._flush_rows)
