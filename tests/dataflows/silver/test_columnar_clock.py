"""The columnar event clocks (compiled and pure-Python kernels) decide exactly what
:class:`DeviceClock` decides: the same verdict per event, the same watermark missed by each late
one, the same watermarks and remembered ids afterwards — on hypothesis-generated batches of
several keys and stream groups, however they are split, resumed from a snapshot anywhere."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import hypothesis.strategies as st
import pyarrow as pa
import pytest
import scout_decode
from hypothesis import given

from dataflows.bronze.rules import RuleSet, load_rules
from dataflows.bronze.validate import Accepted, Validator
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon, load_lexicon
from dataflows.silver.columnar_clock import (
    CLOCKS_STATE_VERSION,
    DUPLICATE,
    GROUPS,
    LATE,
    NO_WATERMARK,
    ON_TIME,
    ClocksState,
    EventClocks,
    Kernel,
    PyEventClocks,
    native_kernel,
)
from dataflows.silver.event_clock import DeviceClock
from dataflows.tables import LateRow
from scout_contract import SourceRecord
from scout_contract.streams import BY_NAME, STREAMS
from tests.factories import T0, feedback, heartbeat, record, stt, visual

WINDOWS = WindowConfig()
OOO = WINDOWS.out_of_orderness_ms
RULES: RuleSet = load_rules()
LEXICON: Lexicon = load_lexicon()
BRONZE = {s.bronze_table for s in STREAMS}
MAKERS: dict[str, Callable[..., dict[str, Any]]] = {"visual": visual, "stt": stt, "heartbeat": heartbeat}


def _native(ooo: int) -> Kernel:
    kernel = native_kernel(ooo)
    assert kernel is not None, "make builds scout_decode (dataflows/bronze/native)"
    return kernel


KERNELS: dict[str, Callable[[int], Kernel]] = {
    "compiled": _native,
    "python": lambda ooo: PyEventClocks(ooo, len(GROUPS)),
}


def test_the_kernels_agree_on_their_constants() -> None:
    assert (scout_decode.ON_TIME, scout_decode.LATE, scout_decode.DUPLICATE) == (ON_TIME, LATE, DUPLICATE)
    assert scout_decode.NO_WATERMARK == NO_WATERMARK
    assert set(GROUPS) == {s.clock_group for s in STREAMS}


def _columns(accepted: list[Accepted]) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
    """The batch's four columns, each sliced out of a longer array (an offset the kernels must honour)."""

    def sliced(values: list[Any], typ: pa.DataType, pad: Any) -> pa.Array:
        return pa.array([pad, *values], typ).slice(1)

    return (
        sliced([a.key for a in accepted], pa.string(), "pad"),
        sliced([BY_NAME[a.stream].clock_group for a in accepted], pa.string(), "join"),
        sliced([a.ts_ms for a in accepted], pa.int64(), 0),
        sliced([a.event.event_id for a in accepted], pa.string(), "pad-id-é"),
    )


def _device_clocks(clocks: dict[str, DeviceClock], accepted: list[Accepted]) -> tuple[list[int], list[int | None]]:
    """What :class:`DeviceClock` decides of a batch: a verdict per event, and the watermark a late one missed."""
    by_key: dict[str, list[Accepted]] = {}
    for acc in accepted:
        by_key.setdefault(acc.key, []).append(acc)
    on_time: set[tuple[str, int]] = set()
    late: dict[tuple[str, int], int] = {}
    for key, accs in by_key.items():
        out = clocks.setdefault(key, DeviceClock(WINDOWS, LEXICON)).process(accs, now_ms=1)
        late.update({(r.topic, r.offset): r.watermark for r in out.rows.of(LateRow)})
        for table in BRONZE:
            on_time.update((r.topic, r.offset) for r in out.rows.rows.get(table, []) if not r.late)  # type: ignore[attr-defined]
    verdicts, marks = [], []
    for acc in accepted:
        where = (acc.record.topic, acc.record.offset)
        verdicts.append(LATE if where in late else ON_TIME if where in on_time else DUPLICATE)
        marks.append(late.get(where))
    return verdicts, marks


_event = st.tuples(
    st.sampled_from(["visual", "visual", "stt", "heartbeat", "feedback"]),
    st.integers(0, 2),  # device (feedback: store)
    st.integers(0, 90),  # event time, seconds after T0 (the out-of-orderness is 10 s)
    st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),  # a fresh id, or one of a few repeated ids
)


