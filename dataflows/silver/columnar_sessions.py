"""Session windows of many keys over whole batches: the columnar form of
:class:`~dataflows.silver.sessions.SessionWindows`, :func:`~dataflows.silver.sessions.summarise`
and :func:`~dataflows.silver.rows.annotated_rows`.

A session's members (utterances and people frames) are rows of an Arrow table
(:data:`MEMBER_SCHEMA`), one per member, never a Python object each. Which members form a
session, and when it closes, is decided by a kernel that sees only each member's key, span and
handle: the compiled one (``scout_decode.Sessions``, the Rust crate in
``dataflows/bronze/native``, module ``sessions``), or, on a machine without it,
:class:`PySessions`, which is ``SessionWindows`` itself. The members of open sessions wait in a
table; a closed session's members are taken out of it, summarised into one
:class:`~dataflows.silver.sessions.Interaction` per session (Python per *session*: few) and
tagged as ``silver_annotated_events`` rows in an Arrow table (:func:`annotated_table`).

``tests/dataflows/silver/test_columnar_sessions.py`` holds both kernels to ``SessionWindows`` +
``summarise`` + ``annotated_rows``: the same sessions, interactions and annotated rows, on
hypothesis-generated members of several keys, batched and resumed anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflows.bronze.columnar import le_bytes, le_values
from dataflows.silver.annotate import Annotation
from dataflows.silver.sessions import Interaction, Member, Session, SessionWindows, interaction_id
from dataflows.tables import TABLE_OF, TABLES, AnnotatedRow

#: A member of a session, as a row (``noted``: it has lexicon tags; without, the tag columns hold
#: :data:`~dataflows.silver.rows._NO_NOTE`'s values: no greeting, no question, no brands, 0, 0).
MEMBER_SCHEMA = pa.schema([
    ("key", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("event_id", pa.string()),
    ("kind", pa.string()), ("store_id", pa.string()), ("device_id", pa.string()), ("people", pa.int64()),
    ("transcript", pa.string()), ("lang", pa.string()), ("noted", pa.bool_()), ("greeting", pa.bool_()),
    ("question", pa.bool_()), ("mentioned", pa.list_(pa.string())), ("sentiment", pa.float64()),
    ("n_words", pa.int64()), ("brands_seen", pa.list_(pa.string())),
])  # fmt: skip
#: The handle a member is known by in the kernel (its column in the waiting table).
HANDLE = "handle"
#: Version of :class:`SessionsState`.
SESSIONS_STATE_VERSION = 1

#: An open session as the kernels exchange it: ``(start, end, member handles in joining order)``.
SessionTuple = tuple[int, int, list[int]]
#: Closed sessions as the kernels return them: ``(keys, starts, ends, member counts, handles)``,
#: one entry per session but the handles (u64 little-endian), which are every session's in turn.
ClosedTuple = tuple[list[str], list[int], list[int], list[int], bytes]


class Kernel(Protocol):
    """The interface of ``scout_decode.Sessions`` and :class:`PySessions`."""

    def add(self, n: int, keys: list[str], key_codes: bytes, starts: bytes, ends: bytes, handles: bytes) -> None: ...

    def close_until(self, keys: list[str], watermarks: list[int]) -> ClosedTuple: ...

    def flush(self) -> ClosedTuple: ...

    def snapshot(self) -> dict[str, list[SessionTuple]]: ...

    def restore(self, key: str, open: list[SessionTuple]) -> None: ...


def _closed_tuple(sessions: list[tuple[str, int, int, list[int]]]) -> ClosedTuple:
    """Sessions ``(key, start, end, member handles)`` in the form the kernels return closed ones."""
    handles = [h for _, _, _, hs in sessions for h in hs]
    return (
        [k for k, _, _, _ in sessions], [s for _, s, _, _ in sessions], [e for _, _, e, _ in sessions],
        [len(hs) for _, _, _, hs in sessions], np.array(handles, dtype="<u8").tobytes(),
    )  # fmt: skip


class PySessions:
    """The pure-Python kernel: :class:`SessionWindows` per key, over members that carry only a span
    and a handle (in ``event_id``)."""

    def __init__(self, gap_ms: int) -> None:
        if gap_ms < 0:
            raise ValueError(f"gap_ms must be >= 0, not {gap_ms}")
        self.gap_ms = gap_ms
        self.windows: dict[str, SessionWindows] = {}

    def _of(self, key: str) -> SessionWindows:
        if key not in self.windows:
            self.windows[key] = SessionWindows(self.gap_ms)
        return self.windows[key]

    def add(self, n: int, keys: list[str], key_codes: bytes, starts: bytes, ends: bytes, handles: bytes) -> None:
        codes = le_values(key_codes, n, "<u4", "key_codes")
        s, e = le_values(starts, n, "<i8", "starts"), le_values(ends, n, "<i8", "ends")
        h = le_values(handles, n, "<u8", "handles")
        if n and max(codes) >= len(keys):
            raise ValueError(f"a member names key {max(codes)} of {len(keys)}")
        for i in range(n):
            self._of(keys[codes[i]]).add(Member(s[i], e[i], str(h[i]), ""))

    @staticmethod
    def _closed(closed: list[tuple[str, list[Session]]]) -> ClosedTuple:
        return _closed_tuple(
            [(k, s.start, s.end, [int(m.event_id) for m in s.members]) for k, of in closed for s in of]
        )

    def close_until(self, keys: list[str], watermarks: list[int]) -> ClosedTuple:
        if len(keys) != len(watermarks):
            raise ValueError(f"{len(keys)} keys and {len(watermarks)} watermarks")
        return self._closed(
            [(k, self.windows[k].close_until(w)) for k, w in zip(keys, watermarks, strict=True) if k in self.windows]
        )

    def flush(self) -> ClosedTuple:
        return self._closed([(k, w.flush()) for k, w in self.windows.items()])

    def snapshot(self) -> dict[str, list[SessionTuple]]:
        return {
            k: [(s.start, s.end, [int(m.event_id) for m in s.members]) for s in w.open]
            for k, w in self.windows.items()
            if w.open
        }

    def restore(self, key: str, open: list[SessionTuple]) -> None:
        self._of(key).open = [Session(s, e, [Member(s, e, str(h), "") for h in hs]) for s, e, hs in open]


def native_kernel(gap_ms: int) -> Kernel | None:
    """The compiled kernel, or ``None`` when ``scout_decode`` is not built here."""
    try:
        import scout_decode
    except ImportError:
        return None
    kernel: Kernel = scout_decode.Sessions(gap_ms)
    return kernel


@dataclass(frozen=True, slots=True)
class SessionsState:
    """The open sessions of a set of keys at a snapshot: a copy, never changed afterwards."""

    #: key → its open sessions ``(start, end, member handles)``, in the order they were opened
    open: dict[str, list[SessionTuple]]
    #: the members of those sessions (:data:`MEMBER_SCHEMA` and :data:`HANDLE`; an Arrow table never changes)
    members: pa.Table
    #: the handle the next member gets
    next_handle: int
    version: int = SESSIONS_STATE_VERSION


@dataclass
class Closed:
    """Closed sessions: one :class:`Interaction` each (its ``members`` left empty: they are the
    rows of ``members``, sorted by session, then start, then event id, as ``summarise`` sorts
    them, with the ``session`` index into ``interactions``)."""

    interactions: list[Interaction] = field(default_factory=list)
    members: pa.Table = field(
        default_factory=lambda: _empty_members().append_column("session", pa.array([], pa.int64()))
    )


def _empty_members() -> pa.Table:
    return MEMBER_SCHEMA.empty_table().append_column(HANDLE, pa.array([], pa.uint64()))


def members_table(members: list[Member], keys: list[str]) -> pa.Table:
    """Session members as a :data:`MEMBER_SCHEMA` table (``keys[i]``: the ``i``-th member's key)."""
    no_note = Annotation(False, False, (), 0.0, 0)
    notes = [m.annotation or no_note for m in members]
    return pa.table({
        "key": keys, "start": [m.start for m in members], "end": [m.end for m in members],
        "event_id": [m.event_id for m in members], "kind": [m.kind for m in members],
        "store_id": [m.store_id for m in members], "device_id": [m.device_id for m in members],
        "people": [m.people for m in members], "transcript": [m.transcript for m in members],
        "lang": [m.lang for m in members], "noted": [m.annotation is not None for m in members],
        "greeting": [a.greeting for a in notes], "question": [a.question for a in notes],
        "mentioned": [list(a.brands) for a in notes], "sentiment": [a.sentiment for a in notes],
        "n_words": [a.n_words for a in notes], "brands_seen": [list(m.brands_seen) for m in members],
    }, schema=MEMBER_SCHEMA)  # fmt: skip


class ColumnarSessions:
    """The open sessions of the keys a step holds, and their members waiting in a table."""

    def __init__(self, gap_ms: int, kernel: Kernel | None = None) -> None:
        self.gap_ms = gap_ms
        native = native_kernel(gap_ms) if kernel is None else kernel
        self.kernel: Kernel = native if native is not None else PySessions(gap_ms)
        self.members = _empty_members()
        self.next_handle = 0

    def add(self, members: pa.Table) -> None:
        """Add members (a :data:`MEMBER_SCHEMA` table) in arrival order."""
        if members.schema != MEMBER_SCHEMA:
            raise ValueError(f"members must have MEMBER_SCHEMA, not {members.schema}")
        n = members.num_rows
        if not n:
            return
        if members.column("key").null_count or members.column("start").null_count or members.column("end").null_count:
            raise ValueError("a member without a key, a start or an end")
        handles = pa.array(np.arange(self.next_handle, self.next_handle + n, dtype=np.uint64))
        encoded = pc.dictionary_encode(members.column("key").combine_chunks())
        self.kernel.add(
            n, encoded.dictionary.to_pylist(), le_bytes(encoded.indices, pa.uint32()),
            le_bytes(members.column("start"), pa.int64()), le_bytes(members.column("end"), pa.int64()),
            le_bytes(handles, pa.uint64()),
        )  # fmt: skip
        self.next_handle += n
        self.members = pa.concat_tables([self.members, members.append_column(HANDLE, handles)])

    def close_until(self, watermarks: dict[str, int]) -> Closed:
        """Close, per key, every session its watermark (``key → watermark``) has passed."""
        return self._summarise(self.kernel.close_until(list(watermarks), list(watermarks.values())))

    def flush(self) -> Closed:
        """Close every open session (the end of input)."""
        return self._summarise(self.kernel.flush())

    def pending(self) -> Closed:
        """The open sessions summarised as if they closed now, and left open (their members' tags
        are written with a pending ``interaction_id``: ``DeviceClock.hold``)."""
        open = [(key, s, e, hs) for key, of_key in self.kernel.snapshot().items() for s, e, hs in of_key]
        return self._summarise(_closed_tuple(open), remove=False)

    def snapshot(self) -> SessionsState:
        return SessionsState(self.kernel.snapshot(), self.members, self.next_handle)

    def restore(self, state: SessionsState) -> None:
        if state.version != SESSIONS_STATE_VERSION:
            raise ValueError(f"sessions state of version {state.version}; this version reads {SESSIONS_STATE_VERSION}")
        for key, open in state.open.items():
            self.kernel.restore(key, [(s, e, list(h)) for s, e, h in open])
        self.members, self.next_handle = state.members, state.next_handle

    def _summarise(self, closed: ClosedTuple, remove: bool = True) -> Closed:
        keys, starts, ends, counts, handle_bytes = closed
        if not keys:
            return Closed()
        handles = pa.array(np.frombuffer(handle_bytes, dtype="<u8"))
        at = pc.index_in(handles, value_set=self.members.column(HANDLE))
        if at.null_count:
            raise ValueError("a closed session names a member this step does not hold")
        session = pa.array(np.repeat(np.arange(len(keys), dtype=np.int64), counts))
        # sorted as summarise sorts a session's members; the wide table is taken from once
        order = pc.sort_indices(
            pa.table(
                {
                    "s": session,
                    "t": self.members.column("start").take(at),
                    "e": self.members.column("event_id").take(at),
                }
            ),
            sort_keys=[("s", "ascending"), ("t", "ascending"), ("e", "ascending")],
        )
        members = self.members.take(at.take(order)).append_column("session", session.take(order))
        if remove:
            self.members = self.members.filter(pc.invert(pc.is_in(self.members.column(HANDLE), value_set=handles)))
        return Closed(_interactions(members, starts, ends), members)


def _interactions(members: pa.Table, starts: list[int], ends: list[int]) -> list[Interaction]:
    """One :class:`Interaction` per session of ``members`` (sorted as :class:`Closed` says)."""
    n = len(starts)
    session = members.column("session").to_numpy()
    first = np.flatnonzero(np.r_[True, session[1:] != session[:-1]])
    frame = pc.equal(members.column("kind"), "frame").to_numpy(zero_copy_only=False)
    utterance = pc.equal(members.column("kind"), "utterance").to_numpy(zero_copy_only=False)
    n_frames = np.bincount(session, weights=frame, minlength=n).astype(np.int64)
    n_utterances = np.bincount(session, weights=utterance, minlength=n).astype(np.int64)
    people = np.where(frame, members.column("people").to_numpy(), 0)
    max_people = np.maximum.reduceat(people, first) if len(first) else np.zeros(0, np.int64)
    seen: list[set[str]] = [set() for _ in range(n)]
    frames = members.filter(pa.array(frame))
    flat = pc.list_flatten(frames.column("brands_seen"))
    if len(flat):
        owner = pc.take(frames.column("session"), pc.list_parent_indices(frames.column("brands_seen")))
        pairs = pa.table({"s": owner, "b": flat}).group_by(["s", "b"]).aggregate([])
        for s, b in zip(pairs.column("s").to_pylist(), pairs.column("b").to_pylist(), strict=True):
            seen[s].add(b)
    speech: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    for row in (
        members.filter(pa.array(utterance))
        .select(["session", "transcript", "noted", "greeting", "question", "mentioned", "sentiment", "n_words"])
        .to_pylist()
    ):
        speech[row["session"]].append(row)
    firsts = members.take(pa.array(first)).select(["store_id", "device_id", "event_id"]).to_pylist()
    out = []
    for s in range(n):
        head, talk = firsts[s], speech[s]
        notes = [u for u in talk if u["noted"]]
        out.append(
            Interaction(
                interaction_id=interaction_id(head["device_id"], starts[s], head["event_id"]),
                store_id=head["store_id"], device_id=head["device_id"], started_at=starts[s], ended_at=ends[s],
                n_utterances=int(n_utterances[s]), n_frames=int(n_frames[s]), max_people=int(max_people[s]),
                n_words=sum(u["n_words"] for u in notes),
                transcript=" ".join(u["transcript"] for u in talk if u["transcript"]),
                brands_mentioned=tuple(sorted({b for u in notes for b in u["mentioned"]})),
                brands_seen=tuple(sorted(seen[s])),
                greeted=any(u["greeting"] for u in notes), asked=any(u["question"] for u in notes),
                sentiment=sum(u["sentiment"] for u in notes) / len(notes) if notes else 0.0,
                members=(),
            )
        )  # fmt: skip
    return out


def annotated_table(closed: Closed, now: int, interaction_id: str | None = None) -> pa.Table:
    """``silver_annotated_events`` rows of closed sessions' members, as an Arrow table in the
    row's field order (:class:`~dataflows.tables.AnnotatedRow`); ``interaction_id``: one for all
    (``PENDING``, for the members of open sessions: :meth:`ColumnarSessions.pending`)."""
    m = closed.members
    ids = [it.interaction_id for it in closed.interactions]
    session = m.column("session")
    frame = pc.equal(m.column("kind"), "frame")
    columns: dict[str, Any] = {
        "interaction_id": pa.repeat(pa.scalar(interaction_id, pa.string()), m.num_rows) if interaction_id is not None
        else pc.take(pa.array(ids, pa.string()), session),
        "event_id": m.column("event_id"),
        "store_id": pc.take(pa.array([it.store_id for it in closed.interactions], pa.string()), session),
        "device_id": pc.take(pa.array([it.device_id for it in closed.interactions], pa.string()), session),
        "ts": m.column("start"), "kind": m.column("kind"), "greeting": m.column("greeting"),
        "question": m.column("question"),
        "brands": pc.if_else(frame, m.column("brands_seen"), m.column("mentioned")),
        "people": m.column("people"), "sentiment": m.column("sentiment"), "lang": m.column("lang"),
        "n_words": m.column("n_words"), "processed_at": pa.repeat(pa.scalar(now, pa.int64()), m.num_rows),
    }  # fmt: skip
    names = TABLES[TABLE_OF[AnnotatedRow]].columns
    return pa.table({name: columns[name] for name in names})
