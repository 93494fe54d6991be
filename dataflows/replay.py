"""Replay a time range from the topics: rebuild silver and gold for whole days, exactly.

A replay reads the input topics from a *read range* wider than the requested one and writes
only rows whose windows lie wholly inside the *write range*:

* the write range is the requested range widened to whole gold days (in ``day_timezone``;
  hours lie inside days), because a gold row is replaced whole — a partial window would
  replace a complete row with a partial one;
* the read range starts ``lead`` before it (default 1 h: the event clocks, duplicate memory
  and open sessions are rebuilt there, so lateness and ``interaction_id`` come out as in one
  run over all data — for sessions shorter than the lead) and ends ``tail`` after it
  (out-of-orderness + session gap + the records' delivery delay, so late-arriving records of
  the range and sessions ending at its edge are read);
* rows of the lead and the tail are not written: bronze, silver and late rows by event time,
  gold rows by window start. Quarantine rows are stateless and identical to the first run's;
  ``dq_rule_metrics`` counts again (a processing-time counter, as documented);
* before it runs, the sessions and gold rows of the write range are deleted
  (:data:`CLEARED`): a replay after a rule or lexicon change, or one that reconciles late
  data, may no longer produce a row the first run wrote.

The start and end offset of each partition come from ``offsets_for_times`` on the record
timestamps (captured when the replay starts). Dead letters and annotated events are not
produced again. The domain part (the plan and the row filter) is plain Python; the offsets
are looked up by :func:`partition_offsets` (confluent-kafka).

>>> from datetime import UTC
>>> from dataflows.config import WindowConfig
>>> p = plan_replay(1_747_641_600_000, 1_747_645_200_000, WindowConfig())  # 2025-05-19 08:00-09:00 UTC
>>> [datetime.fromtimestamp(t / 1000, UTC).isoformat() for t in (p.write_start, p.write_end)]
['2025-05-18T16:00:00+00:00', '2025-05-19T16:00:00+00:00']
>>> (p.write_start - p.read_start) // 60_000, (p.read_end - p.write_end) // 60_000
(60, 60)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from dataflows.config import WindowConfig
from dataflows.tables import TableRows
from dataflows.warehouse import quote_identifier
from scout_contract.streams import STREAMS

HOUR_MS = 3_600_000

#: The event-time column that places a row in time, per table whose rows a replay filters.
ROW_TIME: dict[str, str] = {
    **{s.bronze_table: "ts" for s in STREAMS},
    "late_events": "ts",
    "silver_multimodal_aligned": "started_at",
    "silver_annotated_events": "ts",
    "silver_device_heartbeat": "ts",
    "gold_store_interaction_metrics": "window_start",
    "gold_device_health_summary": "window_start",
    "gold_transcript_sentiment_analysis": "window_start",
    "gold_brand_performance": "window_start",
    "gold_insight_feedback": "window_start",
}
_ROW_TIME = {t: attrgetter(c) for t, c in ROW_TIME.items()}


@dataclass(frozen=True)
class ReplayPlan:
    """Milliseconds since the epoch; ``[start, end)``."""

    write_start: int
    write_end: int
    read_start: int
    read_end: int

    def keep(self, rows: TableRows) -> TableRows:
        """The rows a replay may write (see module doc)."""
        out = TableRows()
        for table, table_rows in rows.rows.items():
            when = _ROW_TIME.get(table)
            if when is None:
                out.extend(table_rows)
                continue
            lo, hi = self.write_start, self.write_end
            out.extend([r for r in table_rows if lo <= when(r) < hi])
        return out


def _day_start(ms: int, zone: ZoneInfo) -> datetime:
    local = datetime.fromtimestamp(ms / 1000, zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def plan_replay(since_ms: int, until_ms: int, windows: WindowConfig, lead_ms: int = HOUR_MS) -> ReplayPlan:
    """Widen ``[since, until)`` to whole days and add the lead and the tail around it."""
    if until_ms <= since_ms:
        raise ValueError("--until must be after --since")
    zone = ZoneInfo(windows.day_timezone)
    start = _day_start(since_ms, zone)
    last = _day_start(until_ms - 1, zone)
    end = (last + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)  # DST-safe midnight
    write_start, write_end = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    tail = max(lead_ms, windows.out_of_orderness_ms + windows.session_gap_ms)
    return ReplayPlan(write_start, write_end, write_start - lead_ms, write_end + tail)


def partition_offsets(
    conf: dict[str, Any], topics: list[str], plan: ReplayPlan, timeout_s: float = 15.0
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
    """Start and end offset of every partition of ``topics`` for the plan's read range."""
    from confluent_kafka import Consumer, TopicPartition

    from dataflows.sources.kafka import topic_partitions

    counts = topic_partitions(conf, topics)
    consumer = Consumer({**conf, "group.id": "scout-replay-planner", "enable.auto.commit": False})
    try:
        starts: dict[tuple[str, int], int] = {}
        ends: dict[tuple[str, int], int] = {}
        for bound, target in ((plan.read_start, starts), (plan.read_end, ends)):
            query = [TopicPartition(t, p, bound) for t in topics for p in range(counts[t])]
            for tp in consumer.offsets_for_times(query, timeout=timeout_s):
                if tp.offset < 0:  # no record at or after the time: the partition's end
                    tp.offset = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout_s)[1]
                target[(tp.topic, tp.partition)] = tp.offset
        return starts, ends
    finally:
        consumer.close()


RowFilter = Callable[[TableRows], TableRows]

#: Tables whose rows in the write range a replay deletes first: rows keyed by something a replay
#: can change (a session that now starts elsewhere, a window or brand that no longer has data)
#: would otherwise stay beside the rebuilt ones. Bronze, quarantine and late rows are keyed by
#: the record and are rewritten as they are.
CLEARED = (
    "silver_multimodal_aligned",
    "gold_store_interaction_metrics",
    "gold_device_health_summary",
    "gold_transcript_sentiment_analysis",
    "gold_brand_performance",
    "gold_insight_feedback",
)


def clear_write_range(client: Client, plan: ReplayPlan) -> None:
    """Delete the rows a replay rebuilds (synchronously; dashboards see the range empty until the
    replay has written it again)."""
    for table in CLEARED:
        column = quote_identifier(ROW_TIME[table])
        lo, hi = "fromUnixTimestamp64Milli({lo:Int64}, 'UTC')", "fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
        client.command(
            f"ALTER TABLE {quote_identifier(table)} DELETE WHERE {column} >= {lo} AND {column} < {hi}",
            parameters={"lo": plan.write_start, "hi": plan.write_end},
            settings={"mutations_sync": 2},
        )
