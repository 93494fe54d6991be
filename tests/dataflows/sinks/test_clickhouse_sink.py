"""The ClickHouse sink's buffering: rows reach the writer by size, by age (freshness) and at each epoch end.

The writer here only records what it was handed (the sink's protocol, ``TableWriter``): what lands in
chDB through the real writers is tested in test_writer.py and end to end.
"""

from __future__ import annotations

from dataflows.sinks.clickhouse import _ClickHousePartition
from dataflows.tables import DqRow, TableRows


class _Handed:
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.waits = 0

    def submit(self, batch: TableRows) -> None:
        self.batches.append(batch.count())

    def wait(self) -> None:
        self.waits += 1


def _rows(n: int) -> TableRows:
    rows = TableRows()
    for i in range(n):
        rows.add(DqRow(i * 60_000, "stt", "json_parse", "drop", "t/0", i, 1, 0, 1))
    return rows


def test_rows_wait_for_the_epoch_when_they_are_young_and_few() -> None:
    writer = _Handed()
    part = _ClickHousePartition(writer, flush_rows=100, flush_interval_s=3600)
    part.write_batch([_rows(3)])
    part.write_batch([_rows(4)])
    assert writer.batches == []
    part.snapshot()  # the epoch's end: everything, and wait for it
    assert writer.batches == [7] and writer.waits == 1


def test_rows_older_than_the_flush_interval_go_without_waiting_for_the_epoch() -> None:
    writer = _Handed()
    part = _ClickHousePartition(writer, flush_rows=100, flush_interval_s=0)
    part.write_batch([_rows(3)])
    part.write_batch([_rows(4)])
    assert writer.batches == [3, 4] and writer.waits == 0  # handed on, not waited for


def test_a_full_buffer_goes_whatever_its_age() -> None:
    writer = _Handed()
    part = _ClickHousePartition(writer, flush_rows=5, flush_interval_s=3600)
    part.write_batch([_rows(3), _rows(3)])
    assert writer.batches == [6]
