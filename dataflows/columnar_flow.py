"""The Bytewax dataflow of the columnar engine (``--engine columnar``, issue #21): Arrow batches
between the steps instead of a Python object per event.

    records ─ bronze_validate ─┬─ quarantine rows ───────────────────────────────────────────┐
      (compiled decode path)   ├─ rule counts ─ dq_tally (topic/partition) ─ dq rows ─────────┤
                               └─ key_groups ─ device_groups ─┬─ Arrow tables + rows ─────────┤
                                  (crc32(key) % K)            └─ facts_by_store ─ gold_windows ┤
                                                                                   clickhouse ◀┘

The validation is :func:`~dataflows.bronze.columnar.validate_item`: ``validate_columnar`` for records,
``validate_buffer`` for blocks of a topic file's lines (:class:`~dataflows.sources.file.TopicLineSource`)
(records the compiled path does not clear go to the Python validator, as before); the per-key step is
:class:`~dataflows.silver.columnar_device.ColumnarDevices`, one per group of keys; everything around
it (the gold windows, the rule counts, the quarantine, dead letters, the annotated topic and the sink)
is the row engine's wiring (:func:`dataflows.flow.wire_around_key_step`).
Tables the columnar step builds whole reach the writer as Arrow tables (``TableRows.columns``).

Not in this engine yet: gold on columns (its facts are still Python objects), and the annotated-events
topic's records built without a Python object per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import cast

import bytewax.operators as op
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import structlog
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import Sink

from dataflows.bronze.columnar import ColumnarResult, compiled_decoder, validate_item
from dataflows.bronze.rules import RuleSet
from dataflows.bronze.validate import Validator
from dataflows.config import WindowConfig
from dataflows.flow import NowMs, _resumed, _wall_ms, wire_around_key_step
from dataflows.metrics import ACCEPTED, LATE, RECORDS_IN, VALIDATE_SECONDS
from dataflows.silver.annotate import Lexicon
from dataflows.silver.columnar_device import (
    DEVICES_STATE_VERSION,
    ColumnarDevices,
    DeviceOutput,
    DevicesState,
    clock_keys,
    key_group,
)
from dataflows.silver.rows import PENDING
from dataflows.sinks.kafka import OutgoingRecord
from dataflows.sources.file import LineBatch, LineItem
from dataflows.tables import TABLE_OF, AnnotatedRow, LateRow, TableRows
from scout_contract import AnnotatedV1, SourceRecord, encode_event
from scout_contract.topics import ANNOTATED

log = structlog.get_logger(__name__)
_LATE_TABLE = TABLE_OF[LateRow]
_ANNOTATED_TABLE = TABLE_OF[AnnotatedRow]
#: One group's batches: per stream, the bronze columns of its keys' records (with their record keys)
Groups = dict[str, pa.RecordBatch]


class _DevicesLogic(StatefulBatchLogic[Groups, DeviceOutput, DevicesState]):
    """One group of keys; live, each key's open sessions close once it sent nothing for ``idle_close_ms``."""

    def __init__(self, devices: ColumnarDevices, now_ms: NowMs, close_at_eof: bool, idle_close_ms: int | None) -> None:
        self.devices = devices
        self.now_ms = now_ms
        self.close_at_eof = close_at_eof
        self.idle_close_ms = idle_close_ms
        self._idle_at: dict[str, datetime] = {}

    def on_batch(self, values: list[Groups]) -> tuple[Iterable[DeviceOutput], bool]:
        outs = [self.devices.process(v, self.now_ms()) for v in values]
        if self.idle_close_ms is not None:
            at = datetime.now(UTC) + timedelta(milliseconds=self.idle_close_ms)
            self._idle_at.update((k, at) for out in outs for k in out.keys)
        return outs, StatefulBatchLogic.RETAIN

    def notify_at(self) -> datetime | None:
        return min(self._idle_at.values(), default=None)

    def on_notify(self) -> tuple[Iterable[DeviceOutput], bool]:
        now = datetime.now(UTC)
        idle = [k for k, at in self._idle_at.items() if at <= now]
        for k in idle:
            del self._idle_at[k]
        return [self.devices.close_keys(idle, self.now_ms())], StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[DeviceOutput], bool]:
        if not self.close_at_eof:  # a resumable run: a later run may continue these sessions
            return [self.devices.hold(self.now_ms())], StatefulBatchLogic.RETAIN
        return [self.devices.flush(self.now_ms())], StatefulBatchLogic.RETAIN

    def snapshot(self) -> DevicesState:
        return self.devices.snapshot()


