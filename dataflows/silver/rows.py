"""Silver rows and topic events: closed sessions, their members' tags, heartbeats with a status.

Built by the per-key stage (:mod:`dataflows.silver.event_clock`) from the sessions
(:mod:`dataflows.silver.sessions`) and the lexicon's tags (:mod:`dataflows.silver.annotate`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from dataflows.config import WindowConfig
from dataflows.silver.annotate import Annotation
from dataflows.silver.sessions import Interaction, Member
from dataflows.tables import AnnotatedRow, HeartbeatRow, InteractionRow, build_row
from scout_contract import AnnotatedV1, HeartbeatV1


def heartbeat_status(hb: HeartbeatV1, cfg: WindowConfig) -> str:
    """Derived status of one heartbeat (``silver_device_heartbeat.status``)."""
    if hb.cpu_temp_c is not None and hb.cpu_temp_c >= cfg.hot_temp_c:
        return "HOT"
    if hb.disk_free_mb < cfg.low_disk_mb:
        return "LOW_DISK"
    if hb.outbox_depth > cfg.backlog_depth:
        return "BACKLOG"
    return "OK"


def heartbeat_row(hb: HeartbeatV1, ts: int, cfg: WindowConfig, now: int) -> HeartbeatRow:
    """The ``silver_device_heartbeat`` row of an on-time heartbeat (``ts``: its event time in ms)."""
    return HeartbeatRow(
        hb.event_id, hb.device_id, hb.store_id, ts, hb.cpu_pct, hb.mem_pct, hb.cpu_temp_c,
        hb.disk_free_mb, hb.outbox_depth, hb.interval_s, hb.models, hb.sw_version,
        heartbeat_status(hb, cfg), now,
    )  # fmt: skip


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


#: ``interaction_id`` of the tags of a session that is still open
#: (see :meth:`~dataflows.silver.event_clock.DeviceClock.hold`).
PENDING = ""


def annotated_rows(it: Interaction, now: int, interaction_id: str | None = None) -> list[AnnotatedRow]:
    """``silver_annotated_events`` rows of a session (closed, unless ``interaction_id`` is :data:`PENDING`)."""
    return [
        build_row(
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
