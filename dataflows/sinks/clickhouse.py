"""Bytewax sink writing :class:`~dataflows.tables.TableRows` into ClickHouse.

The sink modules depend one way: :mod:`.insert` (one batch into the warehouse) ←
:mod:`.writer` (who runs it: this process or a writer process) ← this module (the
Bytewax sink). Rows are buffered within a Bytewax epoch and handed
to a :class:`~dataflows.sinks.writer.TableWriter` when the buffer is full, when
its oldest row has waited ``flush_interval_s`` (freshness, independent of the
epoch) and at the epoch's end; the sink waits for the writer before Bytewax
snapshots the epoch, so a committed epoch's rows are in ClickHouse
(at-least-once; the tables' keys make the repeats harmless).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from dataflows.health import mark_epoch
from dataflows.sinks.writer import TableWriter
from dataflows.tables import TableRows
from dataflows.warehouse import WarehouseError


class _ClickHousePartition(StatefulSinkPartition[TableRows, None]):
    """Buffers rows within an epoch; hands them to the writer when the buffer is full, when its
    oldest row has waited ``flush_interval_s``, and at every epoch end (``snapshot``), and waits for
    the writer before Bytewax commits that epoch. The age is checked when rows arrive: rows of a
    stream that goes quiet wait at most until the epoch's end."""

    def __init__(self, writer: TableWriter, flush_rows: int, flush_interval_s: float) -> None:
        self._writer = writer
        self._flush_rows = flush_rows
        self._flush_interval_s = flush_interval_s
        self._buffer = TableRows(defaultdict(list))
        self._buffered = 0
        self._oldest = 0.0  # monotonic time the oldest buffered row arrived
        self._failed = False

    def write_batch(self, values: list[TableRows]) -> None:
        if not self._buffered:
            self._oldest = time.monotonic()
        for item in values:
            self._buffer.merge(item)
            self._buffered += item.count()
        if self._buffered >= self._flush_rows or time.monotonic() - self._oldest >= self._flush_interval_s:
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
        mark_epoch()

    def close(self) -> None:
        # The writer may be shared with the caller (one chDB session per process): not closed here.
        self.flush()
        self._wait()


class ClickHouseSink(FixedPartitionedSink[TableRows, None]):
    """Writes table rows through the writer ``connect`` returns.

    ``writers`` partitions (``clickhouse-0`` …): one for chDB — a chDB directory can be
    open in one process only, so exactly one worker of a cluster writes, and only that
    process ever opens it (``connect`` is called in ``build_part``) — or one per worker
    against a ClickHouse server. Rows are handed to the writer once the oldest has waited
    ``flush_interval_s`` (checked as rows arrive), once ``flush_rows`` are waiting, and at the
    latest at the epoch's end (``snapshot_interval_s``).
    """

    def __init__(
        self, connect: Callable[[], TableWriter], flush_rows: int = 50_000, writers: int = 1,
        flush_interval_s: float = 0.5,
    ) -> None:  # fmt: skip
        self._connect = connect
        self._flush_rows = flush_rows
        self._flush_interval_s = flush_interval_s
        self.writers = writers

    def list_parts(self) -> list[str]:
        return [f"clickhouse-{i}" for i in range(self.writers)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ClickHousePartition:
        return _ClickHousePartition(self._connect(), self._flush_rows, self._flush_interval_s)
