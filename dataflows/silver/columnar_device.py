"""The per-key step on whole batches: what :class:`~dataflows.silver.event_clock.DeviceClock` does,
for many keys at once, from the compiled decode path's Arrow batches, with no Python object per event.

:class:`ColumnarDevices` holds the keys of a group (the columnar engine's ``device_groups`` step,
keyed by ``crc32(key) % key_groups``: :mod:`dataflows.columnar_flow`, holds one per group) and takes
one batch of bronze columns per stream (:class:`~dataflows.bronze.columnar.ColumnarResult`'s
``batches``: ``row``, then the bronze columns, then the record key). For each batch it gives
(:class:`DeviceOutput`):

* Arrow tables in their table's column order: each stream's bronze rows (every event but the
  duplicates, ``late`` decided: :class:`~dataflows.silver.columnar_clock.EventClocks`),
  ``late_events``, ``silver_device_heartbeat`` (status vectorised) and the closed sessions'
  ``silver_annotated_events`` (:class:`~dataflows.silver.columnar_sessions.ColumnarSessions`);
* Python rows, a few per batch: one ``silver_multimodal_aligned`` row per closed session, the
  duplicate rule's counts (``dq_rule_metrics``);
* the gold facts: one per utterance, frame with brands, heartbeat, feedback, device hour and
  closed session (frames without brands, 80 % of the events, make none).

Python runs once per utterance (the lexicon's tags), per frame with brands, heartbeat and feedback
event (their facts; heartbeats and feedback decode their payload again for the fact) and per
session. ``tests/dataflows/silver/test_columnar_device.py`` holds it to ``DeviceClock`` on the same
records, with and without the compiled module: the same rows of every table, the same facts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflows.bronze.columnar import RECORD_KEY, ROW
from dataflows.config import WindowConfig
from dataflows.rule_tally import Blocks, RuleTally, ScopeRule, key_scope
from dataflows.silver.annotate import Lexicon
from dataflows.silver.columnar_clock import (
    DUPLICATE,
    GROUPS,
    LATE,
    ON_TIME,
    ClocksState,
    EventClocks,
    PyEventClocks,
)
from dataflows.silver.columnar_sessions import (
    MEMBER_SCHEMA,
    Closed,
    ColumnarSessions,
    PySessions,
    SessionsState,
    annotated_table,
)
from dataflows.silver.event_clock import DUPLICATE_RULE
from dataflows.silver.facts import (
    ActivityFact,
    Fact,
    FeedbackFact,
    HeartbeatFact,
    InteractionFact,
    SightingFact,
    UtteranceFact,
)
from dataflows.silver.rows import PENDING, interaction_row
from dataflows.tables import TABLE_OF, TABLES, AnnotatedRow, HeartbeatRow, LateRow, TableRows
from dataflows.timegrid import HOUR_MS
from scout_contract import FeedbackV1, HeartbeatV1, decode_event
from scout_contract.streams import BY_NAME

#: Version of :class:`DevicesState`.
DEVICES_STATE_VERSION = 1
LATE_REASON = "event time older than the key's watermark"
#: A watermark past every session (what closes a key's sessions whatever their end)
_NEVER = 2**62
_PEOPLE = pa.array(["face", "person"])
_LATE_TABLE = TABLE_OF[LateRow]
_HEARTBEAT_TABLE = TABLE_OF[HeartbeatRow]
_ANNOTATED_TABLE = TABLE_OF[AnnotatedRow]
#: What the step reads of a stream's on-time events (heartbeats: every column, for their silver rows)
_ON_TIME_COLUMNS = {
    "visual": [ROW, "store_id", "device_id", "ts", "event_id", "labels"],
    "stt": [ROW, "store_id", "device_id", "ts", "event_id", "transcript", "lang", "duration_ms"],
    "feedback": [ROW, "store_id", "device_id", "ts", "event_id", "payload"],
}
#: Session members as the step builds them: ``row`` (arrival order), then :data:`MEMBER_SCHEMA`
_MEMBER_ROWS = MEMBER_SCHEMA.insert(0, pa.field(ROW, pa.uint32()))


@dataclass(frozen=True, slots=True)
class DevicesState:
    """A group's data at a snapshot: its event clocks, open sessions and duplicate counts (copies)."""

    clocks: ClocksState
    sessions: SessionsState
    rule_counts: dict[ScopeRule, Blocks]
    version: int = DEVICES_STATE_VERSION


