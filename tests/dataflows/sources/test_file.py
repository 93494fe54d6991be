"""The file source and the validator against hostile bytes: every line ends in bronze or quarantine.

Property-based (hypothesis, fixed seed and budget: tests/conftest.py) over arbitrary bytes in every
envelope field and in values, through the real file source partition and the real validator.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest
from bytewax.inputs import FixedPartitionedSource
from hypothesis import given
from hypothesis import strategies as st

from dataflows.bronze.rules import RuleSet
from dataflows.bronze.validate import Validator
from dataflows.sources.file import (
    MAX_RECORD_BYTES,
    LineBatch,
    LineItem,
    TopicFileSource,
    TopicLineSource,
    file_topic,
)
from dataflows.tables import QuarantineRow
from scout_contract import SourceRecord
from scout_contract.records import OFFSET_MAX, PARTITION_MAX, TIMESTAMP_MS_MAX
from tests.factories import NOW, T0, heartbeat, stt, visual

T = TypeVar("T")


def drain(
    path: Path, keep_partial: bool = False, resume: object = None, max_record_bytes: int = MAX_RECORD_BYTES
) -> tuple[list[SourceRecord], object]:
    """Read a whole file through the real source partition (as Bytewax would); returns records and state.
    The columnar engine's line source (:class:`TopicLineSource`) must give the same records and state."""
    kwargs: dict[str, Any] = {"batch_size": 7, "keep_partial": keep_partial, "max_record_bytes": max_record_bytes}
    records, state = _drain(TopicFileSource([path], **kwargs), path, resume, list)
    from_lines, line_state = _drain(TopicLineSource([path], **kwargs), path, resume, _line_records)
    assert (from_lines, line_state) == (records, state), "the line source reads the file as the record source does"
    return records, state


def _line_records(item: LineItem) -> list[SourceRecord]:
    return item.records() if isinstance(item, LineBatch) else item


def _drain(
    source: FixedPartitionedSource[T, dict[str, int]],
    path: Path,
    resume: object,
    records: Callable[[T], list[SourceRecord]],
) -> Any:
    part = source.build_part("in", str(path), resume)  # type: ignore[arg-type]
    out: list[SourceRecord] = []
    try:
        for _ in range(100_000):
            try:
                batches = part.next_batch()
            except StopIteration:
                break
            for batch in batches:
                out.extend(records(batch))
        return out, part.snapshot()
    finally:
        part.close()


# -- strategies: fragments of a JSON line, any of which may be hostile --------------------------

_raw = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))
_quoted_raw = _raw.map(lambda b: b'"' + b.replace(b'"', b"").replace(b"\\", b"") + b'"')
_json_text = st.text(max_size=30).map(lambda t: json.dumps(t).encode())
_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: str(i).encode()),
    st.floats(allow_nan=False).map(lambda f: repr(f).encode()),
    st.sampled_from([b"1e400", b"-0", b"00", b"0x10", b"NaN"]),
)
_scalar = st.one_of(_json_text, _quoted_raw, _number, st.sampled_from([b"null", b"true", b"[]", b"{}"]))
_deep = st.integers(min_value=1, max_value=20_000).map(lambda n: b"[" * n + b"]" * n)
_event = st.sampled_from([stt(T0), visual(T0), heartbeat(T0), {**stt(T0), "confidence": 7}]).map(msgspec.json.encode)


def _mutate(data: bytes, cut: int, flip: int) -> bytes:
    if not data:
        return data
    i = flip % len(data)
    return (data[:i] + bytes([data[i] ^ 0x80]) + data[i + 1 :])[: max(1, cut % (len(data) + 1))]


_value = st.one_of(
    _event,
    st.builds(_mutate, _event, st.integers(0, 400), st.integers(0, 400)),
    _deep,
    _scalar,
    _json_text,
    _raw.map(lambda b: json.dumps(b.decode("latin-1")).encode()),
)
_b64 = st.one_of(_raw.map(lambda b: b'"' + base64.b64encode(b) + b'"'), _quoted_raw)


@st.composite
def hostile_line(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(_raw)  # anything at all
    fields = {
        b"topic": draw(st.one_of(st.sampled_from([b'"eh-pi-stt-raw"', b'"eh-pi-visual-stream"']), _scalar)),
        b"partition": draw(st.one_of(st.just(b"0"), _number, _scalar)),
        b"offset": draw(st.one_of(st.just(b"5"), _number)),
        b"timestamp_ms": draw(st.one_of(st.just(str(T0).encode()), _number)),
        b"key": draw(st.one_of(st.just(b'"SCOUTPI-0001"'), _scalar)),
        b"key_b64": draw(_b64),
        b"value": draw(_value),
        b"value_b64": draw(_b64),
    }
    keep = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, min_size=0, max_size=len(fields)))
    return b"{" + b",".join(b'"' + k + b'":' + fields[k] for k in keep) + b"}"


