"""The Bytewax dataflow: a thin wiring of the plain-Python stages.

    records ─ bronze_validate ─┬─ quarantine rows ────────────────────────────────┐
                               ├─ rule counts ─ dq_tally (topic/partition) ─ dq rows ─┤
                               └─ key_by_clock ─ event_clock ─┬─ bronze/silver/late rows ─┤
                                   (device, or store/<id>)    └─ facts_by_store ─ gold_windows ─ gold rows ─┤
                                                                                     clickhouse ◀─┘

The sink receives ``("rows", TableRows)`` pairs (a keyed stream, as Bytewax's
partitioned sinks want). Items between steps are *batches* (a list of records, the events of one key,
the facts of one store), so Bytewax's per-item cost is paid per batch.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import Sink

from dataflows.bronze.columnar import ColumnarResult
from dataflows.bronze.rules import RuleSet
from dataflows.bronze.validate import Accepted, ValidationResult, Validator
from dataflows.config import WindowConfig
from dataflows.errors import RecoveryStateError
from dataflows.gold.state import GOLD_STATE_VERSION, GoldState
from dataflows.gold.windows import StoreGold
from dataflows.metrics import ACCEPTED, LATE, QUARANTINED, VALIDATE_SECONDS
from dataflows.rule_tally import TALLY_STATE_VERSION, RuleTally, TallyState
from dataflows.silver.annotate import Lexicon
from dataflows.silver.columnar_device import DeviceOutput
from dataflows.silver.event_clock import CLOCK_STATE_VERSION, ClockState, DeviceClock, KeyOutput
from dataflows.silver.facts import Fact, InteractionFact
from dataflows.silver.rows import annotated_events
from dataflows.sinks.kafka import OutgoingRecord
from dataflows.tables import DqRow, LateRow, TableRows
from scout_contract import SourceRecord, encode_event, ts_millis
from scout_contract.topics import ANNOTATED

NowMs = Callable[[], int]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# -- stateful logics (Bytewax adapters around DeviceClock / StoreGold) --------


def _resumed(state: object, kind: type[Any], version: int, step: str) -> None:
    """Refuse a snapshot this version cannot resume (another type, or another version of it)."""
    if not isinstance(state, kind) or state.version != version:
        found = getattr(state, "version", None) if isinstance(state, kind) else type(state).__name__
        raise RecoveryStateError(
            f"the recovery directory holds {step} state of another version ({found}; this version reads "
            f"{kind.__name__} {version}); start from a new --recovery-dir (tables are idempotent: re-running "
            "the input adds nothing twice)"
        )


class _EventClockLogic(StatefulBatchLogic[list[Accepted], KeyOutput, ClockState]):
    def __init__(self, clock: DeviceClock, now_ms: NowMs, close_at_eof: bool, idle_close_ms: int | None) -> None:
        self.clock = clock
        self.now_ms = now_ms
        self.close_at_eof = close_at_eof
        self.idle_close_ms = idle_close_ms
        self._idle_at: datetime | None = None

    def on_batch(self, values: list[list[Accepted]]) -> tuple[Iterable[KeyOutput], bool]:
        events = values[0] if len(values) == 1 else [a for batch in values for a in batch]
        out = self.clock.process(events, self.now_ms())
        if self.idle_close_ms is not None:
            idle = timedelta(milliseconds=self.idle_close_ms)
            self._idle_at = datetime.now(UTC) + idle if self.clock.sessions.open else None
        return [out], StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        return self._idle_at

    def on_notify(self) -> tuple[Iterable[KeyOutput], bool]:
        """Live: the device sent nothing for ``idle_close_ms`` of processing time; close its
        open sessions so its last customer reaches silver and gold (docs/architecture.md)."""
        self._idle_at = None
        return [self.clock.flush(self.now_ms())], StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[KeyOutput], bool]:
        if not self.close_at_eof:  # a resumable run: a later run may continue these sessions
            return [self.clock.hold(self.now_ms())], StatefulBatchLogic.RETAIN
        return [self.clock.flush(self.now_ms())], StatefulBatchLogic.RETAIN

    def snapshot(self) -> ClockState:
        return self.clock.snapshot()


class StoreFacts(NamedTuple):
    """One key batch's facts of a store, and when its oldest record arrived (:class:`KeyOutput`)."""

    arrived: int | None
    facts: list[Fact]


