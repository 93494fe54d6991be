"""Bronze validation on whole batches: records (or topic-file lines) in, Arrow record batches of
bronze rows out.

The compiled decode path (the Rust crate in ``dataflows/bronze/native``, Python module
``scout_decode``, built by ``make``) reads a batch of records — their values and envelopes
(:func:`validate_columnar`), or the lines of a topic file (:func:`validate_lines`; a block of them,
the columnar engine's file input: :func:`validate_buffer`) — decodes the
values strictly, runs the rules file's checks and fills Arrow buffers of the bronze columns, with
no Python object per event. A record it does not clear — a broken payload, a broken rule, a warning, a timestamp
or number in a form it does not handle — is *deferred*: :class:`~dataflows.bronze.validate.Validator`
decides it exactly as before and writes the quarantine reasons. Without the module (a
machine with no Rust toolchain, the Pi) every record is deferred: the pure-Python fallback,
with the same verdicts, only slower. ``tests/dataflows/bronze/test_columnar.py`` holds the
two paths and the row path to the same rows, quarantine and rule counts, on the simulator's
records, the hostile files and hypothesis-generated records.

Which columns a batch has is read from the bronze row classes (:mod:`dataflows.tables`);
their Arrow types follow the row's ClickHouse types (:func:`arrow_type`), and every batch
starts with ``row``, the record's index in the input batch, and ends with :data:`RECORD_KEY`, the
record's key (not a bronze column: a late event's row keeps it).
"""

from __future__ import annotations

import typing
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataflows.bronze.rows import bronze_row
from dataflows.bronze.rules import Rule, max_ms, min_ts_ms
from dataflows.bronze.validate import Block, Validator
from dataflows.rule_tally import PARTITION_BLOCK
from dataflows.sources.file import LineBatch, LineItem
from dataflows.tables import TABLES, DqRow, QuarantineRow, clickhouse_types
from scout_contract import SourceRecord
from scout_contract.records import OFFSET_MAX, PARTITION_MAX, TIMESTAMP_MS_MAX, TOPIC_MAX_LENGTH
from scout_contract.streams import STREAMS

#: Decided later, per key, by the event clock (:mod:`dataflows.silver.event_clock`): not in a batch here.
LATER_COLUMNS = ("late",)
#: The record's index in the input batch: the first column of every batch.
ROW = "row"
#: The record's key (``None``: none): the last column of every batch.
RECORD_KEY = "record_key"
#: The compiled decoder's verdict of a record it leaves to the Python validator.
DEFER = 255
#: stream → its bronze table's columns in a batch, in table order (``late`` left out)
BATCH_COLUMNS: dict[str, tuple[str, ...]] = {
    s.name: tuple(c for c in TABLES[s.bronze_table].columns if c not in LATER_COLUMNS) for s in STREAMS
}
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "String": pa.string(),
    "LowCardinality(String)": pa.string(),
    "Nullable(String)": pa.string(),
    "Bool": pa.bool_(),
    "Float32": pa.float64(),
    "Float64": pa.float64(),
    "Nullable(Float64)": pa.float64(),
    "Array(LowCardinality(String))": pa.list_(pa.string()),
    "Array(String)": pa.list_(pa.string()),
    "Map(String, String)": pa.map_(pa.string(), pa.string()),
}


def arrow_type(clickhouse_type: str, python_type: Any) -> pa.DataType:
    """The Arrow type a batch holds a column in: integers and timestamps (ms) as int64, floats as
    float64 (the values as decoded; the warehouse casts to the column's type), bytes as binary.

    >>> arrow_type("DateTime64(3, 'UTC')", int), arrow_type("String", bytes), arrow_type("Nullable(UInt32)", int)
    (DataType(int64), DataType(binary), DataType(int64))
    """
    if python_type is bytes:
        return pa.binary()
    if clickhouse_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[clickhouse_type]
    if "Int" in clickhouse_type or clickhouse_type.startswith(("DateTime64", "Nullable(DateTime64")):
        return pa.int64()
    raise TypeError(f"no Arrow type for ClickHouse type {clickhouse_type!r}")


