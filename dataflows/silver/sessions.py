"""Event-time session windows over one device's utterances and people frames.

Each member covers ``[start, end]`` (an utterance lasts ``duration_ms``, a
frame is an instant). Two members belong to one session when the gap between
their intervals is at most ``gap_ms``; a session closes once the watermark
has passed ``end + gap_ms``, after which no on-time member can join it.

>>> w = SessionWindows(gap_ms=30_000)
>>> for i, t in enumerate([0, 20_000, 100_000, 45_000]):
...     w.add(Member(start=t, end=t, event_id=f"e{i}", kind="frame", people=1))
>>> [(s.start, s.end, len(s.members)) for s in w.close_until(watermark=200_000)]
[(0, 45000, 3), (100000, 100000, 1)]
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from dataflows.silver.annotate import Annotation


@dataclass(slots=True)
class Member:
    """One utterance or people frame inside a session."""

    start: int
    end: int
    event_id: str
    kind: str  # "utterance" | "frame"
    store_id: str = ""
    device_id: str = ""
    people: int = 0
    transcript: str = ""
    lang: str = ""
    annotation: Annotation | None = None
    brands_seen: tuple[str, ...] = ()


@dataclass(slots=True)
class Session:
    start: int
    end: int
    members: list[Member] = field(default_factory=list)


class SessionWindows:
    """Open sessions of one device; merges on bridging members."""

    __slots__ = ("gap_ms", "open")

    def __init__(self, gap_ms: int) -> None:
        self.gap_ms = gap_ms
        self.open: list[Session] = []

    def add(self, m: Member) -> None:
        gap = self.gap_ms
        if len(self.open) == 1:  # the common case: one open session, which m joins or not
            only = self.open[0]
            if only.start - gap <= m.end and m.start <= only.end + gap:
                only.members.append(m)
                only.start = min(only.start, m.start)
                only.end = max(only.end, m.end)
                return
        touching = [s for s in self.open if s.start - gap <= m.end and m.start <= s.end + gap]
        if not touching:
            self.open.append(Session(m.start, m.end, [m]))
            return
        target = touching[0]
        target.members.append(m)
        target.start = min(target.start, m.start)
        target.end = max(target.end, m.end)
        for other in touching[1:]:
            target.members.extend(other.members)
            target.start = min(target.start, other.start)
            target.end = max(target.end, other.end)
            self.open.remove(other)

    def close_until(self, watermark: int) -> list[Session]:
        """Remove and return (by start) every session that can no longer grow."""
        limit = watermark - self.gap_ms
        closed = [s for s in self.open if s.end < limit]
        if closed:
            self.open = [s for s in self.open if s.end >= limit]
            closed.sort(key=lambda s: s.start)
        return closed

    def flush(self) -> list[Session]:
        closed, self.open = sorted(self.open, key=lambda s: s.start), []
        return closed


def interaction_id(device_id: str, started_at: int, first_event_id: str) -> str:
    """Deterministic id of a session: same members, same id (also under replay).

    >>> interaction_id("SCOUTPI-0001", 1747641601250, "e-1")
    'd8388b0f1bd227b0'
    """
    return hashlib.sha1(f"{device_id}|{started_at}|{first_event_id}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Interaction:
    """A closed session, summarised (one ``silver_multimodal_aligned`` row)."""

    interaction_id: str
    store_id: str
    device_id: str
    started_at: int
    ended_at: int
    n_utterances: int
    n_frames: int
    max_people: int
    n_words: int
    transcript: str
    brands_mentioned: tuple[str, ...]
    brands_seen: tuple[str, ...]
    greeted: bool
    asked: bool
    sentiment: float
    members: tuple[Member, ...]

    @property
    def has_speech(self) -> bool:
        return self.n_utterances > 0

    @property
    def has_vision(self) -> bool:
        return self.n_frames > 0

    @property
    def dwell_ms(self) -> int:
        return self.ended_at - self.started_at


def summarise(session: Session) -> Interaction:
    """Turn a closed session into an :class:`Interaction`."""
    members = sorted(session.members, key=lambda m: (m.start, m.event_id))
    first = members[0]
    utterances = [m for m in members if m.kind == "utterance"]
    frames = [m for m in members if m.kind == "frame"]
    notes = [m.annotation for m in utterances if m.annotation is not None]
    return Interaction(
        interaction_id=interaction_id(first.device_id, session.start, first.event_id),
        store_id=first.store_id,
        device_id=first.device_id,
        started_at=session.start,
        ended_at=session.end,
        n_utterances=len(utterances),
        n_frames=len(frames),
        max_people=max((m.people for m in frames), default=0),
        n_words=sum(a.n_words for a in notes),
        transcript=" ".join(m.transcript for m in utterances if m.transcript),
        brands_mentioned=tuple(sorted({b for a in notes for b in a.brands})),
        brands_seen=tuple(sorted({b for m in frames for b in m.brands_seen})),
        greeted=any(a.greeting for a in notes),
        asked=any(a.question for a in notes),
        sentiment=sum(a.sentiment for a in notes) / len(notes) if notes else 0.0,
        members=tuple(members),
    )
