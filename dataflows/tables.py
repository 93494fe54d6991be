"""The tables the dataflow writes: one typed row per table, and one registry of what is known about each.

:data:`TABLES` defines each table once — its row class, layer, event-time column, freshness stream, what
a replay does to it (:class:`Replay`) and its processing-time columns; every module that needs one of
those facts reads it here. The DDL lives in clickhouse/migrations.

Each table's row is a :class:`~typing.NamedTuple`: fields in the table's column order, each annotated
with its Python type *and* its exact ClickHouse column type (``Annotated[int, "DateTime64(3, 'UTC')"]``).
A test migrates a warehouse and checks every row class against ``system.columns`` — names, order and
types — so the code and the migrations cannot drift apart. Columns the dataflow never writes (a bronze
table's ``version``) have a DDL default and are not fields.

Why named tuples: stages build them positionally (the cheapest Python object with names), readers
read them by name (``row.watermark``), and the row-oriented clickhouse-connect insert takes tuples as
they are. The columnar stages (issue #21) hand whole Arrow tables instead (:attr:`TableRows.columns`).

Timestamps are integer milliseconds since the epoch (UTC); ``Date`` columns take :class:`datetime.date`.

>>> row = DqRow(0, "stt", "unique_event_id", "drop", scope="device/pi-1", block=0, passed=3, failed=1, version=4)
>>> rows = TableRows()
>>> rows.add(row)
>>> rows.of(DqRow)[0].failed, TABLE_OF[DqRow], COLUMNS["dq_rule_metrics"][:2]
(1, 'dq_rule_metrics', ('minute', 'stream'))
>>> TABLES["silver_multimodal_aligned"].replay, TABLES["dq_rule_metrics"].processing_columns
(<Replay.CLEAR: 'clear'>, ('minute',))
"""

from __future__ import annotations

import typing
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, NamedTuple, TypeVar

from scout_contract.streams import STREAMS

# ClickHouse column types, as system.columns spells them.
String = Annotated[str, "String"]
Lc = Annotated[str, "LowCardinality(String)"]
NullString = Annotated[str | None, "Nullable(String)"]
Ms = Annotated[int, "DateTime64(3, 'UTC')"]
NullMs = Annotated[int | None, "Nullable(DateTime64(3, 'UTC'))"]
Day = Annotated[date, "Date"]
Flag = Annotated[bool, "Bool"]
U16 = Annotated[int, "UInt16"]
U32 = Annotated[int, "UInt32"]
NullU32 = Annotated[int | None, "Nullable(UInt32)"]
U64 = Annotated[int, "UInt64"]
I32 = Annotated[int, "Int32"]
I64 = Annotated[int, "Int64"]
F32 = Annotated[float, "Float32"]
F64 = Annotated[float, "Float64"]
NullF64 = Annotated[float | None, "Nullable(Float64)"]
LcList = Annotated[list[str], "Array(LowCardinality(String))"]
StrList = Annotated[list[str], "Array(String)"]
StrMap = Annotated[dict[str, str], "Map(String, String)"]
CountMap = Annotated[dict[str, int], "Map(String, UInt32)"]
#: A record's payload: the bytes as received (quarantine keeps bytes that are not UTF-8).
Payload = Annotated[bytes, "String"]


# -- bronze: every accepted event, as received (plus where it came from) -------
# The last six fields of each bronze row: topic, partition, offset, record_ts, ingested_at and
# ``late`` (after its key's watermark: kept in bronze, counted in no streamed window; migration 0007).


class BronzeSttRow(NamedTuple):
    event_id: String
    device_id: Lc
    store_id: Lc
    ts: Ms
    schema: Lc
    duration_ms: U32
    transcript: String
    confidence: F32
    lang: Lc
    engine: Lc
    model_version: Lc
    n_words_reported: NullU32
    audio_url: NullString
    warnings: LcList
    payload: Payload
    topic: Lc
    partition: I32
    offset: I64
    record_ts: Ms
    ingested_at: Ms
    late: Flag


