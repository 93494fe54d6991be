"""The compiled decode path (Rust, ``scout_decode``) and its pure-Python fallback give exactly
the row path's verdicts and rows: accepted events as bronze rows, quarantine rows, rule counts.

Records come from the simulator with broken ranges, from the hostile-file generator, and from
hypothesis (valid events with fields replaced by any JSON value, timestamps in every shape,
arbitrary bytes): the compiled path must never crash, never accept what the Python validator
rejects, and never lose a record.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import msgspec
import pyarrow as pa
import pytest
import scout_decode
from hypothesis import given

from dataflows.bronze.columnar import (
    BATCH_COLUMNS,
    DEFER,
    RECORD_KEY,
    ROW,
    ColumnarResult,
    Decoder,
    batch_schema,
    compiled_decoder,
    validate_buffer,
    validate_columnar,
    validate_lines,
)
from dataflows.bronze.rows import bronze_row
from dataflows.bronze.rules import RuleSet, load_rules, load_rules_text
from dataflows.bronze.validate import Validator
from dataflows.simulator import SimConfig, simulate
from dataflows.sources.file import LineBatch, parse_line
from dataflows.tables import TABLES
from scout_contract import SourceRecord, encode_record_line
from scout_contract.streams import INPUT_TOPICS, NAMES, STREAM_OF_SCHEMA, STREAMS
from tests.factories import NOW, T0, break_ranges, feedback, heartbeat, hostile_lines, iso, record, stt, visual

Rows = dict[str, list[dict[str, Any]]]


def _normal(row: dict[str, Any]) -> dict[str, Any]:
    """A row as comparable values (Arrow gives a map as a list of pairs)."""
    return {k: dict(v) if k == "models" else v for k, v in row.items()}


def _expected(validator: Validator, records: list[SourceRecord]) -> tuple[Rows, Any]:
    result = validator.validate(records, now=NOW)
    rows: Rows = {}
    for acc in result.accepted:
        row = bronze_row(acc, NOW, False)
        want = {c: getattr(row, c) for c in BATCH_COLUMNS[acc.stream]}
        rows.setdefault(acc.stream, []).append({**want, RECORD_KEY: acc.record.key})
    return rows, result


def _got(result: ColumnarResult) -> Rows:
    columns = {s: [*c, RECORD_KEY] for s, c in BATCH_COLUMNS.items()}
    return {s: [_normal({c: r[c] for c in columns[s]}) for r in b.to_pylist()] for s, b in result.batches.items()}


def _assert_same(validator: Validator, records: list[SourceRecord], decoder: Decoder | None) -> ColumnarResult:
    want, slow = _expected(validator, records)
    got = validate_columnar(validator, records, decoder, now=NOW)
    assert _got(got) == want
    assert got.quarantine_rows == slow.quarantine_rows
    assert sorted(got.dq_rows, key=repr) == sorted(slow.dq_rows, key=repr)
    for stream, batch in got.batches.items():
        assert batch.schema == batch_schema(stream)
        rows = batch.column(ROW).to_pylist()
        assert rows == sorted(rows), "a batch keeps the input order"
    assert got.cleared + got.deferred == len(records)
    accepted = sum(b.num_rows for b in got.batches.values())
    assert accepted + len(got.quarantine_rows) == len(records), "every record accounted for"
    return got


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(load_rules(), now_ms=lambda: NOW)


@pytest.fixture(scope="module")
def compiled(validator: Validator) -> Decoder:
    decoder = compiled_decoder(validator)
    assert decoder is not None, "make builds scout_decode (dataflows/bronze/native)"
    return decoder


def test_the_compiled_module_reads_the_contract_s_schemas_and_streams() -> None:
    assert dict(scout_decode.SCHEMAS) == STREAM_OF_SCHEMA
    assert tuple(scout_decode.STREAMS) == NAMES
    assert scout_decode.DEFER == DEFER


def test_batch_columns_are_the_bronze_tables_columns() -> None:
    for s in STREAMS:
        table = TABLES[s.bronze_table].columns
        assert batch_schema(s.name).names == [ROW, *(c for c in table if c != "late"), RECORD_KEY]


def test_the_compiled_module_refuses_a_column_it_does_not_know(validator: Validator) -> None:
    with pytest.raises(ValueError, match='no column "mood" on stream "stt"'):
        scout_decode.Decoder([], {}, {"stt": ["event_id", "mood"]}, (1, 1, 1, 1))


@pytest.mark.parametrize("path", ["compiled", "fallback"])
def test_simulated_records_with_broken_ranges(validator: Validator, compiled: Decoder, path: str) -> None:
    cfg = SimConfig(stores=2, devices_per_store=2, hours=0.3, malformed_rate=0.05, seed=3)
    records = break_ranges(list(simulate(cfg)), seed=3)
    _assert_lines_same(validator, [encode_record_line(r) for r in records], compiled if path == "compiled" else None)
    got = _assert_same(validator, records, compiled if path == "compiled" else None)
    assert len(got.quarantine_rows) > 50, "the mutations must actually break rules"
    assert set(got.batches) == set(NAMES)
    if path == "compiled":
        assert got.cleared > 0.7 * len(records), "most records take the compiled path"
    else:
        assert got.cleared == 0


def test_hostile_file_lines(validator: Validator, compiled: Decoder) -> None:
    valid = [encode_record_line(r) for r in simulate(SimConfig(stores=1, devices_per_store=2, hours=0.2, seed=5))]
    lines = hostile_lines(valid, len(valid), seed=7)
    records = [parse_line(line, "file:hostile", i) for i, line in enumerate(lines)]
    got = _assert_same(validator, records, compiled)
    assert got.deferred > 0.3 * len(records) and got.cleared > 0
    _assert_lines_same(validator, lines, compiled)


def _assert_lines_same(validator: Validator, lines: list[bytes], decoder: Decoder | None) -> ColumnarResult:
    """The file form read by the compiled path gives what the file source's records give."""
    offsets = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]

    def read(i: int) -> SourceRecord:
        return parse_line(lines[i], "file:test", offsets[i])

    records = [read(i) for i in range(len(lines))]
    want, slow = _expected(validator, records)
    got = validate_lines(validator, lines, decoder, read, now=NOW)
    assert _got(got) == want
    assert got.quarantine_rows == slow.quarantine_rows
    assert sorted(got.dq_rows, key=repr) == sorted(slow.dq_rows, key=repr)
    assert got.cleared + got.deferred == len(lines)
    if all(line.strip() and b"\n" not in line for line in lines):  # the same lines as one block of the file,
        ended = [x + b"\n" for x in lines]  # each with its newline, as the file source reads them
        want, slow = _expected(validator, [parse_line(x, "file:test", offsets[i]) for i, x in enumerate(ended)])
        block = validate_buffer(validator, LineBatch("file:test", "test", b"".join(ended), 0), decoder, now=NOW)
        assert (_got(block), block.quarantine_rows, block.cleared) == (want, slow.quarantine_rows, got.cleared)
        assert sorted(block.dq_rows, key=repr) == sorted(slow.dq_rows, key=repr)
    return got