def _check_storable(row: QuarantineRow) -> None:
    """What the quarantine insert needs: coordinates inside their column types, text that is UTF-8."""
    r = row._asdict()
    assert -1 <= row.partition <= PARTITION_MAX
    assert -1 <= row.offset <= OFFSET_MAX
    assert 0 <= row.record_ts <= TIMESTAMP_MS_MAX
    for col in ("topic", "key", "event_id", "device_id", "store_id"):
        value = r[col]
        assert isinstance(value, str)
        value.encode("utf-8")  # no lone surrogates


@given(
    data=st.binary(max_size=600).map(lambda b: b.replace(b"\x01", b"\n")),
    max_record_bytes=st.sampled_from([8, 64, 200, MAX_RECORD_BYTES]),
    keep_partial=st.booleans(),
)
def test_the_line_source_cuts_any_file_into_the_records_the_record_source_reads(
    data: bytes, max_record_bytes: int, keep_partial: bool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Blocks of whole lines, long lines, blank ones, a last line without a newline, kept or not (drain
    compares the two sources)."""
    path = tmp_path_factory.mktemp("cut") / "topic.jsonl"
    path.write_bytes(data)
    drain(path, keep_partial=keep_partial, max_record_bytes=max_record_bytes)


@given(lines=st.lists(hostile_line(), min_size=1, max_size=12))
def test_any_bytes_end_in_bronze_or_quarantine(
    lines: list[bytes], tmp_path_factory: pytest.TempPathFactory, rules: RuleSet
) -> None:
    path = tmp_path_factory.mktemp("hostile") / "topic.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    records, _ = drain(path)
    assert len(records) == sum(1 for line in lines if line.strip())
    result = Validator(rules, now_ms=lambda: NOW).validate(records)
    assert len(result.accepted) + len(result.quarantine_rows) == len(records)
    for row in result.quarantine_rows:
        _check_storable(row)
    for acc in result.accepted:
        assert 0 <= acc.record.partition <= PARTITION_MAX and 0 <= acc.record.offset <= OFFSET_MAX


_records = st.builds(
    SourceRecord,
    topic=st.text(min_size=1, max_size=30),
    partition=st.integers(0, PARTITION_MAX),
    offset=st.integers(0, OFFSET_MAX),
    timestamp_ms=st.integers(0, TIMESTAMP_MS_MAX),
    key=st.one_of(st.none(), st.text(max_size=20)),
    value=st.one_of(st.binary(max_size=60), _value, _deep),
)


@given(rec=_records)
def test_encoding_any_record_never_fails_and_round_trips(rec: SourceRecord) -> None:
    from scout_contract import decode_record_line, encode_record_line

    line = encode_record_line(rec)
    assert b"\n" not in line and b"\r" not in line
    assert decode_record_line(line) == rec


def test_a_key_that_is_not_text_is_carried_and_comes_back_as_an_envelope_error() -> None:
    from scout_contract import decode_record_line, encode_record_line
    from scout_contract.records import EnvelopeError

    line = encode_record_line(SourceRecord("t", 0, 0, 0, "\udcff", b"{}"))
    assert b"key_b64" in line
    with pytest.raises(EnvelopeError, match="not UTF-8"):
        decode_record_line(line)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"topic":"eh-pi-stt-raw","partition":0,"offset":1,"timestamp_ms":1,"value":"\xff\xfe"}', "Unicode"),
        (b'{"topic":"eh-pi-stt-raw","partition":0,"offset":1,"timestamp_ms":1,"value_b64":"!!!"}', "base64"),
        (b'{"topic":"eh-pi-stt-raw","partition":0,"offset":1,"timestamp_ms":1,"key":"\xff","value":"x"}', "Unicode"),
        (b'{"topic":"t","partition":0,"offset":1,"timestamp_ms":1,"value":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
         "Recursion"),
        (b'{"topic":"t","partition":99999999999,"offset":1,"timestamp_ms":1,"value":"x"}', "partition"),
        (b'{"topic":"t","partition":0,"offset":-5,"timestamp_ms":1,"value":"x"}', "offset"),
        (b'{"topic":"t","partition":0,"offset":1,"timestamp_ms":99999999999999999,"value":"x"}', "timestamp_ms"),
    ],
)  # fmt: skip
def test_each_reported_crash_is_a_quarantine_row_with_its_raw_bytes(
    line: bytes, reason: str, tmp_path: Path, rules: RuleSet
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"{oops\n" + line + b"\n")
    records, _ = drain(path)
    result = Validator(rules, now_ms=lambda: NOW).validate(records)
    assert not result.accepted
    rows = [r._asdict() for r in result.quarantine_rows]
    assert [r["rules"] for r in rows] == [["record_envelope"], ["record_envelope"]]
    assert reason in str(rows[1]["reasons"]) and rows[1]["payload"] == line
    assert (rows[1]["topic"], rows[1]["partition"], rows[1]["offset"]) == (file_topic(path), -1, len(b"{oops\n"))


def test_broken_lines_of_two_files_have_different_coordinates(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"{torn\n")
    b.write_bytes(b"{torn\n")
    [ra], [rb] = drain(a)[0], drain(b)[0]
    assert (ra.topic, ra.partition, ra.offset) != (rb.topic, rb.partition, rb.offset)


def test_a_byte_order_mark_is_not_data(tmp_path: Path, rules: RuleSet) -> None:
    from scout_contract import encode_record_line
    from tests.factories import record

    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + encode_record_line(record(stt(T0))) + b"\n")
    records, _ = drain(path)
    assert len(Validator(rules, now_ms=lambda: NOW).validate(records).accepted) == 1


def test_only_whole_lines_are_consumed_by_a_resumable_run(tmp_path: Path, rules: RuleSet) -> None:
    from scout_contract import encode_record_line
    from tests.factories import record

    whole = encode_record_line(record(stt(T0))) + b"\n"
    second = encode_record_line(record(stt(T0 + 1_000)))
    path = tmp_path / "growing.jsonl"
    path.write_bytes(whole + second[:20])  # a writer is half-way through the second line
    records, state = drain(path, keep_partial=True)
    assert len(records) == 1 and state == {"version": 2, "offset": len(whole)}
    with path.open("ab") as f:
        f.write(second[20:] + b"\n")
    more, state = drain(path, keep_partial=True, resume=state)
    assert [r.value for r in more] == [record(stt(T0 + 1_000)).value] or len(more) == 1
    assert state == {"version": 2, "offset": len(whole) + len(second) + 1}


def test_a_finished_file_quarantines_its_incomplete_last_line_and_keeps_a_complete_one(tmp_path: Path) -> None:
    from scout_contract import encode_record_line
    from tests.factories import record

    line = encode_record_line(record(stt(T0)))
    path = tmp_path / "f.jsonl"
    path.write_bytes(line + b"\n" + line)  # no final newline: still a whole record
    assert [r.envelope_error for r in drain(path)[0]] == [None, None]
    path.write_bytes(line + b"\n" + line[:30])
    assert [r.envelope_error is None for r in drain(path)[0]] == [True, False]


def test_recovery_state_of_another_version_is_refused_clearly(tmp_path: Path) -> None:
    from dataflows.errors import RecoveryStateError

    path = tmp_path / "x.jsonl"
    path.write_bytes(b"")
    with pytest.raises(RecoveryStateError, match="another version"):
        drain(path, resume=(120, 3))


def test_a_line_longer_than_the_limit_is_quarantined_with_its_head_and_never_read_whole(
    tmp_path: Path, rules: RuleSet
) -> None:
    from scout_contract import encode_record_line
    from tests.factories import record

    good = encode_record_line(record(stt(T0))) + b"\n"
    huge = b'{"topic": "t", "value": "' + b"x" * 50_000 + b'"}\n'
    path = tmp_path / "big.jsonl"
    path.write_bytes(good + huge + good)
    part = TopicFileSource([path], batch_size=10, max_record_bytes=4096).build_part("in", str(path), None)
    try:
        [batch] = part.next_batch()
        assert part.snapshot() == {"version": 2, "offset": 2 * len(good) + len(huge)}
    finally:
        part.close()
    lines = TopicLineSource([path], batch_size=10, max_record_bytes=4096).build_part("in", str(path), None)
    try:
        items = [lines.next_batch(), lines.next_batch(), lines.next_batch()]
    finally:
        lines.close()
    [[first], [head], [last]] = items
    assert isinstance(first, LineBatch) and isinstance(last, LineBatch), "whole lines come as blocks"
    assert head == [batch[1]], "the line longer than the limit comes alone, as its head"
    assert first.buffer == last.buffer == good and last.base == len(good) + len(huge)
    assert [r.envelope_error is None for r in batch] == [True, False, True]
    big = batch[1]
    assert (big.offset, len(big.value)) == (len(good), 4096) and f"line of {len(huge)} bytes" in str(big.envelope_error)
    result = Validator(rules, now_ms=lambda: NOW).validate(batch)
    assert len(result.accepted) == 2 and len(result.quarantine_rows) == 1


def test_the_columnar_engine_reads_topic_files_as_lines_and_the_rows_engine_refuses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataflows.config import load_settings
    from dataflows.runner import build_source, make_flow

    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "empty.toml"))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"")
    columnar = load_settings(engine="columnar", sink=f"chdb://{tmp_path / 'db'}")
    rows = load_settings(sink=f"chdb://{tmp_path / 'db'}")
    assert isinstance(build_source(columnar, [f"file:{path}"]), TopicLineSource)
    assert isinstance(build_source(rows, [f"file:{path}"]), TopicFileSource)
    with pytest.raises(ValueError, match="the rows engine reads records"):
        make_flow(rows, build_source(columnar, [f"file:{path}"]), None)