class BronzeVisualRow(NamedTuple):
    event_id: String
    device_id: Lc
    store_id: Lc
    ts: Ms
    schema: Lc
    frame_id: I64
    width: U32
    height: U32
    model_version: Lc
    labels: LcList
    warnings: LcList
    payload: Payload
    topic: Lc
    partition: I32
    offset: I64
    record_ts: Ms
    ingested_at: Ms
    late: Flag


class BronzeHeartbeatRow(NamedTuple):
    event_id: String
    device_id: Lc
    store_id: Lc
    ts: Ms
    schema: Lc
    uptime_s: F64
    cpu_pct: F64
    mem_pct: F64
    cpu_temp_c: NullF64
    disk_free_mb: F64
    outbox_depth: I64
    models: StrMap
    sw_version: Lc
    interval_s: F64
    warnings: LcList
    payload: Payload
    topic: Lc
    partition: I32
    offset: I64
    record_ts: Ms
    ingested_at: Ms
    late: Flag


class BronzeFeedbackRow(NamedTuple):
    event_id: String
    device_id: Lc
    store_id: Lc
    ts: Ms
    schema: Lc
    insight_id: String
    advisor_id: String
    insight_type: Lc
    action: Lc
    comment: NullString
    warnings: LcList
    payload: Payload
    topic: Lc
    partition: I32
    offset: I64
    record_ts: Ms
    ingested_at: Ms
    late: Flag


# -- quality --------------------------------------------------------------------


class QuarantineRow(NamedTuple):
    """A record that broke a ``drop`` rule or could not be read."""

    topic: Lc
    partition: I32
    offset: I64
    record_ts: Ms
    key: String
    stream: Lc
    schema: Lc
    event_id: String
    device_id: String
    store_id: String
    rules: LcList
    reasons: StrList
    payload: Payload
    quarantined_at: Ms


class LateRow(NamedTuple):
    """An event older than its key's watermark, or than the gold retention."""

    topic: Lc
    partition: I32
    offset: I64
    record_ts: Ms
    key: String
    stream: Lc
    event_id: String
    device_id: String
    store_id: String
    ts: Ms
    watermark: Ms
    reason: Lc
    payload: Payload
    detected_at: Ms


class DqRow(NamedTuple):
    """A rule's cumulative counts over one block of records (:mod:`dataflows.rule_tally`)."""

    minute: Ms
    stream: Lc
    rule: Lc
    action: Lc
    scope: Lc
    block: U64
    passed: U64
    failed: U64
    version: U64


# -- silver -----------------------------------------------------------------------


class InteractionRow(NamedTuple):
    """``silver_multimodal_aligned``: one closed session of a device."""

    interaction_id: String
    store_id: Lc
    device_id: Lc
    started_at: Ms
    ended_at: Ms
    duration_ms: I64
    n_utterances: U32
    n_frames: U32
    max_people: U16
    n_words: U32
    transcript: String
    brands_mentioned: LcList
    brands_seen: LcList
    greeted: Flag
    asked: Flag
    sentiment: F64
    has_speech: Flag
    has_vision: Flag
    processed_at: Ms


class AnnotatedRow(NamedTuple):
    """``silver_annotated_events``: the tags of one member (utterance or people frame) of a session."""

    interaction_id: String
    event_id: String
    store_id: Lc
    device_id: Lc
    ts: Ms
    kind: Lc
    greeting: Flag
    question: Flag
    brands: LcList
    people: U16
    sentiment: F64
    lang: Lc
    n_words: U32
    processed_at: Ms


class HeartbeatRow(NamedTuple):
    """``silver_device_heartbeat``: a heartbeat with its derived status."""

    event_id: String
    device_id: Lc
    store_id: Lc
    ts: Ms
    cpu_pct: F64
    mem_pct: F64
    cpu_temp_c: NullF64
    disk_free_mb: F64
    outbox_depth: I64
    interval_s: F64
    models: StrMap
    sw_version: Lc
    status: Lc
    processed_at: Ms


# -- gold -------------------------------------------------------------------------