def test_file_lines_in_every_form(validator: Validator, compiled: Decoder) -> None:
    """Values as objects, as strings, base64, absent; keys as text and base64; escapes; coordinates
    no column holds; a topic name too long; lines cut."""
    base = [record(stt(T0)), record(visual(T0)), record(heartbeat(T0)), record(feedback(T0))]
    lines = [encode_record_line(r) for r in base]
    value = msgspec.json.encode(stt(T0 + 7, text="Salamat \u00f1 po"))
    lines += [
        b'{"topic":"eh-pi-stt-raw","partition":0,"offset":9,"timestamp_ms":%d,"key":"SCOUTPI-0001","value":%s}'
        % (T0 + 100, msgspec.json.encode(value.decode())),  # the value as a JSON string
        b'{"value": %s, "offset": 10, "partition": 0, "timestamp_ms": %d, "topic": "eh-pi-stt-raw", "key": "%s"}'
        % (value, T0 + 100, b"SCOUTPI-0001"),  # fields in another order, spaces
        encode_record_line(SourceRecord("eh-pi-stt-raw", 0, 11, T0, "SCOUTPI-0001", b"\xff\xfe")),  # value_b64
        encode_record_line(SourceRecord("eh-pi-stt-raw", 0, 12, T0, "\udcff", value)),  # key_b64
        b'{"topic":"eh-pi-stt-raw","partition":0,"offset":13,"timestamp_ms":%d}' % T0,  # no value
        b'{"topic":"eh-pi-stt-raw","partition":0,"offset":14,"timestamp_ms":%d,"value":[1]}' % T0,
        b'{"topic":"eh-pi-stt-raw","partition":0,"offset":15,"timestamp_ms":%d,"value":"\\ud800"}' % T0,
        b'{"topic":"%s","partition":0,"offset":16,"timestamp_ms":%d,"value":{}}' % (b"t" * 250, T0),
        b'{"topic":"","partition":0,"offset":17,"timestamp_ms":%d,"value":{}}' % T0,
        b'{"topic":"eh-pi-stt-raw","partition":2147483648,"offset":18,"timestamp_ms":0,"value":{}}',
        b'{"topic":"eh-pi-stt-raw","partition":0,"offset":19,"timestamp_ms":10413792000000,"value":{}}',
        lines[0][:40],
        lines[1] + b"\r\n",
    ]
    got = _assert_lines_same(validator, lines, compiled)
    assert got.cleared == 7 and got.deferred == len(lines) - 7