@cache
def batch_schema(stream: str) -> pa.Schema:
    """The Arrow schema of a stream's batches: ``row``, then :data:`BATCH_COLUMNS`, then :data:`RECORD_KEY`."""
    row = TABLES[next(s.bronze_table for s in STREAMS if s.name == stream)].row
    ch = clickhouse_types(row)
    hints = typing.get_type_hints(row)
    fields = [pa.field(ROW, pa.uint32(), nullable=False)]
    for name in BATCH_COLUMNS[stream]:
        fields.append(pa.field(name, arrow_type(ch[name], hints[name])))
    return pa.schema([*fields, pa.field(RECORD_KEY, pa.string())])


def le_bytes(values: pa.Array | pa.ChunkedArray, typ: pa.DataType) -> bytes:
    """A fixed-width column without nulls, as ``typ``, in the little-endian bytes the compiled kernels
    read (Arrow's buffers are in the machine's order: little-endian on every machine this runs on)."""
    arr = (values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values).cast(typ)
    width = typ.bit_width // 8
    return bytes(arr.buffers()[1].slice(arr.offset * width, len(arr) * width).to_pybytes())


def le_values(buf: bytes, n: int, dtype: str, what: str) -> list[int]:
    """The ``n`` little-endian values of ``dtype`` (``"<u4"``, ``"<i8"`` …) in ``buf``, as the pure-Python
    kernels read the columns :func:`le_bytes` gives; ``ValueError`` when ``buf`` holds another number."""
    size = np.dtype(dtype).itemsize
    if len(buf) != n * size:
        raise ValueError(f"{what}: {len(buf)} bytes for {n} values of {size}")
    values: list[int] = np.frombuffer(buf, dtype=dtype).tolist()
    return values


#: ``(verdicts, {stream: (rows, columns)})``: what the compiled decoder returns for a batch
Decoded = tuple[bytes, dict[str, tuple[bytes, list[tuple[list[bytes | None], int]]]]]


class Decoder(Protocol):
    """The compiled decoder's interface (``scout_decode.Decoder``)."""

    def deferred_streams(self) -> list[str]: ...

    def decode(
        self,
        values: list[bytes],
        keys: list[str | None],
        topics: list[str],
        partitions: list[int],
        offsets: list[int],
        record_ts: list[int],
        now_ms: int,
    ) -> Decoded: ...

    def decode_lines(self, lines: list[bytes], now_ms: int) -> Decoded: ...

    def decode_buffer(self, buffer: bytes, now_ms: int) -> tuple[Decoded, bytes]: ...


#: ``(stream, check, field, lo, hi, len_lo, len_hi, values, ms)``: a rule as the compiled decoder takes it
RuleTuple = tuple[str, str, str | None, float, float, int, int, list[str], int]


def rule_tuple(rule: Rule, stream: str) -> RuleTuple:
    """A rule of ``stream`` in the compiled decoder's form (with the numbers the Python predicate uses).
    A check the decoder does not know makes it defer the stream; an ``in_set`` of non-strings too."""
    spec = rule.spec
    ms = 0
    if rule.check == "ts_min":
        ms = min_ts_ms(spec)
    elif rule.check in ("ts_max_skew", "ts_max_ahead_of_ingest"):
        ms = max_ms(spec)
    values = [str(v) for v in spec.get("values", ())]
    check = rule.check
    if check == "in_set" and not all(isinstance(v, str) for v in spec["values"]):
        check = "in_set of non-strings"  # unknown to the decoder: the stream is deferred
    ranged, sized = check == "range", check.endswith("length")
    return (
        stream,
        check,
        str(spec["field"]) if "field" in spec else None,
        float(spec.get("min", float("-inf"))) if ranged else 0.0,
        float(spec.get("max", float("inf"))) if ranged else 0.0,
        int(spec.get("min", 0)) if sized else 0,
        int(spec.get("max", 2**62)) if sized else 0,
        values,
        ms,
    )