#: The per-key state's step: its state keys name their group and the number of groups
#: (``g5/8``), so that a resume with another number is refused, not mis-assigned (dataflows/runner.py).
DEVICE_GROUPS_STEP = "device_groups"


def group_key(group: int, groups: int) -> str:
    """The state key of a group of keys: ``g<group>/<groups>``."""
    return f"g{group}/{groups}"


def key_groups(validated: ColumnarResult, groups: int) -> list[tuple[str, Groups]]:
    """Split a validated batch by group of keys (``crc32(key) % groups``), each group's rows in input order."""
    out: dict[str, Groups] = {}
    for stream, batch in validated.batches.items():
        ACCEPTED.labels(stream).inc(batch.num_rows)
        keys = pc.dictionary_encode(clock_keys(stream, batch))
        of_key = np.array([key_group(k, groups) for k in keys.dictionary.to_pylist()], np.int64)
        group = of_key[keys.indices.to_numpy()]
        order = np.argsort(group, kind="stable")  # each group's rows together, in input order
        by_group = batch.take(pa.array(order))
        bounds = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0, True])
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            out.setdefault(group_key(int(group[order[lo]]), groups), {})[stream] = by_group.slice(lo, hi - lo)
    return list(out.items())


def _device_rows(key_out: tuple[str, DeviceOutput]) -> TableRows:
    out = key_out[1]
    rows = out.rows
    for table, arrow in out.tables.items():
        rows.columns[table].append(arrow)
    if _LATE_TABLE in out.tables:
        for count in pc.value_counts(out.tables[_LATE_TABLE]["stream"]).to_pylist():
            LATE.labels(count["values"]).inc(count["counts"])
    return rows


def annotated_records(key_out: tuple[str, DeviceOutput]) -> list[SourceRecord]:
    """The closed sessions' members' tags as ``eh-pi-annotated-events`` records, as the row engine's
    :func:`dataflows.flow.annotated_records` makes them (pending tags of open sessions are not published)."""
    table = key_out[1].tables.get(_ANNOTATED_TABLE)
    if table is None:
        return []
    out = []
    for r in table.filter(pc.not_equal(table["interaction_id"], PENDING)).to_pylist():
        fields = {name: r[name] for name in AnnotatedV1.__struct_fields__ if name != "ts"}
        event = AnnotatedV1(**fields, ts=datetime.fromtimestamp(r["ts"] / 1000, UTC))
        out.append(SourceRecord(ANNOTATED, 0, 0, r["ts"], r["device_id"], encode_event(event)))
    return out


def build_columnar_flow(
    source: Source[list[SourceRecord]] | Source[LineItem],
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
    groups: int = 8,
) -> Dataflow:
    """Assemble the columnar dataflow between a source and a sink (:func:`dataflows.flow.build_flow`'s
    arguments; ``groups``: how many groups of keys hold the per-key state, fixed for a recovery store)."""
    validator = Validator(rules, topic_streams, now_ms)
    decoder = compiled_decoder(validator)
    if decoder is None:
        log.warning(
            "the compiled decode path (scout_decode) is not built here: the columnar engine validates every "
            "record with the Python validator and runs its pure-Python kernels (the same results, slower)"
        )

    def validate(batch: LineItem) -> ColumnarResult:
        with VALIDATE_SECONDS.time():
            result = validate_item(validator, batch, decoder)
            if isinstance(batch, LineBatch):  # a block's records are counted once the crate has split it
                RECORDS_IN.labels(batch.source).inc(result.cleared + result.deferred)
            return result

    def devices_builder(resume: DevicesState | None) -> _DevicesLogic:
        devices = ColumnarDevices(windows, lexicon)
        if resume is not None:
            _resumed(resume, DevicesState, DEVICES_STATE_VERSION, "device-group")
            devices.restore(resume)
        return _DevicesLogic(devices, now_ms, close_at_eof, idle_close_ms)

    flow = Dataflow(flow_id)
    validated = op.map("bronze_validate", op.input("records", flow, cast("Source[LineItem]", source)), validate)
    keyed = op.flat_map("key_groups", validated, lambda result: key_groups(result, groups))
    per_group = op.stateful_batch(DEVICE_GROUPS_STEP, keyed, devices_builder)
    wire_around_key_step(
        validated, per_group, _device_rows, annotated_records, sink, windows, now_ms, annotated_sink,
        dead_letter_sink, row_filter,
    )  # fmt: skip
    return flow