def test_every_kind_of_event_and_the_warnings(validator: Validator, compiled: Decoder) -> None:
    v2 = stt(T0) | {"schema": "scout.stt/2", "speaker": "spk-1"}
    v1 = stt(T0 + 1) | {"audio_url": "file:///a.wav", "words": [{"w": "po", "start_ms": 0, "end_ms": 9, "conf": 1}]}
    hb = heartbeat(T0) | {"cpu_temp_c": None, "models": {"a": "1", "b": "2"}, "problems": ["no camera"]}
    records = [
        record(v2),
        record(v1),
        record(hb),
        record(heartbeat(T0) | {"cpu_temp_c": 200.0}),  # a warning: deferred, kept
        record(visual(T0, labels=("face", "brand:nescafe"))),
        record(visual(T0, labels=())),
        record(feedback(T0) | {"comment": "ok"}),
        record(stt(T0), key="another-device"),  # key mismatch: a warning
        record(stt(T0) | {"transcript": ""}),  # empty transcript: a warning
        record(stt(T0 + 5) | {"unknown_field": {"nested": [1, 2]}}),  # ignored, as msgspec does
    ]
    got = _assert_same(validator, records, compiled)
    assert got.deferred == 3
    assert got.batches["heartbeat"].column("models").to_pylist()[0] == [("a", "1"), ("b", "2")]
    assert got.batches["stt"].column("audio_url").to_pylist() == [None, "file:///a.wav", None, None, None]


def test_rules_the_compiled_path_does_not_know_defer_their_stream(compiled: Decoder) -> None:
    rules: RuleSet = load_rules_text("""
rules:
  - {name: width_in_set, streams: [visual], check: in_set, field: width, values: [640, 1280], action: drop}
  - {name: few_models, streams: [heartbeat], check: max_length, field: models, max: 1, action: drop}
  - {name: lang, streams: [stt], check: in_set, field: lang, values: [fil, en], action: drop}
""")
    validator = Validator(rules, now_ms=lambda: NOW)
    decoder = compiled_decoder(validator)
    assert decoder is not None
    assert sorted(decoder.deferred_streams()) == ["heartbeat", "visual"]
    records = [record(visual(T0) | {"width": w}) for w in (640, 1280, 300)]
    records += [record(stt(T0) | {"lang": lang}) for lang in ("fil", "de")]
    records += [record(heartbeat(T0) | {"models": m}) for m in ({"a": "1"}, {"a": "1", "b": "2"})]
    got = _assert_same(validator, records, decoder)
    assert got.cleared == 1 and len(got.quarantine_rows) == 3


def test_a_fail_rule_still_stops_the_batch(compiled: Decoder) -> None:
    from dataflows.bronze.validate import QualityRuleFailure

    rules = load_rules_text(
        "rules:\n  - {name: hard, streams: [stt], check: range, field: confidence, min: 0, max: 0.5, action: fail}\n"
    )
    validator = Validator(rules, now_ms=lambda: NOW)
    decoder = compiled_decoder(validator)
    with pytest.raises(QualityRuleFailure, match="hard"):
        validate_columnar(validator, [record(stt(T0) | {"confidence": 0.9})], decoder, now=NOW)


# -- hypothesis: any value in any field, timestamps in every shape, arbitrary bytes ------------------