def compiled_decoder(validator: Validator) -> Decoder | None:
    """The compiled decoder for the validator's rules and topics, or ``None`` when the
    ``scout_decode`` module is not built here (every record then takes the Python path)."""
    try:
        import scout_decode
    except ImportError:
        return None
    rules = [rule_tuple(r, s.name) for s in STREAMS for r in validator.rules.for_stream(s.name)]
    columns = {s: [*cols, RECORD_KEY] for s, cols in BATCH_COLUMNS.items()}
    limits = (PARTITION_MAX, OFFSET_MAX, TIMESTAMP_MS_MAX, TOPIC_MAX_LENGTH)
    decoder: Decoder = scout_decode.Decoder(rules, dict(validator.topic_streams), columns, limits)
    return decoder


@dataclass
class ColumnarResult:
    """A validated batch: per stream one Arrow batch of its accepted records in input order."""

    batches: dict[str, pa.RecordBatch] = field(default_factory=dict)
    quarantine_rows: list[QuarantineRow] = field(default_factory=list)
    dq_rows: list[DqRow] = field(default_factory=list)
    #: records cleared by the compiled path / decided by the Python validator
    cleared: int = 0
    deferred: int = 0


def _stream_batch(stream: str, rows: bytes, columns: list[tuple[list[bytes | None], int]]) -> pa.RecordBatch:
    """The compiled path's buffers of one stream as an Arrow batch."""
    schema = batch_schema(stream)
    n = len(rows) // 4
    arrays = [pa.Array.from_buffers(pa.uint32(), n, [None, pa.py_buffer(rows)])]
    for name, (buffers, nulls) in zip([*BATCH_COLUMNS[stream], RECORD_KEY], columns, strict=True):
        bufs = [None if b is None else pa.py_buffer(b) for b in buffers]
        typ = schema.field(name).type
        if pa.types.is_list(typ) or pa.types.is_map(typ):
            child = _child(typ, bufs[2:])
            arrays.append(pa.Array.from_buffers(typ, n, bufs[:2], null_count=0, children=[child]))
        else:
            arrays.append(pa.Array.from_buffers(typ, n, bufs, null_count=nulls))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _child(typ: pa.DataType, bufs: list[pa.Buffer | None]) -> pa.Array:
    """The child array of a list<string> or map<string, string> column (the compiled path's layout)."""
    if pa.types.is_list(typ):
        m = (len(bufs[1]) // 4) - 1 if bufs[1] is not None else 0
        return pa.Array.from_buffers(pa.string(), m, bufs[:3], null_count=0)
    m = (len(bufs[2]) // 4) - 1 if bufs[2] is not None else 0
    keys = pa.Array.from_buffers(pa.string(), m, bufs[1:4], null_count=0)
    values = pa.Array.from_buffers(pa.string(), m, bufs[4:7], null_count=0)
    return pa.StructArray.from_arrays([keys, values], fields=[typ.key_field, typ.item_field])


def _count_blocks(stream: str, batch: pa.RecordBatch, into: dict[Block, dict[str, int]]) -> None:
    """Add a batch's records to the counts per block of offsets (what the rule counts are kept per)."""
    blocks = pa.table({
        "topic": batch.column("topic"),
        "partition": batch.column("partition"),
        "block": pc.divide(batch.column("offset"), PARTITION_BLOCK),  # offsets are >= 0: a floor
    }).group_by(["topic", "partition", "block"]).aggregate([([], "count_all")])  # fmt: skip
    for row in blocks.to_pylist():
        into[(row["topic"], row["partition"], row["block"])][stream] += row["count_all"]


def _combine(
    validator: Validator, n: int, decoded: Decoded | None, record: Callable[[int], SourceRecord], now: int
) -> ColumnarResult:
    """The compiled path's batches (``decoded``; ``None``: nothing cleared) plus the deferred records'
    verdicts from the validator (``record(i)``: the batch's ``i``-th record, made only when deferred)."""
    out = ColumnarResult()
    parts: dict[str, list[pa.RecordBatch]] = defaultdict(list)
    cleared: dict[Block, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    deferred = list(range(n))
    if decoded is not None:
        verdicts, streams = decoded
        deferred = [i for i, v in enumerate(verdicts) if v == DEFER]
        for stream, (rows, columns) in streams.items():
            if rows:
                batch = _stream_batch(stream, rows, columns)
                _count_blocks(stream, batch, cleared)
                parts[stream].append(batch)
    out.cleared, out.deferred = n - len(deferred), len(deferred)
    records = [record(i) for i in deferred]
    slow = validator.validate(records, now=now, cleared=cleared)
    out.quarantine_rows, out.dq_rows = slow.quarantine_rows, slow.dq_rows
    by_stream: dict[str, list[tuple[int, Any, str | None]]] = defaultdict(list)
    j = 0  # accepted events come in input order: find each one's index among the deferred
    for acc in slow.accepted:
        while records[j] is not acc.record:
            j += 1
        by_stream[acc.stream].append((deferred[j], bronze_row(acc, now, False), acc.record.key))
        j += 1
    for stream, rows_ in by_stream.items():
        columns_: dict[str, list[Any]] = {ROW: [i for i, _, _ in rows_]}
        for name in BATCH_COLUMNS[stream]:
            columns_[name] = [getattr(r, name) for _, r, _ in rows_]
        columns_[RECORD_KEY] = [k for _, _, k in rows_]
        parts[stream].append(pa.RecordBatch.from_pydict(columns_, schema=batch_schema(stream)))
    for stream, batches in parts.items():
        table = pa.Table.from_batches(batches)
        out.batches[stream] = (table.sort_by(ROW) if len(batches) > 1 else table).combine_chunks().to_batches()[0]
    return out


def validate_columnar(
    validator: Validator, records: Sequence[SourceRecord], decoder: Decoder | None, now: int | None = None
) -> ColumnarResult:
    """Validate a batch of records (Kafka's, or any source's): the compiled path clears what it can,
    the validator decides the rest.

    The result has the rows :meth:`Validator.validate` and :func:`~dataflows.bronze.rows.bronze_row`
    give for the same records (``late`` aside), as Arrow batches.
    """
    now = validator.now_ms() if now is None else now
    decoded = None
    if decoder is not None and records:
        decoded = decoder.decode(
            [r.value if r.envelope_error is None else b"" for r in records],  # b"": deferred
            [r.key for r in records],
            [r.topic for r in records],
            [r.partition for r in records],
            [r.offset for r in records],
            [r.timestamp_ms for r in records],
            now,
        )
    return _combine(validator, len(records), decoded, records.__getitem__, now)


def validate_buffer(
    validator: Validator, batch: LineBatch, decoder: Decoder | None, now: int | None = None
) -> ColumnarResult:
    """Validate a block of a topic file's whole lines (:class:`~dataflows.sources.file.LineBatch`) as
    :func:`validate_lines` validates them one by one, without a Python object per line: the compiled
    path splits the buffer itself, and only the lines it defers are read as records."""
    now = validator.now_ms() if now is None else now
    if decoder is None:
        bounds = [(at, at + len(line)) for at, line in batch.lines()]
        return _combine(validator, len(bounds), None, lambda i: batch.record(*bounds[i]), now)
    decoded, flat = decoder.decode_buffer(batch.buffer, now)
    at = np.frombuffer(flat, "<u8").reshape(-1, 2)  # each line's (start, end) in the buffer
    return _combine(validator, len(at), decoded, lambda i: batch.record(*map(int, at[i])), now)


def validate_item(
    validator: Validator, item: LineItem, decoder: Decoder | None, now: int | None = None
) -> ColumnarResult:
    """Validate what a source gives: a block of a topic file's lines (:func:`validate_buffer`), or a
    batch of records (:func:`validate_columnar`)."""
    if isinstance(item, LineBatch):
        return validate_buffer(validator, item, decoder, now)
    return validate_columnar(validator, item, decoder, now)


def validate_lines(
    validator: Validator,
    lines: Sequence[bytes],
    decoder: Decoder | None,
    record: Callable[[int], SourceRecord],
    now: int | None = None,
) -> ColumnarResult:
    """Validate the lines of a topic file (SPEC §2 file form) as :func:`validate_columnar` validates
    their records; ``record(i)`` reads the ``i``-th line as the file source does (only the lines
    the compiled path defers are read so: an envelope it does not read, a record it does not clear)."""
    now = validator.now_ms() if now is None else now
    decoded = decoder.decode_lines(list(lines), now) if decoder is not None and lines else None
    return _combine(validator, len(lines), decoded, record, now)