class _GoldLogic(StatefulBatchLogic[StoreFacts, TableRows, GoldState]):
    def __init__(self, gold: StoreGold, now_ms: NowMs) -> None:
        self.gold = gold
        self.now_ms = now_ms

    def on_batch(self, values: list[StoreFacts]) -> tuple[Iterable[TableRows], bool]:
        facts = values[0].facts if len(values) == 1 else [f for batch in values for f in batch.facts]
        rows = self.gold.apply(facts, self.now_ms())
        arrived = [v.arrived for v in values if v.arrived is not None]
        if arrived and rows:
            rows.arrived.append(min(arrived))
        return [rows], StatefulBatchLogic.RETAIN

    def snapshot(self) -> GoldState:
        return self.gold.snapshot()


class _TallyLogic(StatefulBatchLogic[list[DqRow], TableRows, TallyState]):
    """One source partition's rule counts: each batch's counts added to its blocks' cumulative ones."""

    def __init__(self, tally: RuleTally, now_ms: NowMs) -> None:
        self.tally = tally
        self.now_ms = now_ms

    def on_batch(self, values: list[list[DqRow]]) -> tuple[Iterable[TableRows], bool]:
        for batch in values:
            for r in batch:
                self.tally.add(r.scope, (r.stream, r.rule, r.action), r.block, r.passed, r.failed)
        rows = TableRows()
        rows.extend(self.tally.rows(self.now_ms()))
        return [rows], StatefulBatchLogic.RETAIN

    def snapshot(self) -> TallyState:
        return TallyState(self.tally.copy())


# -- stateless steps ------------------------------------------------------------


def _rejected_rows(result: ValidationResult | ColumnarResult) -> TableRows:
    rows = TableRows()
    rows.extend(result.quarantine_rows)
    QUARANTINED.inc(len(result.quarantine_rows))
    return rows


def _rule_counts_by_scope(result: ValidationResult | ColumnarResult) -> list[tuple[str, list[DqRow]]]:
    groups: dict[str, list[DqRow]] = {}
    for row in result.dq_rows:
        groups.setdefault(row.scope, []).append(row)
    return list(groups.items())


def _by_clock_key(result: ValidationResult) -> list[tuple[str, list[Accepted]]]:
    groups: dict[str, list[Accepted]] = {}
    streams: dict[str, int] = {}
    for acc in result.accepted:
        groups.setdefault(acc.key, []).append(acc)
        streams[acc.stream] = streams.get(acc.stream, 0) + 1
    for stream, n in streams.items():
        ACCEPTED.labels(stream).inc(n)
    return list(groups.items())


def _key_rows(key_out: tuple[str, KeyOutput]) -> TableRows:
    rows = key_out[1].rows
    for row in rows.of(LateRow):
        LATE.labels(row.stream).inc()
    return rows


def _facts_by_store(key_out: tuple[str, KeyOutput | DeviceOutput]) -> list[tuple[str, StoreFacts]]:
    """A key's (or, columnar, a group of keys') facts, per store (both engines)."""
    groups: dict[str, list[Fact]] = {}
    for fact in key_out[1].facts:
        groups.setdefault(fact.store_id, []).append(fact)
    return [(store, StoreFacts(key_out[1].arrived, facts)) for store, facts in groups.items()]


