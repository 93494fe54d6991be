"""Per-key event clock: dedup, lateness, bronze rows and the speech/vision join.

One :class:`DeviceClock` exists per device (or per ``store/<id>`` for advisor
feedback). It keeps an event-time clock per stream group — ``join`` (stt and
visual), ``heartbeat``, ``feedback`` — with bounded out-of-orderness:

* watermark = newest event time seen in the group − ``out_of_orderness``;
* an event older than the watermark is *late*: it goes to ``late_events`` and
  to bronze marked ``late`` (bronze keeps every accepted event), and counts in
  no window or session;
* an ``event_id`` seen before in the group, whose first event is still no older
  than the watermark, is a duplicate: counted in ``dq_rule_metrics`` (per block of
  the key's evaluations, :mod:`dataflows.rule_tally`) and not processed twice. An
  id whose first event the watermark has passed is a new event (its first event
  time, compared with the watermark, decides; not whether a batch has pruned it
  yet, so the verdict does not depend on how the input was batched). Each
  group remembers its ids only down to its own watermark, so the memory is
  bounded by the out-of-orderness window of each group — a group that stalls
  (heartbeats that stop) keeps its few ids, not every other group's.

Its recovery snapshot is a :class:`ClockState`: a versioned copy of the data
(newest event times, the event ids still remembered, the open sessions) and
nothing else — the configuration and the lexicon are the resuming run's.

Everything here is plain Python; :mod:`dataflows.flow` wraps it for Bytewax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from dataflows.bronze.rows import bronze_row
from dataflows.bronze.validate import Accepted
from dataflows.config import WindowConfig
from dataflows.rule_tally import Blocks, RuleTally, ScopeRule, key_scope
from dataflows.silver.annotate import Lexicon
from dataflows.silver.facts import (
    ActivityFact,
    Fact,
    FeedbackFact,
    HeartbeatFact,
    InteractionFact,
    SightingFact,
    UtteranceFact,
)
from dataflows.silver.rows import PENDING, annotated_rows, heartbeat_row, interaction_row
from dataflows.silver.sessions import Member, Session, SessionWindows, summarise
from dataflows.tables import LateRow, TableRows
from dataflows.timegrid import hour_start
from scout_contract import FeedbackV1, HeartbeatV1, SttV1, SttV2, VisualV1
from scout_contract.streams import STREAMS

DUPLICATE_RULE = "unique_event_id"
_GROUP = {s.name: s.clock_group for s in STREAMS}

#: Version of :class:`ClockState`; a recovery store holding another is refused (exit 2).
CLOCK_STATE_VERSION = 2  # 2: the duplicate rule's counts per block (dataflows/rule_tally.py)


@dataclass(frozen=True, slots=True)
class ClockState:
    """A :class:`DeviceClock`'s data at a snapshot: a copy, never changed by the clock afterwards."""

    #: stream group → newest on-time event time (ms)
    max_ts: dict[str, int]
    #: stream group → event id → event time (ms), for the ids still newer than the group's watermark
    seen: dict[str, dict[str, int]]
    #: the open sessions (their member lists are copies; members are never changed once added)
    sessions: tuple[Session, ...]
    #: the duplicate rule's counts of the newest blocks of the key's evaluations
    rule_counts: dict[ScopeRule, Blocks] = field(default_factory=dict)
    version: int = CLOCK_STATE_VERSION


def _copy_sessions(sessions: list[Session] | tuple[Session, ...]) -> list[Session]:
    return [Session(s.start, s.end, list(s.members)) for s in sessions]


@dataclass
class KeyOutput:
    rows: TableRows = field(default_factory=TableRows)
    facts: list[Fact] = field(default_factory=list)
    #: the oldest record timestamp of the batch (its arrival, for a broker stamping it): from when the gold
    #: rows its facts change could be known (``scout_gold_visible_seconds``); ``None`` for a flush
    arrived: int | None = None


