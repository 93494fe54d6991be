"""Bytewax source re-reading bronze (``scout replay --from-bronze``), in event-time order.

When the topics' retention has passed, bronze is the record of every accepted event —
including the late ones, marked. Re-reading it in event-time order is how late data is
reconciled: an event that missed its window live is on time here, counts in its window,
and its bronze row is rewritten as on time (a newer version replaces the late one). A
replay from the topics instead reproduces the live result, lateness included.

Each bronze row becomes the record it came from: its topic, partition, offset, record
timestamp and payload as received; the key is the device (feedback: the store), which is
what producers key by (a record whose key differed loses its ``record_key_matches``
warning here). One partition; rows are read an hour of event time at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from clickhouse_connect.driver.client import Client

from dataflows.health import mark_epoch
from dataflows.metrics import RECORDS_IN
from dataflows.sources.stop import stop_requested
from dataflows.timegrid import HOUR_MS
from dataflows.warehouse import quote_identifier
from scout_contract import SourceRecord
from scout_contract.streams import STREAMS

Progress = Callable[[int], None]

#: bronze table -> the column whose value the producer keyed by.
BRONZE_KEYS = {s.bronze_table: s.key_field for s in STREAMS}


#: Rows of event time in ``[lo, hi)`` (query parameters, ms).
_IN_RANGE = "ts >= fromUnixTimestamp64Milli({lo:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"


def _slice_sql() -> str:
    parts = [
        f"SELECT topic, partition, offset, toUnixTimestamp64Milli(record_ts) AS record_ms, {key} AS key, payload,"
        f" toUnixTimestamp64Milli(ts) AS ts_ms, event_id FROM {quote_identifier(table)} FINAL WHERE {_IN_RANGE}"
        for table, key in BRONZE_KEYS.items()
    ]
    return "SELECT * FROM (" + " UNION ALL ".join(parts) + ") ORDER BY ts_ms, event_id"


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _BronzePartition(StatefulSourcePartition[list[SourceRecord], int]):
    def __init__(self, client: Client, start: int, end: int, progress: Progress | None) -> None:
        self._client = client
        self._next = start
        self._end = end
        self._progress = progress
        self._sql = _slice_sql()

    def next_batch(self) -> list[list[SourceRecord]]:
        if stop_requested() or self._next >= self._end:
            raise StopIteration()
        lo, hi = self._next, min(self._next + HOUR_MS, self._end)
        result = self._client.query(self._sql, parameters={"lo": lo, "hi": hi}, query_formats={"String": "bytes"})
        self._next = hi
        records = [
            SourceRecord(_text(topic), int(partition), int(offset), int(record_ms), _text(key), bytes(payload))
            for topic, partition, offset, record_ms, key, payload, _ts, _eid in result.result_rows
        ]
        if not records:
            return []
        RECORDS_IN.labels("bronze").inc(len(records))
        if self._progress:
            self._progress(len(records))
        return [records]

    def next_awake(self) -> datetime | None:
        return None

    def snapshot(self) -> int:
        mark_epoch()  # an epoch of this process ended (liveness, dataflows/health.py)
        return self._next

    def close(self) -> None:
        pass  # the client belongs to the caller (one chDB session per process)


class BronzeSource(FixedPartitionedSource[list[SourceRecord], int]):
    """Every bronze row with event time in ``[start, end)``, oldest first."""

    def __init__(self, client: Client, start: int, end: int, progress: Progress | None = None) -> None:
        self.client = client
        self.start = start
        self.end = end
        self.progress = progress

    def list_parts(self) -> list[str]:
        return ["bronze"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _BronzePartition:
        return _BronzePartition(self.client, resume_state or self.start, self.end, self.progress)

    def count(self) -> int:
        """How many rows the replay will read (for its progress bar)."""
        parts = [f"SELECT count() AS n FROM {quote_identifier(t)} FINAL WHERE {_IN_RANGE}" for t in BRONZE_KEYS]
        sql = "SELECT sum(n) FROM (" + " UNION ALL ".join(parts) + ")"
        return int(self.client.command(sql, parameters={"lo": self.start, "hi": self.end}))  # type: ignore[arg-type]
