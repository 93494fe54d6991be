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
  ``dq_rule_metrics`` is not written: the run that read the records first counted each once
  (a replay's counts start mid-block and would replace blocks of other records);
* before it runs, the sessions and gold rows of the write range are deleted (the tables
  whose :attr:`~dataflows.tables.Table.replay` is ``CLEAR``): a replay after a rule or
  lexicon change, or one that reconciles late data, may no longer produce a row the first
  run wrote.

The start and end offset of each partition come from ``offsets_for_times`` on the record
timestamps (captured when the replay starts). Dead letters and annotated events are not
produced again. The domain part (the plan and the row filter) is plain Python; the offsets
are looked up by :func:`partition_offsets` (confluent-kafka).

>>> from datetime import UTC, datetime
>>> from dataflows.config import WindowConfig
>>> p = plan_replay(1_747_641_600_000, 1_747_645_200_000, WindowConfig())  # 2025-05-19 08:00-09:00 UTC
>>> [datetime.fromtimestamp(t / 1000, UTC).isoformat() for t in (p.write_start, p.write_end)]
['2025-05-18T16:00:00+00:00', '2025-05-19T16:00:00+00:00']
>>> (p.write_start - p.read_start) // 60_000, (p.read_end - p.write_end) // 60_000
(60, 60)
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pyarrow.compute as pc
from bytewax.inputs import Source
from clickhouse_connect.driver.client import Client

from dataflows.config import Settings, WindowConfig
from dataflows.tables import TABLES, Replay, TableRows
from dataflows.timegrid import HOUR_MS, day_end, day_start
from dataflows.warehouse import quote_identifier
from scout_contract import SourceRecord

if TYPE_CHECKING:
    from dataflows.runner import RunStats

#: The event-time getter of each table whose rows a replay filters (``Replay.FILTER`` and ``CLEAR``).
_ROW_TIME = {
    name: attrgetter(t.event_time)
    for name, t in TABLES.items()
    if t.replay in (Replay.FILTER, Replay.CLEAR) and t.event_time is not None
}


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
            if TABLES[table].replay is Replay.SKIP:
                continue
            when = _ROW_TIME.get(table)
            if when is None:
                out.extend(table_rows)
                continue
            lo, hi = self.write_start, self.write_end
            out.extend([r for r in table_rows if lo <= when(r) < hi])
        for table, tables in rows.columns.items():  # the columnar engine's Arrow tables, filtered alike
            t = TABLES[table]
            if t.replay is Replay.SKIP:
                continue
            for whole in tables:
                at = whole[str(t.event_time)] if table in _ROW_TIME else None
                kept = (
                    pc.and_(pc.greater_equal(at, self.write_start), pc.less(at, self.write_end))
                    if at is not None
                    else None
                )
                out.columns[table].append(whole if kept is None else whole.filter(kept))
        return out


def plan_replay(since_ms: int, until_ms: int, windows: WindowConfig, lead_ms: int = HOUR_MS) -> ReplayPlan:
    """Widen ``[since, until)`` to whole days and add the lead and the tail around it."""
    if until_ms <= since_ms:
        raise ValueError("--until must be after --since")
    zone = ZoneInfo(windows.day_timezone)
    write_start = day_start(since_ms, zone)
    write_end = day_end(day_start(until_ms - 1, zone), zone)
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


def clear_write_range(client: Client, plan: ReplayPlan) -> None:
    """Delete the rows a replay rebuilds (synchronously; dashboards see the range empty until the
    replay has written it again)."""
    for table, t in TABLES.items():
        if t.replay is not Replay.CLEAR or t.event_time is None:
            continue
        column = quote_identifier(t.event_time)
        lo, hi = "fromUnixTimestamp64Milli({lo:Int64}, 'UTC')", "fromUnixTimestamp64Milli({hi:Int64}, 'UTC')"
        client.command(
            f"ALTER TABLE {quote_identifier(table)} DELETE WHERE {column} >= {lo} AND {column} < {hi}",
            parameters={"lo": plan.write_start, "hi": plan.write_end},
            settings={"mutations_sync": 2},
        )


class ReplayProgress:
    """What a replay reports while it runs (the default reports nothing; the CLI draws bars)."""

    def started(self, total: int, origin: str, per_partition: dict[int, int]) -> None:
        """Reading begins: ``total`` records from ``origin``; records per partition number (topics only)."""

    def advance(self, records: int) -> None:
        """``records`` more were read."""

    def advance_partition(self, number: int, records: int) -> None:
        """``records`` more were read from the partitions numbered ``number``."""


def run_replay(s: Settings, plan: ReplayPlan, source: str | None, progress: ReplayProgress | None = None) -> RunStats:
    """Rebuild the plan's write range from the topics (``source``, ``kafka://…``) or, without one, from
    bronze; returns the rows written per table (see module doc)."""
    from dataflows.runner import RunStats, client_spec, make_flow, run_flow
    from dataflows.sources.bronze import BronzeSource
    from dataflows.sources.kafka import KafkaSource, parse_bootstrap
    from dataflows.warehouse import migrate, require_schema

    report = progress or ReplayProgress()
    # a replay is one bounded run from a fresh state: no recovery store, sessions closed at its end
    s = s.model_copy(update={"recovery_dir": None, "close_sessions_at_end": True, "stop_at_end": True})
    reader: Source[list[SourceRecord]]
    if source is not None:
        conf = s.kafka.librdkafka(parse_bootstrap(source))
        topics = s.topics.input_topics()
        starts, ends = partition_offsets(conf, topics, plan)
        total = sum(max(0, ends[k] - starts[k]) for k in ends)
        per_number: dict[int, int] = {}
        for (topic, number), end in ends.items():
            per_number[number] = per_number.get(number, 0) + max(0, end - starts[(topic, number)])
        reader = KafkaSource(conf, topics, s.batch_size, starts=starts, ends=ends, progress=report.advance,
                             part_progress=report.advance_partition)  # fmt: skip
        origin = f"{len(ends)} partitions"
        client = client_spec(s, create=True)()
        migrate(client, day_timezone=s.day_timezone)
        report.started(total, origin, dict(sorted(per_number.items())))
    else:
        client = client_spec(s)()
        require_schema(client, s.sink)  # bronze must exist
        migrate(client, day_timezone=s.day_timezone)
        bronze = BronzeSource(client, plan.read_start, plan.read_end, report.advance)
        reader = bronze
        report.started(bronze.count(), "bronze", {})
    stats = RunStats()
    clear_write_range(client, plan)
    run_flow(make_flow(s, reader, client, stats.on_write, replay_filter=plan.keep), s)
    return stats