@dataclass
class DeviceOutput:
    """What a batch (or the end of input) gives: Arrow tables by table name, Python rows, gold facts,
    and when the batch's oldest record arrived (``None`` at the end of input)."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    rows: TableRows = field(default_factory=TableRows)
    facts: list[Fact] = field(default_factory=list)
    arrived: int | None = None
    #: the keys the batch had events of
    keys: list[str] = field(default_factory=list)


def key_group(key: str, groups: int) -> int:
    """The group of an event-clock key: ``crc32(key) % groups`` (stable across runs and machines)."""
    return zlib.crc32(key.encode()) % groups


def clock_keys(stream: str, batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """The event-clock key of each row of a stream's batch: the device, or ``store/<id>`` for feedback."""
    field_ = BY_NAME[stream].key_field
    column = batch.column(field_)
    return pc.binary_join_element_wise("store/", column, "") if field_ == "store_id" else column


def _table(name: str, columns: dict[str, Any]) -> pa.Table:
    return pa.table({c: columns[c] for c in TABLES[name].columns})


class ColumnarDevices:
    """The per-key state of a group of keys, and the step over their batches."""

    def __init__(self, cfg: WindowConfig, lexicon: Lexicon, compiled: bool = True) -> None:
        """``compiled=False``: the pure-Python kernels even where ``scout_decode`` is built (what a
        machine without it runs; the tests hold both to ``DeviceClock``)."""
        self.cfg = cfg
        self.lexicon = lexicon
        ooo, gap = cfg.out_of_orderness_ms, cfg.session_gap_ms
        self.clocks = EventClocks(ooo, None if compiled else PyEventClocks(ooo, len(GROUPS)))
        self.sessions = ColumnarSessions(gap, None if compiled else PySessions(gap))
        self.tally = RuleTally()

    def snapshot(self) -> DevicesState:
        return DevicesState(self.clocks.snapshot(), self.sessions.snapshot(), self.tally.copy())

    def restore(self, state: DevicesState) -> None:
        if state.version != DEVICES_STATE_VERSION:
            raise ValueError(f"devices state of version {state.version}; this version reads {DEVICES_STATE_VERSION}")
        self.clocks.restore(state.clocks)
        self.sessions.restore(state.sessions)
        self.tally = RuleTally(state.rule_counts)

    def process(self, batches: dict[str, pa.RecordBatch], now: int) -> DeviceOutput:
        """One batch: per stream, its bronze columns (``row`` first, rows in arrival order, and
        :data:`~dataflows.bronze.columnar.RECORD_KEY` last), as the validation gives them."""
        batches = {s: b for s, b in batches.items() if b.num_rows}
        out = DeviceOutput()
        if not batches:
            return out
        out.arrived = min(pc.min(b.column("record_ts")).as_py() for b in batches.values())
        events = pa.concat_tables([
            pa.table({
                ROW: b.column(ROW), "stream": pa.repeat(pa.scalar(s, pa.string()), b.num_rows), "key": clock_keys(s, b),
                "group": pa.repeat(pa.scalar(BY_NAME[s].clock_group, pa.string()), b.num_rows),
                "ts": b.column("ts"), "event_id": b.column("event_id"),
            })
            for s, b in batches.items()
        ])  # fmt: skip
        order = pc.sort_indices(events[ROW]).to_numpy()
        arrival = events.take(order)  # the clocks see the events in arrival order
        verdicts = self.clocks.process(arrival["key"], arrival["group"], arrival["ts"], arrival["event_id"])
        self._count_duplicates(arrival, verdicts.verdict)
        back = np.empty_like(order)
        back[order] = np.arange(len(order))  # from arrival order back to the batches' (stream by stream)
        verdict_of, watermark_of = verdicts.verdict.take(back), verdicts.watermark.take(back)
        members: list[pa.Table] = []
        activity: list[pa.Table] = []
        at = 0
        for stream, batch in batches.items():
            verdict = verdict_of.slice(at, batch.num_rows)
            watermark = watermark_of.slice(at, batch.num_rows)
            at += batch.num_rows
            table = pa.Table.from_batches([batch])
            duplicate = pc.equal(verdict, DUPLICATE)
            kept, kept_verdict = table, verdict
            if pc.any(duplicate).as_py():
                kept, kept_verdict = table.filter(pc.invert(duplicate)), verdict.filter(pc.invert(duplicate))
            name = BY_NAME[stream].bronze_table
            now_column = pa.repeat(pa.scalar(now, pa.int64()), kept.num_rows)
            out.tables[name] = _table(
                name, {**_columns(kept), "ingested_at": now_column, "late": pc.equal(kept_verdict, LATE)}
            )
            is_late = pc.equal(verdict, LATE)
            if pc.any(is_late).as_py():
                self._late_rows(out, stream, table.filter(is_late), watermark.filter(is_late), now)
            on_time = table.select(_ON_TIME_COLUMNS.get(stream, table.column_names))
            if not pc.all(pc.equal(verdict, ON_TIME)).as_py():
                on_time = on_time.filter(pc.equal(verdict, ON_TIME))
            if on_time.num_rows:
                members.append(self._on_time(stream, on_time, now, out))
                if stream != "feedback":
                    activity.append(on_time.select(["store_id", "device_id", "ts"]))
        if members:
            self.sessions.add(pa.concat_tables(members).sort_by(ROW).drop_columns([ROW]))
        if activity:
            self._activity(pa.concat_tables(activity), out)
        out.rows.extend(self.tally.rows(now))
        out.keys = pc.unique(events["key"]).to_pylist()
        keys = pc.unique(events["key"].filter(pc.not_equal(verdict_of, DUPLICATE))).to_pylist()
        marks = {k: w for k in sorted(keys) if (w := self.clocks.watermark(k, "join")) is not None}
        self._emit(self.sessions.close_until(marks), now, out)
        return out

    def flush(self, now: int) -> DeviceOutput:
        """End of input: close every open session."""
        out = DeviceOutput()
        self._emit(self.sessions.flush(), now, out)
        return out

    def close_keys(self, keys: list[str], now: int) -> DeviceOutput:
        """Close every open session of these keys (live: they sent nothing for a while)."""
        out = DeviceOutput()
        self._emit(self.sessions.close_until(dict.fromkeys(keys, _NEVER)), now, out)
        return out

    def hold(self, now: int) -> DeviceOutput:
        """End of input of a resumable run: the open sessions' tags with a pending id (``DeviceClock.hold``)."""
        out = DeviceOutput()
        pending = self.sessions.pending()
        if pending.interactions:
            out.tables[_ANNOTATED_TABLE] = annotated_table(pending, now, PENDING)
        return out

    # -- internals -----------------------------------------------------------------------------

    def _count_duplicates(self, arrival: pa.Table, verdict: pa.Array) -> None:
        """The duplicate rule's verdicts per key and stream, in arrival order (late events are not evaluated)."""
        evaluated = arrival.append_column("verdict", verdict).filter(pc.not_equal(verdict, LATE))
        if not evaluated.num_rows:
            return
        keys = pc.dictionary_encode(evaluated["key"].combine_chunks())
        streams = pc.dictionary_encode(evaluated["stream"].combine_chunks())
        key_code, stream_code = keys.indices.to_numpy(), streams.indices.to_numpy()
        order = np.lexsort((evaluated[ROW].to_numpy(), stream_code, key_code))  # by key, stream, arrival
        passed = pc.equal(evaluated["verdict"], ON_TIME).to_numpy(zero_copy_only=False)[order]
        group = key_code[order].astype(np.int64) * len(streams.dictionary) + stream_code[order]
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        key_names, stream_names = keys.dictionary.to_pylist(), streams.dictionary.to_pylist()
        lists: dict[tuple[str, str], list[bool]] = {}
        for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
            g = int(group[lo])
            lists[(key_names[g // len(stream_names)], stream_names[g % len(stream_names)])] = passed[lo:hi].tolist()
        for (key, stream), verdicts in sorted(lists.items()):
            self.tally.evaluate(key_scope(key), (stream, DUPLICATE_RULE, "drop"), verdicts)

    @staticmethod
    def _late_rows(out: DeviceOutput, stream: str, late: pa.Table, watermark: pa.Array, now: int) -> None:
        n = late.num_rows
        columns = {
            **_columns(late), "key": pc.fill_null(late[RECORD_KEY], ""),
            "stream": pa.repeat(pa.scalar(stream, pa.string()), n), "watermark": watermark,
            "reason": pa.repeat(pa.scalar(LATE_REASON, pa.string()), n),
            "detected_at": pa.repeat(pa.scalar(now, pa.int64()), n),
        }  # fmt: skip
        table = _table(_LATE_TABLE, columns)
        out.tables[_LATE_TABLE] = (
            pa.concat_tables([out.tables[_LATE_TABLE], table]) if _LATE_TABLE in out.tables else table
        )

    def _on_time(self, stream: str, on_time: pa.Table, now: int, out: DeviceOutput) -> pa.Table:
        """A stream's on-time events: their facts and silver rows; their session members (``row`` first)."""
        if stream == "visual":
            return self._frames(on_time, out)
        if stream == "stt":
            return self._utterances(on_time, out)
        payloads = on_time["payload"].to_pylist()
        if stream == "heartbeat":
            for (store, device, ts, eid), payload in zip(_heads(on_time), payloads, strict=True):
                out.facts.append(HeartbeatFact(store, device, ts, eid, cast(HeartbeatV1, decode_event(payload))))
            out.tables[_HEARTBEAT_TABLE] = self._heartbeat_table(on_time, now)
        else:
            for (store, device, ts, eid), payload in zip(_heads(on_time), payloads, strict=True):
                out.facts.append(FeedbackFact(store, device, ts, eid, cast(FeedbackV1, decode_event(payload))))
        return _MEMBER_ROWS.empty_table()

    def _frames(self, frames: pa.Table, out: DeviceOutput) -> pa.Table:
        labels = frames["labels"]
        flat, owner = pc.list_flatten(labels), pc.list_parent_indices(labels)
        people = np.bincount(
            pc.filter(owner, pc.is_in(flat, value_set=_PEOPLE)).to_numpy(), minlength=frames.num_rows
        ).astype(np.int64)
        is_brand = pc.starts_with(flat, "brand:")
        brand_owner = pc.filter(owner, is_brand).to_numpy()
        brand = pc.utf8_slice_codeunits(pc.filter(flat, is_brand), 6).to_pylist()
        offsets = np.searchsorted(brand_owner, np.arange(frames.num_rows + 1))
        brands = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(brand, pa.string()))
        if len(brand):
            with_brands = np.flatnonzero(np.diff(offsets))
            heads = _heads(frames.take(with_brands))
            for (store, device, ts, eid), i in zip(heads, with_brands, strict=True):
                out.facts.append(SightingFact(store, device, ts, eid, tuple(brand[offsets[i] : offsets[i + 1]])))
        members = frames.filter(pa.array(people > 0))
        m = members.num_rows
        if not m:
            return _MEMBER_ROWS.empty_table()
        return pa.table({
            ROW: members[ROW], "key": members["device_id"], "start": members["ts"], "end": members["ts"],
            "event_id": members["event_id"], "kind": pa.repeat(pa.scalar("frame", pa.string()), m),
            "store_id": members["store_id"], "device_id": members["device_id"],
            "people": pa.array(people[people > 0]), "transcript": pa.repeat(pa.scalar("", pa.string()), m),
            "lang": pa.repeat(pa.scalar("", pa.string()), m), "noted": pa.repeat(False, m),
            "greeting": pa.repeat(False, m),
            "question": pa.repeat(False, m), "mentioned": pa.repeat(pa.scalar([], pa.list_(pa.string())), m),
            "sentiment": pa.repeat(0.0, m), "n_words": pa.repeat(pa.scalar(0, pa.int64()), m),
            "brands_seen": brands.filter(pa.array(people > 0)),
        }, schema=_MEMBER_ROWS)  # fmt: skip

    def _utterances(self, stt: pa.Table, out: DeviceOutput) -> pa.Table:
        rows = stt.select(["store_id", "device_id", "ts", "event_id", "transcript", "lang"]).to_pylist()
        notes = [self.lexicon.annotate(r["transcript"]) for r in rows]
        for r, note in zip(rows, notes, strict=True):
            out.facts.append(UtteranceFact(r["store_id"], r["device_id"], r["ts"], r["event_id"], note, r["lang"]))
        n = stt.num_rows
        return pa.table({
            ROW: stt[ROW], "key": stt["device_id"], "start": stt["ts"],
            "end": pc.add(stt["ts"], stt["duration_ms"].cast(pa.int64())), "event_id": stt["event_id"],
            "kind": pa.repeat(pa.scalar("utterance", pa.string()), n), "store_id": stt["store_id"],
            "device_id": stt["device_id"], "people": pa.repeat(pa.scalar(0, pa.int64()), n),
            "transcript": stt["transcript"],
            "lang": stt["lang"], "noted": pa.repeat(True, n), "greeting": pa.array([a.greeting for a in notes]),
            "question": pa.array([a.question for a in notes]),
            "mentioned": pa.array([list(a.brands) for a in notes], pa.list_(pa.string())),
            "sentiment": pa.array([a.sentiment for a in notes], pa.float64()),
            "n_words": pa.array([a.n_words for a in notes], pa.int64()),
            "brands_seen": pa.repeat(pa.scalar([], pa.list_(pa.string())), n),
        }, schema=_MEMBER_ROWS)  # fmt: skip

    def _heartbeat_table(self, hb: pa.Table, now: int) -> pa.Table:
        cfg = self.cfg
        hot = pc.fill_null(pc.greater_equal(hb["cpu_temp_c"], cfg.hot_temp_c), False)
        status = pc.if_else(
            hot, "HOT", pc.if_else(pc.less(hb["disk_free_mb"], cfg.low_disk_mb), "LOW_DISK",
                                   pc.if_else(pc.greater(hb["outbox_depth"], cfg.backlog_depth), "BACKLOG", "OK")),
        )  # fmt: skip
        return _table(
            _HEARTBEAT_TABLE,
            {**_columns(hb), "status": status, "processed_at": pa.repeat(pa.scalar(now, pa.int64()), hb.num_rows)},
        )

    @staticmethod
    def _activity(on_time: pa.Table, out: DeviceOutput) -> None:
        """One fact per (store, device, hour) with an on-time stt, visual or heartbeat event."""
        ts = on_time["ts"].to_numpy()
        hours = pa.table(
            {"store_id": on_time["store_id"], "device_id": on_time["device_id"], "hour": ts - ts % HOUR_MS}
        )
        for r in hours.group_by(["store_id", "device_id", "hour"]).aggregate([]).to_pylist():
            out.facts.append(ActivityFact(r["store_id"], r["device_id"], r["hour"], ""))

    def _emit(self, closed: Closed, now: int, out: DeviceOutput) -> None:
        if not closed.interactions:
            return
        out.tables[_ANNOTATED_TABLE] = annotated_table(closed, now)
        for it in closed.interactions:
            out.rows.add(interaction_row(it, now))
            out.facts.append(InteractionFact(it.store_id, it.device_id, it.started_at, it.interaction_id, it))


def _heads(table: pa.Table) -> list[tuple[str, str, int, str]]:
    """Where and when of each row: ``(store_id, device_id, ts, event_id)``, what every fact starts with."""
    return list(zip(*(table[c].to_pylist() for c in ("store_id", "device_id", "ts", "event_id")), strict=True))


def _columns(table: pa.Table) -> dict[str, Any]:
    return {name: table[name] for name in table.column_names}