def annotated_records(key_out: tuple[str, KeyOutput]) -> list[SourceRecord]:
    """Tags of every closed session's members as ``eh-pi-annotated-events`` records
    (key: device; record timestamp: the member's event time)."""
    return [
        SourceRecord(ANNOTATED, 0, 0, ts_millis(ev.ts), ev.device_id, encode_event(ev))
        for fact in key_out[1].facts
        if isinstance(fact, InteractionFact)
        for ev in annotated_events(fact.interaction)
    ]


def dead_letters(result: ValidationResult | ColumnarResult) -> list[OutgoingRecord]:
    """Every quarantined record as a dead letter: its raw bytes as the value, its original key,
    the rules and reasons and its source coordinates (with its own record timestamp) in headers
    (``scout.*``); the dead letter's timestamp is the time it was rejected, so a topic's time
    retention counts from the rejection, not from a replayed record's age."""
    out = []
    for q in result.quarantine_rows:
        headers: list[tuple[str, str | bytes | None]] = [
            ("scout.rules", ",".join(q.rules).encode()),
            ("scout.reasons", "; ".join(q.reasons).encode()),
            ("scout.topic", q.topic.encode()),
            ("scout.partition", str(q.partition).encode()),
            ("scout.offset", str(q.offset).encode()),
            ("scout.record_ts", str(q.record_ts).encode()),
        ]
        out.append(OutgoingRecord(q.key or None, q.payload, q.quarantined_at, headers))
    return out


def gold_builder(windows: WindowConfig, now_ms: NowMs) -> Callable[[GoldState | None], _GoldLogic]:
    """The ``gold_windows`` step's builder (both engines)."""

    def build(resume: GoldState | None) -> _GoldLogic:
        # Bytewax does not tell a builder its key: StoreGold takes it from its first fact.
        gold = StoreGold("", windows)
        if resume is not None:
            _resumed(resume, GoldState, GOLD_STATE_VERSION, "gold-window")
            gold.restore(resume)
        return _GoldLogic(gold, now_ms)

    return build


def tally_builder(now_ms: NowMs) -> Callable[[TallyState | None], _TallyLogic]:
    """The ``dq_tally`` step's builder (both engines)."""

    def build(resume: TallyState | None) -> _TallyLogic:
        if resume is not None:
            _resumed(resume, TallyState, TALLY_STATE_VERSION, "rule-count")
        return _TallyLogic(RuleTally(resume.counts if resume is not None else None), now_ms)

    return build


def write_rows(
    everything: Stream[TableRows],
    sink: Sink[tuple[str, TableRows]],
    row_filter: Callable[[TableRows], TableRows] | None,
) -> None:
    """Every step's rows to the sink, spread over its writers (``row_filter``: a replay's)."""
    if row_filter is not None:
        everything = op.map("replay_window", everything, row_filter)
    writers = getattr(sink, "writers", 1)
    spread = itertools.count()  # any writer will do: rows are keyed in their tables, not by who writes them
    op.output("clickhouse", op.key_on("to_writer", everything, lambda _rows: f"w{next(spread) % writers}"), sink)


#: A per-key step's output: ``(key, KeyOutput)`` for the row engine, ``(group, DeviceOutput)`` for the columnar one
KeyStepOut = TypeVar("KeyStepOut", tuple[str, KeyOutput], tuple[str, DeviceOutput])
#: A validation step's output, of either engine
Validated = TypeVar("Validated", ValidationResult, ColumnarResult)