def _records(events: list[tuple[str, int, int, str | None]], fill: int) -> list[SourceRecord]:
    out = []
    for i, (stream, who, second, eid) in enumerate(events):
        ts = T0 + second * 1_000
        if stream == "feedback":
            value = feedback(ts, store=f"STORE-{who}", event_id=eid)
        else:
            value = MAKERS[stream](ts, device=f"SCOUTPI-{who}", event_id=eid)
        out.append(record(value))
        if i == 0:  # enough fresh ids in one group for the clocks to prune it at the end of the batch
            out += [record(visual(ts + j * 10, device=f"SCOUTPI-{who}")) for j in range(fill)]
    return out


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@given(
    batches=st.lists(st.lists(_event, min_size=1, max_size=12), min_size=1, max_size=6),
    fill=st.sampled_from([0, 0, 70]),
    resume_after=st.one_of(st.none(), st.integers(0, 5)),
)
def test_columnar_clocks_decide_what_device_clocks_decide(
    kernel: str, batches: list[list[tuple[str, int, int, str | None]]], fill: int, resume_after: int | None
) -> None:
    validator = Validator(RULES)
    device_clocks: dict[str, DeviceClock] = {}
    clocks = EventClocks(OOO, KERNELS[kernel](OOO))
    for i, events in enumerate(batches):
        accepted = validator.validate(_records(events, fill if i == 0 else 0)).accepted
        assert len(accepted) == len(events) + (fill if i == 0 else 0), "the factories' events are valid"
        want_verdicts, want_marks = _device_clocks(device_clocks, accepted)
        got = clocks.process(*_columns(accepted))
        assert got.verdict.to_pylist() == want_verdicts
        marks = got.watermark.to_pylist()
        assert [m for m, v in zip(marks, want_verdicts, strict=True) if v == LATE] == [
            m for m in want_marks if m is not None
        ]
        if i == resume_after:  # a kill and a resume: new clocks from the snapshot (the old ones are gone)
            state = pickle.loads(pickle.dumps(clocks.snapshot()))
            clocks = EventClocks(OOO, KERNELS[kernel](OOO))
            clocks.restore(state)
            device_clocks = {key: _resumed(c) for key, c in device_clocks.items()}
    state = clocks.snapshot()
    assert set(state.max_ts) == set(device_clocks)
    for key, clock in device_clocks.items():
        want = clock.snapshot()
        assert (state.max_ts[key], state.seen[key]) == (want.max_ts, want.seen), key
        for group in GROUPS:
            assert clocks.watermark(key, group) == clock.watermark(group)


def _resumed(clock: DeviceClock) -> DeviceClock:
    fresh = DeviceClock(WINDOWS, LEXICON)
    fresh.restore(clock.snapshot())
    return fresh


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_a_snapshot_is_a_typed_copy(kernel: str) -> None:
    clocks = EventClocks(OOO, KERNELS[kernel](OOO))

    def batch(*events: tuple[str, str, int, str]) -> list[pa.Array]:
        return [pa.array([e[i] for e in events]) for i in range(4)]

    clocks.process(*batch(("d1", "join", T0, "x"), ("d1", "heartbeat", T0, "h"), ("store/s", "feedback", T0, "f")))
    state = clocks.snapshot()
    taken = copy.deepcopy(state)
    assert isinstance(state, ClocksState) and state.version == CLOCKS_STATE_VERSION
    assert state.max_ts == {"d1": {"join": T0, "heartbeat": T0}, "store/s": {"feedback": T0}}
    assert state.seen["d1"] == {"join": {"x": T0}, "heartbeat": {"h": T0}}
    got = clocks.process(*batch(("d1", "join", T0 + 3 * OOO, "y"), ("d1", "join", T0, "late")))
    assert got.verdict.to_pylist() == [ON_TIME, LATE] and got.watermark.to_pylist() == [T0 - OOO, T0 + 2 * OOO]
    assert state == taken, "the clocks went on; the snapshot did not"
    with pytest.raises(ValueError, match="version"):
        EventClocks(OOO, KERNELS[kernel](OOO)).restore(ClocksState({}, {}, version=CLOCKS_STATE_VERSION + 1))


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_a_bad_batch_is_a_clear_error_and_changes_nothing(kernel: str) -> None:
    clocks = EventClocks(OOO, KERNELS[kernel](OOO))
    clocks.process(pa.array(["d1"]), pa.array(["join"]), pa.array([T0]), pa.array(["x"]))
    before = clocks.snapshot()
    bad = [
        ((["d1", None], ["join", "join"], [T0, T0], ["a", "b"]), "keys: 1 null"),
        ((["d1"], ["visual"], [T0], ["a"]), "groups: not one of"),
        ((["d1", "d1"], ["join"], [T0, T0], ["a", "b"]), "differ in length"),
        ((["d1"], ["join"], [None], ["a"]), "ts: 1 null"),
    ]
    for columns, message in bad:
        with pytest.raises(ValueError, match=message):
            clocks.process(*(pa.array(c) for c in columns))
    assert clocks.snapshot() == before


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@given(
    n=st.integers(0, 6),
    keys=st.lists(st.text(max_size=3), max_size=3),
    raw=st.lists(st.binary(max_size=60), min_size=5, max_size=5),
)
def test_any_bytes_give_verdicts_or_a_value_error_never_a_crash(
    kernel: str, n: int, keys: list[str], raw: list[bytes]
) -> None:
    """The kernels' own interface fed arbitrary columns: an error changes nothing; otherwise one verdict per event."""
    clocks = KERNELS[kernel](OOO)
    clocks.process(1, ["k"], b"\0\0\0\0", b"\0", (T0).to_bytes(8, "little"), b"\0\0\0\0\1\0\0\0", b"x")
    before = clocks.snapshot()
    try:
        verdicts, marks = clocks.process(n, keys, *raw)
    except ValueError:
        assert clocks.snapshot() == before
    else:
        assert len(verdicts) == n and len(marks) == 8 * n and set(verdicts) <= {ON_TIME, LATE, DUPLICATE}