class DeviceClock:
    """State and logic for one key; :meth:`snapshot` and :meth:`restore` move its data across a resume."""

    def __init__(self, cfg: WindowConfig, lexicon: Lexicon) -> None:
        self.cfg = cfg
        self.lexicon = lexicon
        self.max_ts: dict[str, int] = {}
        self.seen: dict[str, dict[str, int]] = {}
        self.sessions = SessionWindows(cfg.session_gap_ms)
        self.tally = RuleTally()

    def snapshot(self) -> ClockState:
        """A copy of the data (what Bytewax pickles, possibly later: nothing in it is shared)."""
        seen = {group: dict(ids) for group, ids in self.seen.items()}
        return ClockState(dict(self.max_ts), seen, tuple(_copy_sessions(self.sessions.open)), self.tally.copy())

    def restore(self, state: ClockState) -> None:
        """Take the data of a snapshot (copied again: the snapshot stays as it was)."""
        self.max_ts = dict(state.max_ts)
        self.seen = {group: dict(ids) for group, ids in state.seen.items()}
        self.sessions = SessionWindows(self.cfg.session_gap_ms)
        self.sessions.open = _copy_sessions(state.sessions)
        self.tally = RuleTally(state.rule_counts)

    def watermark(self, group: str) -> int | None:
        newest = self.max_ts.get(group)
        return None if newest is None else newest - self.cfg.out_of_orderness_ms

    def process(self, batch: list[Accepted], now_ms: int) -> KeyOutput:
        out = KeyOutput(arrived=min(acc.record.timestamp_ms for acc in batch) if batch else None)
        rows = out.rows
        active: set[tuple[str, str, int]] = set()
        verdicts: dict[str, list[bool]] = {}  # stream → duplicate rule passed, in order
        ooo = self.cfg.out_of_orderness_ms
        for acc in batch:
            group = _GROUP[acc.stream]
            newest = self.max_ts.get(group)
            if newest is not None and acc.ts_ms < newest - ooo:
                rows.add(self._late_row(acc, newest - ooo, now_ms))
                rows.add(bronze_row(acc, now_ms, late=True))  # bronze keeps every accepted event
                continue
            seen = self.seen.get(group)
            if seen is None:
                seen = self.seen[group] = {}
            else:  # a duplicate of an id still newer than the watermark (not yet pruned is not enough)
                first = seen.get(acc.event.event_id)
                if first is not None and newest is not None and first >= newest - ooo:
                    verdicts.setdefault(acc.stream, []).append(False)
                    continue
            verdicts.setdefault(acc.stream, []).append(True)
            seen[acc.event.event_id] = acc.ts_ms
            if newest is None or acc.ts_ms > newest:
                self.max_ts[group] = acc.ts_ms
            self._accept(acc, now_ms, out, active)
        for store_id, device_id, hour in active:
            out.facts.append(ActivityFact(store_id, device_id, hour, ""))
        if verdicts:
            scope = key_scope(batch[0].key)
            for stream, stream_verdicts in sorted(verdicts.items()):
                self.tally.evaluate(scope, (stream, DUPLICATE_RULE, "drop"), stream_verdicts)
            rows.extend(self.tally.rows(now_ms))
        self._forget_seen()
        wm = self.watermark("join")
        if wm is not None:
            self._emit_sessions(self.sessions.close_until(wm), now_ms, out)
        return out

    def flush(self, now_ms: int) -> KeyOutput:
        """End of input: close every open session."""
        out = KeyOutput()
        self._emit_sessions(self.sessions.flush(), now_ms, out)
        return out

    def hold(self, now_ms: int) -> KeyOutput:
        """End of input of a resumable run: open sessions stay open (a resumed run
        continues them). Their members' tags are written to ``silver_annotated_events``
        with an empty ``interaction_id`` (pending); the final rows, written when the
        session closes, replace them (same key, newer ``processed_at``)."""
        out = KeyOutput()
        for session in self.sessions.open:
            out.rows.extend(annotated_rows(summarise(session), now_ms, PENDING))
        return out

    # -- internals -----------------------------------------------------------

    def _forget_seen(self) -> None:
        for group, seen in self.seen.items():
            low = self.watermark(group)
            if low is not None and len(seen) >= 64:
                self.seen[group] = {eid: ts for eid, ts in seen.items() if ts >= low}

    def _accept(self, acc: Accepted, now: int, out: KeyOutput, active: set[tuple[str, str, int]]) -> None:
        ts = acc.ts_ms
        hour = hour_start(ts)
        stream = acc.stream  # dispatch on the stream, most frequent first
        if stream == "visual":
            vis = cast(VisualV1, acc.event)
            if vis.detections:
                labels = [d.label for d in vis.detections]
                brands = tuple([lbl[6:] for lbl in labels if lbl[:6] == "brand:"])
                people = labels.count("face") + labels.count("person")
            else:  # an empty frame
                labels, brands, people = [], (), 0
            out.rows.add(bronze_row(acc, now, late=False, labels=labels))
            if people:
                # positional: Member's fields in order (start, end, event_id, kind, store_id,
                # device_id, people, transcript, lang, annotation, brands_seen)
                self.sessions.add(
                    Member(ts, ts, vis.event_id, "frame", vis.store_id, vis.device_id, people, "", "", None, brands)
                )
            if brands:
                out.facts.append(SightingFact(vis.store_id, vis.device_id, ts, vis.event_id, brands))
            active.add((vis.store_id, vis.device_id, hour))
        elif stream == "stt":
            stt = cast(SttV1 | SttV2, acc.event)
            note = self.lexicon.annotate(stt.transcript)
            out.rows.add(bronze_row(acc, now, late=False))
            self.sessions.add(
                Member(
                    start=ts, end=ts + stt.duration_ms, event_id=stt.event_id, kind="utterance",
                    store_id=stt.store_id, device_id=stt.device_id, transcript=stt.transcript, lang=stt.lang,
                    annotation=note,
                )
            )  # fmt: skip
            out.facts.append(UtteranceFact(stt.store_id, stt.device_id, ts, stt.event_id, note, stt.lang))
            active.add((stt.store_id, stt.device_id, hour))
        elif stream == "heartbeat":
            hb = cast(HeartbeatV1, acc.event)
            out.rows.add(bronze_row(acc, now, late=False))
            out.rows.add(heartbeat_row(hb, ts, self.cfg, now))
            out.facts.append(HeartbeatFact(hb.store_id, hb.device_id, ts, hb.event_id, hb))
            active.add((hb.store_id, hb.device_id, hour))
        else:
            fb = cast(FeedbackV1, acc.event)
            out.rows.add(bronze_row(acc, now, late=False))
            out.facts.append(FeedbackFact(fb.store_id, fb.device_id, ts, fb.event_id, fb))

    @staticmethod
    def _late_row(acc: Accepted, watermark: int, now: int) -> LateRow:
        ev, rec = acc.event, acc.record
        return LateRow(
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
            record_ts=rec.timestamp_ms,
            key=rec.key or "",
            stream=acc.stream,
            event_id=ev.event_id,
            device_id=ev.device_id,
            store_id=ev.store_id,
            ts=acc.ts_ms,
            watermark=watermark,
            reason="event time older than the key's watermark",
            payload=rec.value,
            detected_at=now,
        )

    def _emit_sessions(self, sessions: list[Session], now: int, out: KeyOutput) -> None:
        for session in sessions:
            it = summarise(session)
            out.rows.add(interaction_row(it, now))
            out.rows.extend(annotated_rows(it, now))
            out.facts.append(InteractionFact(it.store_id, it.device_id, it.started_at, it.interaction_id, it))