def wire_around_key_step(
    validated: Stream[Validated],
    per_key: Stream[KeyStepOut],
    key_rows: Callable[[KeyStepOut], TableRows],
    annotated: Callable[[KeyStepOut], list[SourceRecord]],
    sink: Sink[tuple[str, TableRows]],
    windows: WindowConfig,
    now_ms: NowMs,
    annotated_sink: Sink[tuple[str, list[SourceRecord]]] | None,
    dead_letter_sink: Sink[tuple[str, list[OutgoingRecord]]] | None,
    row_filter: Callable[[TableRows], TableRows] | None,
) -> None:
    """The steps both engines share around their per-key step: quarantine rows, rule counts and dead
    letters from the validation; the per-key step's rows (``key_rows``), gold windows from its facts,
    every row to the sink; its closed sessions' annotated events (``annotated``) to their topic."""
    rejected = op.map("quarantine_rows", validated, _rejected_rows)
    rule_counts = op.flat_map("rule_counts_by_scope", validated, _rule_counts_by_scope)
    dq_rows = op.map("dq_rows", op.stateful_batch("dq_tally", rule_counts, tally_builder(now_ms)), lambda kv: kv[1])
    rows = op.map("key_rows", per_key, key_rows)
    store_facts = op.flat_map("facts_by_store", per_key, _facts_by_store)
    gold = op.stateful_batch("gold_windows", store_facts, gold_builder(windows, now_ms))
    gold_rows = op.map("gold_rows", gold, lambda kv: kv[1])
    write_rows(op.merge("all_rows", rejected, dq_rows, rows, gold_rows), sink, row_filter)
    if dead_letter_sink is not None:
        letters = op.filter("has_dead_letters", op.map("dead_letters", validated, dead_letters), bool)
        op.output("dead_letter_topic", op.key_on("to_dead_letters", letters, lambda _recs: "0"), dead_letter_sink)
    if annotated_sink is not None:
        events = op.filter("has_annotations", op.map("annotated_events", per_key, annotated), bool)
        op.output("annotated_topic", op.key_on("to_topic", events, lambda _recs: "0"), annotated_sink)


def build_flow(
    source: Source[list[SourceRecord]],
    sink: Sink[tuple[str, TableRows]],
    rules: RuleSet,
    lexicon: Lexicon,
    windows: WindowConfig,
    topic_streams: dict[str, str] | None = None,
    now_ms: NowMs = _wall_ms,
    flow_id: str = "scout",
    annotated_sink: Sink[tuple[str, list[SourceRecord]]] | None = None,
    dead_letter_sink: Sink[tuple[str, list[OutgoingRecord]]] | None = None,
    close_at_eof: bool = True,
    idle_close_ms: int | None = None,
    row_filter: Callable[[TableRows], TableRows] | None = None,
) -> Dataflow:
    """Assemble the bronze → silver → gold dataflow between a source and a sink.

    ``close_at_eof``: at the end of input, close every open session (a finished
    batch run); ``False`` keeps them in the state for a resumed run to continue.
    ``idle_close_ms`` (live runs): close a device's open sessions once it has sent
    nothing for this long in processing time. ``dead_letter_sink``: every
    quarantined record also goes there (:func:`dead_letters`). ``row_filter``:
    what may be written (a replay writes only whole windows of its range).
    """
    validator = Validator(rules, topic_streams, now_ms)

    def validate(records: list[SourceRecord]) -> ValidationResult:
        with VALIDATE_SECONDS.time():
            return validator.validate(records)

    # A resumed key takes its data from the snapshot and this run's settings (``windows``,
    # ``lexicon``): a setting changed across a resume applies from the resume on.
    def clock_builder(resume: ClockState | None) -> _EventClockLogic:
        clock = DeviceClock(windows, lexicon)
        if resume is not None:
            _resumed(resume, ClockState, CLOCK_STATE_VERSION, "event-clock")
            clock.restore(resume)
        return _EventClockLogic(clock, now_ms, close_at_eof, idle_close_ms)

    flow = Dataflow(flow_id)
    validated = op.map("bronze_validate", op.input("records", flow, source), validate)
    keyed = op.flat_map("key_by_clock", validated, _by_clock_key)
    per_key = op.stateful_batch("event_clock", keyed, clock_builder)
    wire_around_key_step(
        validated, per_key, _key_rows, annotated_records, sink, windows, now_ms, annotated_sink, dead_letter_sink,
        row_filter,
    )  # fmt: skip
    return flow