class StoreInteractionsRow(NamedTuple):
    store_id: Lc
    window_start: Ms
    window_end: Ms
    interactions: U32
    avg_dwell_s: F64
    p90_dwell_s: F64
    greeted_interactions: U32
    greeted_rate: F64
    speech_interactions: U32
    speech_rate: F64
    brand_mentions: CountMap
    avg_sentiment: F64
    active_devices: U16
    updated_at: Ms
    version: U64


class DeviceHealthRow(NamedTuple):
    device_id: Lc
    window_start: Ms
    window_end: Ms
    store_id: Lc
    heartbeats_received: U32
    heartbeats_expected: U32
    #: heartbeats of the hour from a clock outside its store's tolerance (the clock_skew rule's failures)
    skewed_heartbeats: U32
    uptime_pct: F64
    cpu_pct_avg: F64
    cpu_pct_max: F64
    mem_pct_max: F64
    cpu_temp_max: NullF64
    disk_free_min_mb: F64
    outbox_depth_max: I64
    model_versions: StrMap
    sw_version: Lc
    last_seen: NullMs
    status: Lc
    updated_at: Ms
    version: U64


class SentimentRow(NamedTuple):
    store_id: Lc
    window_start: Ms
    window_end: Ms
    utterances: U32
    positive: U32
    neutral: U32
    negative: U32
    avg_sentiment: F64
    language_mix: CountMap
    updated_at: Ms
    version: U64


class BrandRow(NamedTuple):
    store_id: Lc
    day: Day
    brand: Lc
    window_start: Ms
    window_end: Ms
    mentions: U32
    sightings: U32
    interactions: U32
    updated_at: Ms
    version: U64


class FeedbackRow(NamedTuple):
    """``gold_insight_feedback``: advisors' actions per store, day and insight type."""

    store_id: Lc
    day: Day
    insight_type: Lc
    window_start: Ms
    window_end: Ms
    accepted: U32
    dismissed: U32
    snoozed: U32
    acceptance_rate: F64
    updated_at: Ms
    version: U64


class Replay(StrEnum):
    """What ``scout replay`` does to a table's rows (docs/architecture.md, "Replay")."""

    #: rows are keyed by the record: rewritten as they are, only those inside the write range
    FILTER = "filter"
    #: rows are keyed by something a replay can change (a session that now starts elsewhere, a
    #: window or brand that no longer has data): deleted in the write range first, then filtered
    CLEAR = "clear"
    #: every row is written (stateless rows identical to the first run's)
    KEEP = "keep"
    #: no row is written (rule counts: the first run counted each record once; dataflows/rule_tally.py)
    SKIP = "skip"


@dataclass(frozen=True)
class Table:
    """Everything the code knows about one table, defined once (the DDL is in clickhouse/migrations)."""

    name: str
    #: the row class (columns in insert order, with their ClickHouse types)
    row: type[tuple[Any, ...]]
    #: ``bronze``, ``silver``, ``gold``, ``quarantine`` or ``quality`` (the summary's and freshness's layer)
    layer: str
    #: the event-time column that places a row in time (what a replay filters and clears by)
    event_time: str | None
    #: ``(stream label, event-time column)`` of its ``pipeline_freshness`` rows, if it has them
    freshness: tuple[str, str] | None
    replay: Replay
    #: columns stamped with processing time (different on every run; comparisons leave them out)
    processing_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.row._fields  # type: ignore[attr-defined,no-any-return]


_BRONZE_ROWS: dict[str, type[tuple[Any, ...]]] = {
    "stt": BronzeSttRow, "visual": BronzeVisualRow, "heartbeat": BronzeHeartbeatRow, "feedback": BronzeFeedbackRow,
}  # fmt: skip


def _gold(name: str, row: type[tuple[Any, ...]], stream: str) -> Table:
    return Table(name, row, "gold", "window_start", (stream, "window_start"), Replay.CLEAR, ("updated_at",))


