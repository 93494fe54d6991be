"""The columnar session windows (compiled and pure-Python kernels) give exactly what
``SessionWindows`` + ``summarise`` + ``annotated_rows`` give: the same sessions in the same
order, the same interactions, the same annotated rows (pending ones too), the same open sessions
— on hypothesis-generated members of several keys, batched and resumed anywhere."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pyarrow as pa
import pytest
from hypothesis import given

from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon, load_lexicon
from dataflows.silver.columnar_sessions import (
    MEMBER_SCHEMA,
    SESSIONS_STATE_VERSION,
    ColumnarSessions,
    Kernel,
    PySessions,
    SessionsState,
    annotated_table,
    members_table,
    native_kernel,
)
from dataflows.silver.rows import PENDING, annotated_rows
from dataflows.silver.sessions import Interaction, Member, SessionWindows, summarise
from dataflows.tables import AnnotatedRow
from tests.factories import T0

GAP = WindowConfig().session_gap_ms
LEXICON: Lexicon = load_lexicon()
KEYS = ["SCOUTPI-0", "SCOUTPI-1", "SCOUTPI-2"]
SAYINGS = [
    "",
    "Magandang umaga po",
    "Magkano ang Coke?",
    "Salamat po, sobrang sarap ng Piattos!",
    "pabili po ng Safeguard",
]


def _native(gap: int) -> Kernel:
    kernel = native_kernel(gap)
    assert kernel is not None, "make builds scout_decode (dataflows/bronze/native)"
    return kernel


KERNELS: dict[str, Callable[[int], Kernel]] = {"compiled": _native, "python": PySessions}


def _member(key: int, kind: str, second: int, length: int, people: int, said: int, brands: list[str], n: int) -> Member:
    start = T0 + second * 1_000
    device = KEYS[key]
    if kind == "utterance":
        text = SAYINGS[said]
        note = LEXICON.annotate(text) if said % 2 == 0 or said == 3 else None  # some without tags
        return Member(
            start, start + length * 100, f"u{n % 7}-{second}", kind, f"S-{device}", device, 0, text, "tl", note
        )
    seen = tuple(brands)
    return Member(start, start, f"f{n % 5}-{second}", kind, f"S-{device}", device, people, "", "", None, seen)


_members = st.lists(
    st.builds(
        _member,
        st.integers(0, 2),
        st.sampled_from(["frame", "frame", "utterance"]),
        st.integers(0, 400),  # seconds after T0: gaps of more and less than the session gap (30 s)
        st.integers(0, 80),  # an utterance's length, tenths of a second
        st.integers(0, 3),
        st.integers(0, len(SAYINGS) - 1),
        st.lists(st.sampled_from(["coke", "piattos", "safeguard"]), max_size=2),
        st.integers(0, 1_000),
    ),
    max_size=15,
)


def _rows(rows: list[AnnotatedRow] | pa.Table) -> list[tuple[Any, ...]]:
    dicts = rows.to_pylist() if isinstance(rows, pa.Table) else [r._asdict() for r in rows]
    return sorted(tuple(d.values()) for d in dicts)


def _bare(it: Interaction) -> Interaction:
    return dataclasses.replace(it, members=())


def _open(windows: dict[str, SessionWindows]) -> dict[str, list[tuple[int, int, list[str]]]]:
    return {
        k: [(s.start, s.end, [m.event_id for m in s.members]) for s in w.open] for k, w in windows.items() if w.open
    }


def _open_columnar(sessions: ColumnarSessions) -> dict[str, list[tuple[int, int, list[str]]]]:
    state = sessions.snapshot()
    ids = dict(
        zip(state.members.column("handle").to_pylist(), state.members.column("event_id").to_pylist(), strict=True)
    )
    return {k: [(s, e, [ids[h] for h in hs]) for s, e, hs in open] for k, open in state.open.items()}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@given(
    batches=st.lists(st.tuples(_members, st.lists(st.integers(0, 2), max_size=3), st.integers(0, 200)), max_size=6),
    resume_after=st.one_of(st.none(), st.integers(0, 5)),
    hold=st.booleans(),
)
def test_columnar_sessions_are_session_windows(
    kernel: str, batches: list[tuple[list[Member], list[int], int]], resume_after: int | None, hold: bool
) -> None:
    python: dict[str, SessionWindows] = {}
    columnar = ColumnarSessions(GAP, KERNELS[kernel](GAP))
    clock = T0
    for i, (members, closing, advance) in enumerate(batches):
        for m in members:
            python.setdefault(m.device_id, SessionWindows(GAP)).add(m)
        columnar.add(members_table(members, [m.device_id for m in members]))
        clock += advance * 1_000
        watermarks = {KEYS[k]: clock for k in sorted(set(closing))}
        want = [s for key, wm in watermarks.items() if key in python for s in python[key].close_until(wm)]
        got = columnar.close_until(watermarks)
        want_its = [summarise(s) for s in want]
        assert got.interactions == [_bare(it) for it in want_its]
        assert _rows(annotated_table(got, 7)) == _rows([r for it in want_its for r in annotated_rows(it, 7)])
        assert _open_columnar(columnar) == _open(python)
        if i == resume_after:  # a kill: new sessions from a pickled snapshot
            state = pickle.loads(pickle.dumps(columnar.snapshot()))
            columnar = ColumnarSessions(GAP, KERNELS[kernel](GAP))
            columnar.restore(state)
            python = copy.deepcopy(python)
    if hold:  # a resumable run's end: the open sessions' tags, pending, and the sessions stay open
        pending = [annotated_rows(summarise(s), 9, PENDING) for w in python.values() for s in w.open]
        assert _rows(annotated_table(columnar.pending(), 9, PENDING)) == _rows([r for rows in pending for r in rows])
        assert _open_columnar(columnar) == _open(python)
    want = [s for w in python.values() for s in w.flush()]
    got = columnar.flush()
    assert sorted(got.interactions, key=repr) == sorted((_bare(summarise(s)) for s in want), key=repr)
    assert columnar.members.num_rows == 0 and not columnar.snapshot().open


def test_the_doctest_of_session_windows_columnar() -> None:
    sessions = ColumnarSessions(30_000)
    members = [Member(t, t, f"e{i}", "frame", "s", "d", 1) for i, t in enumerate([0, 20_000, 100_000, 45_000])]
    sessions.add(members_table(members, ["d"] * 4))
    closed = sessions.close_until({"d": 200_000})
    assert [(it.started_at, it.ended_at, it.n_frames) for it in closed.interactions] == [
        (0, 45_000, 3),
        (100_000, 100_000, 1),
    ]
    assert closed.members.column("event_id").to_pylist() == ["e0", "e1", "e3", "e2"]


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_a_snapshot_is_a_typed_copy_and_bad_input_a_clear_error(kernel: str) -> None:
    sessions = ColumnarSessions(GAP, KERNELS[kernel](GAP))
    sessions.add(members_table([Member(T0, T0, "a", "frame", "s", "d", 1)], ["d"]))
    state = sessions.snapshot()
    taken = copy.deepcopy(state)
    assert isinstance(state, SessionsState) and state.version == SESSIONS_STATE_VERSION
    sessions.add(members_table([Member(T0 + 1, T0 + 1, "b", "frame", "s", "d", 1)], ["d"]))
    sessions.close_until({"d": T0 + 10 * GAP})
    assert state.open == taken.open and state.members.equals(taken.members), (
        "the sessions went on; the snapshot did not"
    )
    with pytest.raises(ValueError, match="MEMBER_SCHEMA"):
        sessions.add(pa.table({"key": ["d"]}))
    with pytest.raises(ValueError, match="without a key"):
        sessions.add(pa.table({name: [None] for name in MEMBER_SCHEMA.names}, schema=MEMBER_SCHEMA))
    with pytest.raises(ValueError, match="version"):
        ColumnarSessions(GAP).restore(dataclasses.replace(state, version=SESSIONS_STATE_VERSION + 1))


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_a_session_closes_once_the_watermark_has_passed_its_end_plus_the_gap(kernel: str) -> None:
    sessions = ColumnarSessions(GAP, KERNELS[kernel](GAP))
    sessions.add(members_table([Member(T0, T0 + 500, "u", "utterance", "s", "d", 0, "po", "tl")], ["d"]))
    assert not sessions.close_until({"d": T0 + 500 + GAP}).interactions, "at end + gap an on-time member may still join"
    assert [it.ended_at for it in sessions.close_until({"d": T0 + 501 + GAP}).interactions] == [T0 + 500]
