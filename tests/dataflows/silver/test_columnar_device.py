"""The columnar per-key step gives what ``DeviceClock`` gives on the same records: the same rows of
every table (bronze with ``late``, ``late_events``, heartbeats, sessions, annotated events, the
duplicate rule's counts) and the same gold facts — on hypothesis-generated batches of several
devices and stores, decoded by the compiled path, resumed from a snapshot anywhere, ended by a
flush or a hold."""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

import hypothesis.strategies as st
import msgspec
import pyarrow as pa
import pytest
from hypothesis import given

from dataflows.bronze.columnar import compiled_decoder, validate_columnar
from dataflows.bronze.rules import RuleSet, load_rules
from dataflows.bronze.validate import Accepted, Validator
from dataflows.config import WindowConfig
from dataflows.silver.annotate import Lexicon, load_lexicon
from dataflows.silver.columnar_device import ColumnarDevices, DeviceOutput, clock_keys, key_group
from dataflows.silver.event_clock import DeviceClock, KeyOutput
from dataflows.silver.facts import Fact, FeedbackFact, HeartbeatFact, InteractionFact
from dataflows.tables import TABLES
from scout_contract import SourceRecord
from tests.factories import NOW, T0, feedback, heartbeat, record, stt, visual

WINDOWS = WindowConfig()
RULES: RuleSet = load_rules()
LEXICON: Lexicon = load_lexicon()
LABELS = [(), ("person",), ("face", "person", "brand:coke"), ("brand:piattos",), ("brand:coke", "brand:coke", "face")]
SAYINGS = ["", "Magandang umaga po", "Magkano ang Coke?", "Salamat po, sobrang sarap ng Piattos!"]
HEARTS: list[dict[str, Any]] = [
    {},
    {"cpu_temp_c": 85.0},
    {"cpu_temp_c": None, "disk_free_mb": 100.0},
    {"outbox_depth": 5_000},
]


def _value(stream: str, who: int, second: int, eid: str | None, variant: int) -> dict[str, Any]:
    ts, device, store = T0 + second * 1_000, f"SCOUTPI-{who}", f"STORE-{who % 2}"
    if stream == "visual":
        return visual(ts, LABELS[variant % len(LABELS)], device=device, store=store, event_id=eid)
    if stream == "stt":
        text = SAYINGS[variant % len(SAYINGS)]
        return stt(ts, text, device=device, store=store, duration_ms=500 * variant, event_id=eid)
    if stream == "heartbeat":
        return heartbeat(ts, device=device, store=store, event_id=eid, **HEARTS[variant % len(HEARTS)])
    return feedback(ts, store=store, event_id=eid)


_event = st.tuples(
    st.sampled_from(["visual", "visual", "visual", "stt", "stt", "heartbeat", "feedback"]),
    st.integers(0, 2),
    st.integers(0, 200),  # seconds after T0: out-of-orderness 10 s, session gap 30 s
    st.one_of(st.none(), st.sampled_from(["a", "b"])),
    st.integers(0, 7),
)


def _normal(value: Any) -> Any:
    """A cell as comparable values (Arrow gives a map as a list of pairs)."""
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return dict(value)
    return value


def _table_rows(name: str, rows: list[Any] | pa.Table | None) -> list[str]:
    if rows is None:
        return []
    if isinstance(rows, pa.Table):
        assert rows.column_names == list(TABLES[name].columns), name
        return sorted(repr(tuple(_normal(v) for v in r.values())) for r in rows.to_pylist())
    return sorted(repr(tuple(_normal(v) for v in r)) for r in rows)


def _fact(f: Fact) -> str:
    if isinstance(f, InteractionFact):
        return repr(("interaction", dataclasses.replace(f.interaction, members=())))
    if isinstance(f, HeartbeatFact | FeedbackFact):
        event = f.heartbeat if isinstance(f, HeartbeatFact) else f.feedback
        return repr((f.kind, f.store_id, f.device_id, f.ts, f.event_id, msgspec.to_builtins(event)))
    return repr(f)


def _python(clocks: dict[str, DeviceClock], accepted: list[Accepted], end: str | None) -> list[KeyOutput]:
    by_key: dict[str, list[Accepted]] = {}
    for acc in accepted:
        by_key.setdefault(acc.key, []).append(acc)
    if end is None:
        return [clocks.setdefault(k, DeviceClock(WINDOWS, LEXICON)).process(accs, NOW) for k, accs in by_key.items()]
    return [c.flush(NOW) if end == "flush" else c.hold(NOW) for c in clocks.values()]


def _assert_same(want: list[KeyOutput], got: DeviceOutput) -> None:
    tables = {t for o in want for t, rows in o.rows.rows.items() if rows} | set(got.tables) | set(got.rows.rows)
    for name in sorted(tables):
        python = [r for o in want for r in o.rows.rows.get(name, [])]
        columnar = _table_rows(name, got.tables.get(name)) + _table_rows(name, got.rows.rows.get(name))
        assert sorted(columnar) == _table_rows(name, python), name
    assert sorted(map(_fact, got.facts)) == sorted(_fact(f) for o in want for f in o.facts)
    arrived = [o.arrived for o in want if o.arrived is not None]
    assert got.arrived == (min(arrived) if arrived else None)


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "python"])
@given(
    batches=st.lists(st.lists(_event, min_size=1, max_size=14), min_size=1, max_size=5),
    resume_after=st.one_of(st.none(), st.integers(0, 4)),
    end=st.sampled_from(["flush", "hold"]),
)
def test_the_columnar_step_gives_what_device_clocks_give(
    compiled: bool, batches: list[list[tuple[str, int, int, str | None, int]]], resume_after: int | None, end: str
) -> None:
    validator = Validator(RULES, now_ms=lambda: NOW)
    decoder = compiled_decoder(validator) if compiled else None  # without: every record deferred
    assert decoder is not None or not compiled, "make builds scout_decode (dataflows/bronze/native)"
    python: dict[str, DeviceClock] = {}
    columnar = ColumnarDevices(WINDOWS, LEXICON, compiled)
    for i, events in enumerate(batches):
        records: list[SourceRecord] = [record(_value(*e)) for e in events]
        accepted = validator.validate(records, now=NOW).accepted
        assert len(accepted) == len(records), "the factories' events are valid"
        decoded = validate_columnar(validator, records, decoder, now=NOW)
        got = columnar.process(decoded.batches, NOW)
        _assert_same(_python(python, accepted, None), got)
        if i == resume_after:  # a kill and a resume: both from their snapshots
            state = pickle.loads(pickle.dumps(columnar.snapshot()))
            columnar = ColumnarDevices(WINDOWS, LEXICON, compiled)
            columnar.restore(state)
            snaps = {k: c.snapshot() for k, c in python.items()}
            python = {k: DeviceClock(WINDOWS, LEXICON) for k in snaps}
            for k, snap in snaps.items():
                python[k].restore(snap)
    _assert_same(_python(python, [], end), columnar.flush(NOW) if end == "flush" else columnar.hold(NOW))


def test_keys_and_their_groups() -> None:
    batch = pa.table({"store_id": ["STORE-1"], "device_id": ["SCOUTPI-1"]})
    assert clock_keys("feedback", batch).to_pylist() == ["store/STORE-1"]
    assert clock_keys("visual", batch).to_pylist() == ["SCOUTPI-1"]
    assert key_group("SCOUTPI-1", 8) == key_group("SCOUTPI-1", 8) < 8
    assert len({key_group(f"SCOUTPI-{i}", 8) for i in range(100)}) == 8, "keys spread over the groups"