#: Table name → its definition, in the order the summary lists them.
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        *(
            Table(s.bronze_table, _BRONZE_ROWS[s.name], "bronze", "ts", (s.name, "ts"), Replay.FILTER, ("ingested_at",))
            for s in STREAMS
        ),
        Table("quarantine_events", QuarantineRow, "quarantine", None, ("quarantine", "record_ts"), Replay.KEEP,
              ("quarantined_at",)),
        Table("late_events", LateRow, "quarantine", "ts", ("late", "ts"), Replay.FILTER, ("detected_at",)),
        Table("dq_rule_metrics", DqRow, "quality", None, None, Replay.SKIP, ("minute",)),
        Table("silver_multimodal_aligned", InteractionRow, "silver", "started_at", ("interactions", "ended_at"),
              Replay.CLEAR, ("processed_at",)),
        Table("silver_annotated_events", AnnotatedRow, "silver", "ts", ("annotated", "ts"), Replay.FILTER,
              ("processed_at",)),
        Table("silver_device_heartbeat", HeartbeatRow, "silver", "ts", ("heartbeat", "ts"), Replay.FILTER,
              ("processed_at",)),
        _gold("gold_store_interaction_metrics", StoreInteractionsRow, "store_interactions"),
        _gold("gold_device_health_summary", DeviceHealthRow, "device_health"),
        _gold("gold_transcript_sentiment_analysis", SentimentRow, "transcript_sentiment"),
        _gold("gold_brand_performance", BrandRow, "brand_performance"),
        _gold("gold_insight_feedback", FeedbackRow, "insight_feedback"),
    )
}  # fmt: skip
TABLE_OF: dict[type, str] = {t.row: name for name, t in TABLES.items()}
#: Column names of each table, in insert order (the row class's fields).
COLUMNS: dict[str, tuple[str, ...]] = {name: t.columns for name, t in TABLES.items()}


def of_layer(layer: str) -> list[str]:
    """The tables of one layer, in registry order.

    >>> of_layer("bronze")
    ['bronze_stt_raw', 'bronze_visual_stream', 'bronze_device_heartbeat', 'bronze_insight_feedback']
    """
    return [name for name, t in TABLES.items() if t.layer == layer]


def clickhouse_types(cls: type) -> dict[str, str]:
    """``{column: ClickHouse type}`` declared by a row class (what the DDL test compares)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {name: hints[name].__metadata__[0] for name in cls._fields}  # type: ignore[attr-defined]


#: ``build_row(RowClass, values)`` builds a row from its values in field order without calling the
#: NamedTuple's ``__new__``, a Python function (half the time of ``RowClass(*values)``). Used for
#: the rows made per event; ``tests/dataflows/silver/test_event_clock.py`` checks their width.
build_row = tuple.__new__

R = TypeVar("R", bound=tuple[Any, ...])


@dataclass
class TableRows:
    """Rows for several tables, the unit every step hands to the sink."""

    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: defaultdict(list))
    #: per gold batch among them: its oldest record's timestamp (dataflows/sinks/writer.py, freshness)
    arrived: list[int] = field(default_factory=list)
    #: whole Arrow tables (``pyarrow.Table``, the table's columns in order) beside the rows, by table
    columns: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows[TABLE_OF[type(row)]].append(row)

    def extend(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.rows[TABLE_OF[type(rows[0])]].extend(rows)

    def of(self, cls: type[R]) -> list[R]:
        """The rows of one table, typed (empty when there are none)."""
        return self.rows.get(TABLE_OF[cls], [])  # type: ignore[return-value]

    def merge(self, other: TableRows) -> None:
        for table, rows in other.rows.items():
            self.rows[table].extend(rows)
        for table, tables in other.columns.items():
            self.columns[table].extend(tables)
        self.arrived.extend(other.arrived)

    def __bool__(self) -> bool:
        return any(self.rows.values()) or any(t.num_rows for ts in self.columns.values() for t in ts)

    def count(self) -> int:
        return sum(map(len, self.rows.values())) + sum(int(t.num_rows) for ts in self.columns.values() for t in ts)