_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 600_000, 600_001, 16384, 16385]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 1.0000000000000002, 0.9999999999999999, 1e308, 5e-324, 100.0, 125.0]),
    st.text(max_size=8),
    st.sampled_from(["face", "brand:", "brand:x", "gesture:wave", "cat", "face\n", "", "accepted", "😀"]),
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_ts = st.one_of(
    st.builds(
        lambda ms, frac, zone, sep: iso(ms)[:19].replace("T", sep) + frac + zone,
        st.integers(min_value=0, max_value=4 * 10**12),
        st.sampled_from(["", ".", ".5", ".25", ".250", ".2509", ".999999", ".9999995", ".123456789"]),
        st.sampled_from(["Z", "z", "+00:00", "-00:00", "+08:00", "-05:30", "+23:59", "+24:00", "", "+0800", "UTC"]),
        st.sampled_from(["T", "t", " "]),
    ),
    st.sampled_from(["2024-02-29T00:00:00Z", "2025-02-29T00:00:00Z", "2025-05-19T24:00:00Z", "2025-05-19T08:00:60Z",
                     "1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]),
    st.text(max_size=30),
)  # fmt: skip
_events = st.sampled_from([
    stt(T0), stt(T0) | {"schema": "scout.stt/2", "speaker": None}, visual(T0), heartbeat(T0), feedback(T0),
    stt(T0) | {"words": [{"w": "po", "start_ms": 0, "end_ms": 9, "conf": 0.5}]},
])  # fmt: skip
#: every field of every schema, and paths into words and detections
_fields = st.sampled_from([
    *sorted({k for e in (stt(T0), visual(T0), heartbeat(T0), feedback(T0)) for k in e}),
    "words", "speaker", "audio_url", "comment", "problems", "status", "model_update",
    "words[0].conf", "words[0].w", "words[0].start_ms", "detections[0].label", "detections[0].confidence",
    "detections[0].bbox", "detections[0].bbox[1]", "detections[0].zone", "detections[0].track_id",
])  # fmt: skip


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a[0].b`` in an event, if the path exists (or a top-level key, always)."""
    *parents, last = path.replace("]", "").replace("[", ".").split(".")
    target: Any = obj
    for p in parents:
        try:
            target = target[int(p)] if p.isdigit() else target[p]
        except (KeyError, IndexError, TypeError):
            return
    if last.isdigit() and isinstance(target, list) and int(last) < len(target):
        target[int(last)] = value
    elif isinstance(target, dict):
        target[last] = value


@st.composite
def _payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(min_value=0, max_value=9))
    if kind == 0:
        return draw(st.binary(max_size=64))
    event = json.loads(json.dumps(draw(_events)))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        field = draw(_fields)
        if draw(st.integers(min_value=0, max_value=3)) == 0:
            event.pop(field, None)
        else:
            _set(event, field, draw(_ts) if field == "ts" else draw(_json))
    if draw(st.booleans()):
        event["ts"] = draw(_ts)
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    if kind == 1:  # duplicate a key (msgspec keeps the last; the compiled path defers)
        text = text.replace('"event_id"', '"event_id": "dup", "event_id"', 1)
    return text.encode("utf-8", "surrogatepass")


_keys = st.sampled_from([None, "SCOUTPI-0001", "STORE-0001", "x"])


@given(st.lists(st.tuples(_payloads(), _keys), min_size=1, max_size=6))
def test_any_payload_gets_the_row_path_s_verdict(batch: list[tuple[bytes, str | None]]) -> None:
    validator = Validator(load_rules(), now_ms=lambda: NOW)
    decoder = compiled_decoder(validator)
    records: list[SourceRecord] = []
    for payload, key in batch:
        stream = STREAM_OF_SCHEMA.get(_schema(payload), "stt")  # its own topic, mostly
        records.append(SourceRecord(INPUT_TOPICS[stream], 0, len(records), T0 + 100, key, payload))
    _assert_same(validator, records, decoder)


def _schema(payload: bytes) -> str:
    try:
        obj = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return ""
    schema = obj.get("schema") if isinstance(obj, dict) else None
    return schema if isinstance(schema, str) else ""


def test_arrow_buffers_survive_a_validity_bitmap_and_empty_lists(validator: Validator, compiled: Decoder) -> None:
    """Nullable columns with nulls at every bit position, and detections lists of length 0."""
    records = [record(heartbeat(T0 + i) | {"cpu_temp_c": None if i % 3 else 40.0}) for i in range(19)]
    records += [record(visual(T0 + i, labels=("face",) * (i % 3))) for i in range(11)]
    got = _assert_same(validator, records, compiled)
    temps = got.batches["heartbeat"].column("cpu_temp_c")
    assert temps.null_count == 12 and isinstance(temps, pa.DoubleArray)
    assert got.cleared == len(records)
