"""Per-key event clock: dedup, lateness, bronze rows and the speech/vision join.

One :class:`DeviceClock` exists per device (or per ``store/<id>`` for advisor
feedback). It keeps an event-time clock per stream group — ``join`` (stt and
visual), ``heartbeat``, ``feedback`` — with bounded out-of-orderness:

* watermark = newest event time seen in the group − ``out_of_orderness``;
* an event older than the watermark is *late*: it goes to ``late_events`` and
  to bronze marked ``late`` (bronze keeps every accepted event), and counts in
  no window or session;
* an ``event_id`` seen before (and still newer than the watermark) is a
  duplicate: counted in ``dq_rule_metrics`` and not processed twice.

Everything here is plain Python; :mod:`dataflows.flow` wraps it for Bytewax.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import msgspec

from dataflows.bronze.validate import Accepted
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Annotation, Lexicon
from dataflows.silver.sessions import Interaction, Member, Session, SessionWindows, summarise
from dataflows.tables import (
    AnnotatedRow,
    BronzeFeedbackRow,
    BronzeHeartbeatRow,
    BronzeSttRow,
    BronzeVisualRow,
    DqRow,
    HeartbeatRow,
    InteractionRow,
    LateRow,
    TableRows,
)
from scout_contract import AnnotatedV1, FeedbackV1, HeartbeatV1, SttV1, SttV2, VisualV1
from scout_contract.events import SCHEMAS
from scout_contract.streams import STREAMS

HOUR_MS = 3_600_000
DUPLICATE_RULE = "unique_event_id"
_GROUP = {s.name: s.clock_group for s in STREAMS}


class Fact(msgspec.Struct, frozen=True, gc=False):
    """Something a gold window needs to know, produced by the per-key stage.

    A msgspec struct: one is made for most events, and it is built about four times
    faster than a frozen dataclass (it holds no cycles, so the collector skips it)."""

    kind: str  # utterance | sighting | activity | heartbeat | feedback | interaction
    store_id: str
    device_id: str
    ts: int
    event_id: str
    data: object = None


@dataclass
class KeyOutput:
    rows: TableRows = field(default_factory=TableRows)
    facts: list[Fact] = field(default_factory=list)


def heartbeat_status(hb: HeartbeatV1, cfg: WindowConfig) -> str:
    """Derived status of one heartbeat (``silver_device_heartbeat.status``)."""
    if hb.cpu_temp_c is not None and hb.cpu_temp_c >= cfg.hot_temp_c:
        return "HOT"
    if hb.disk_free_mb < cfg.low_disk_mb:
        return "LOW_DISK"
    if hb.outbox_depth > cfg.backlog_depth:
        return "BACKLOG"
    return "OK"


_TAGS: dict[type, str] = {}


def _schema(event: object) -> str:
    """The schema tag of an event (cached per type: strict subclasses share their base's tag)."""
    kind = type(event)
    tag = _TAGS.get(kind)
    if tag is None:
        found = kind.__struct_config__.tag  # type: ignore[attr-defined]
        if not isinstance(found, str) or found not in SCHEMAS:
            raise TypeError(f"not a contract event: {kind.__name__}")
        tag = _TAGS[kind] = found
    return tag


class DeviceClock:
    """State and logic for one key. Picklable (it is the recovery snapshot)."""

    def __init__(self, cfg: WindowConfig, lexicon: Lexicon) -> None:
        self.cfg = cfg
        self.lexicon = lexicon
        self.max_ts: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        self.sessions = SessionWindows(cfg.session_gap_ms)

    def watermark(self, group: str) -> int | None:
        newest = self.max_ts.get(group)
        return None if newest is None else newest - self.cfg.out_of_orderness_ms

    def process(self, batch: list[Accepted], now_ms: int) -> KeyOutput:
        out = KeyOutput()
        rows = out.rows
        active: set[tuple[str, str, int]] = set()
        duplicates: dict[str, int] = {}
        on_time: dict[str, int] = {}
        ooo = self.cfg.out_of_orderness_ms
        for acc in batch:
            group = _GROUP[acc.stream]
            newest = self.max_ts.get(group)
            if newest is not None and acc.ts_ms < newest - ooo:
                rows.add(self._late_row(acc, newest - ooo, now_ms))
                rows.add(bronze_row(acc, now_ms, late=True))  # bronze keeps every accepted event
                continue
            if acc.event.event_id in self.seen:
                duplicates[acc.stream] = duplicates.get(acc.stream, 0) + 1
                continue
            on_time[acc.stream] = on_time.get(acc.stream, 0) + 1
            self.seen[acc.event.event_id] = acc.ts_ms
            if newest is None or acc.ts_ms > newest:
                self.max_ts[group] = acc.ts_ms
            self._accept(acc, now_ms, out, active)
        for store_id, device_id, hour in active:
            out.facts.append(Fact("activity", store_id, device_id, hour, ""))
        minute = now_ms - now_ms % 60_000
        for stream in on_time.keys() | duplicates.keys():
            rows.add(DqRow(minute, stream, DUPLICATE_RULE, "drop", on_time.get(stream, 0), duplicates.get(stream, 0)))
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
        marks = {g: self.watermark(g) for g in self.max_ts}
        low = min((m for m in marks.values() if m is not None), default=None)
        if low is None or len(self.seen) < 64:
            return
        self.seen = {eid: ts for eid, ts in self.seen.items() if ts >= low}

    def _accept(self, acc: Accepted, now: int, out: KeyOutput, active: set[tuple[str, str, int]]) -> None:
        ts = acc.ts_ms
        hour = ts - ts % HOUR_MS
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
                out.facts.append(Fact("sighting", vis.store_id, vis.device_id, ts, vis.event_id, brands))
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
            out.facts.append(Fact("utterance", stt.store_id, stt.device_id, ts, stt.event_id, (note, stt.lang)))
            active.add((stt.store_id, stt.device_id, hour))
        elif stream == "heartbeat":
            hb = cast(HeartbeatV1, acc.event)
            out.rows.add(bronze_row(acc, now, late=False))
            out.rows.add(
                HeartbeatRow(
                    hb.event_id, hb.device_id, hb.store_id, ts, hb.cpu_pct, hb.mem_pct, hb.cpu_temp_c,
                    hb.disk_free_mb, hb.outbox_depth, hb.interval_s, hb.models, hb.sw_version,
                    heartbeat_status(hb, self.cfg), now,
                ),
            )  # fmt: skip
            out.facts.append(Fact("heartbeat", hb.store_id, hb.device_id, ts, hb.event_id, hb))
            active.add((hb.store_id, hb.device_id, hour))
        else:
            fb = cast(FeedbackV1, acc.event)
            out.rows.add(bronze_row(acc, now, late=False))
            out.facts.append(Fact("feedback", fb.store_id, fb.device_id, ts, fb.event_id, fb))

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
            out.facts.append(Fact("interaction", it.store_id, it.device_id, it.started_at, it.interaction_id, it))


BronzeRow = BronzeSttRow | BronzeVisualRow | BronzeHeartbeatRow | BronzeFeedbackRow

#: ``_row(RowClass, values)`` builds a row from its values in field order without calling the
#: NamedTuple's ``__new__``, a Python function (half the time of ``RowClass(*values)``). Used
#: for the rows made per event; ``tests/dataflows/silver/test_device.py`` checks their width.
_row = tuple.__new__


def bronze_row(acc: Accepted, now: int, late: bool, labels: list[str] | None = None) -> BronzeRow:
    """The bronze row of an accepted event (``late``: after its key's watermark;
    ``labels``: a visual event's detection labels, when the caller has them already)."""
    rec = acc.record
    coords = (rec.topic, rec.partition, rec.offset, rec.timestamp_ms, now, late)
    warnings = list(acc.warnings)
    ts = acc.ts_ms
    stream = acc.stream  # most frequent first
    if stream == "visual":
        vis = cast(VisualV1, acc.event)
        if labels is None:
            labels = [d.label for d in vis.detections]
        return _row(BronzeVisualRow, (
            vis.event_id, vis.device_id, vis.store_id, ts, _schema(vis), vis.frame_id, vis.width,
            vis.height, vis.model_version, labels, warnings, rec.value, *coords,
        ))  # fmt: skip
    if stream == "stt":
        stt = cast(SttV1 | SttV2, acc.event)
        return _row(BronzeSttRow, (
            stt.event_id, stt.device_id, stt.store_id, ts, _schema(stt), stt.duration_ms,
            stt.transcript, stt.confidence, stt.lang, stt.engine, stt.model_version,
            len(stt.words) if stt.words is not None else None,
            stt.audio_url if isinstance(stt, SttV1) else None,
            warnings, rec.value, *coords,
        ))  # fmt: skip
    if stream == "heartbeat":
        hb = cast(HeartbeatV1, acc.event)
        return _row(BronzeHeartbeatRow, (
            hb.event_id, hb.device_id, hb.store_id, ts, _schema(hb), hb.uptime_s, hb.cpu_pct,
            hb.mem_pct, hb.cpu_temp_c, hb.disk_free_mb, hb.outbox_depth, hb.models, hb.sw_version,
            hb.interval_s, warnings, rec.value, *coords,
        ))  # fmt: skip
    fb = cast(FeedbackV1, acc.event)
    return _row(BronzeFeedbackRow, (
        fb.event_id, fb.device_id, fb.store_id, ts, _schema(fb), fb.insight_id, fb.advisor_id,
        fb.insight_type, fb.action, fb.comment, warnings, rec.value, *coords,
    ))  # fmt: skip


def interaction_row(it: Interaction, now: int) -> InteractionRow:
    return InteractionRow(
        it.interaction_id, it.store_id, it.device_id, it.started_at, it.ended_at, it.dwell_ms,
        it.n_utterances, it.n_frames, it.max_people, it.n_words, it.transcript,
        list(it.brands_mentioned), list(it.brands_seen), it.greeted, it.asked, it.sentiment,
        it.has_speech, it.has_vision, now,
    )  # fmt: skip


_NO_NOTE = Annotation(False, False, (), 0.0, 0)


def _member_tags(it: Interaction) -> Iterator[tuple[Member, Annotation, list[str]]]:
    """Each member with its tags; brands are those mentioned (utterance) or seen (frame)."""
    for m in it.members:
        note = m.annotation or _NO_NOTE
        yield m, note, list(note.brands) if m.kind == "utterance" else list(m.brands_seen)


#: ``interaction_id`` of the tags of a session that is still open (see :meth:`DeviceClock.hold`).
PENDING = ""


def annotated_rows(it: Interaction, now: int, interaction_id: str | None = None) -> list[AnnotatedRow]:
    """``silver_annotated_events`` rows of a session (closed, unless ``interaction_id`` is :data:`PENDING`)."""
    return [
        _row(
            AnnotatedRow,
            (
                it.interaction_id if interaction_id is None else interaction_id,
                m.event_id,
                it.store_id,
                it.device_id,
                m.start,
                m.kind,
                note.greeting,
                note.question,
                brands,
                m.people,
                note.sentiment,
                m.lang,
                note.n_words,
                now,
            ),
        )
        for m, note, brands in _member_tags(it)
    ]


def annotated_events(it: Interaction) -> list[AnnotatedV1]:
    """The same tags as contract events, for the ``eh-pi-annotated-events`` topic."""
    return [
        AnnotatedV1(
            event_id=m.event_id,
            device_id=it.device_id,
            store_id=it.store_id,
            ts=datetime.fromtimestamp(m.start / 1000, UTC),
            interaction_id=it.interaction_id,
            kind="utterance" if m.kind == "utterance" else "frame",
            greeting=note.greeting,
            question=note.question,
            brands=brands,
            people=m.people,
            sentiment=note.sentiment,
            lang=m.lang,
            n_words=note.n_words,
        )
        for m, note, brands in _member_tags(it)
    ]
