"""Benchmark: ways of inserting the rows the pipeline writes, side by side (issue #8, item 2).

The rows are exactly those of one pipeline run (every table), captured once
through the dataflow's own writer interface; each path then inserts the same
rows into a fresh chDB warehouse, in its own process (chDB allows one data path
per process):

* ``rows``     — clickhouse-connect, row-oriented ``insert`` (Native format; the path
                 :func:`dataflows.warehouse.insert_rows` takes);
* ``columns``  — clickhouse-connect, column-oriented (rows transposed first);
* ``arrow``    — a pyarrow table built from the rows, ``insert_arrow`` (Arrow IPC);
* ``json``     — msgspec writes JSONCompactEachRow and chDB parses it (no Python
                 serialisation: the row → text step is C; times in seconds, since a
                 JSON integer is read as seconds by ``DateTime64``);
* ``msgpack_format`` — ClickHouse's own MsgPack input format: each table's rows flattened
                 (one value after another) and encoded by msgspec, parsed by chDB (no Python
                 serialisation); tables with a column that format cannot take from msgspec's
                 encoding (``Float32``, ``Date``: < 3 % of rows) are inserted row-oriented;
* ``msgpack``  — the hand-off of the writer process alone: msgspec MessagePack encode
                 in the dataflow's process, typed decode in the writer's (no insert).

``quarantine_events`` carries raw bytes that need not be UTF-8: the ``json`` path
inserts it row-oriented (it is < 0.2 % of rows). Printed per path: rows/s, the
time spent building what the insert call takes (transposing, pyarrow arrays,
JSON text) and the time inside the insert call (clickhouse-connect's
serialisation, if any, plus chDB). Automatic garbage collection is off, with a
collection after each batch, as in the writer process.

    python bench/insert_paths.py [--events 200000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PATHS = ("rows", "columns", "arrow", "json", "msgpack_format", "msgpack")
#: Column types ClickHouse's MsgPack input format does not read from what msgspec writes for them
#: (a Python float is a MessagePack float 64, which a ``Float32`` column refuses; a date is a string).
NOT_MSGPACK_FORMAT = {"Float32", "Date"}


def child_capture(events: Path, out: Path) -> dict[str, Any]:
    """Run the pipeline with a writer that keeps every batch (in memory, pickled at the end)."""
    from dataflows.config import load_settings
    from dataflows.runner import build_source, make_flow, run_flow
    from dataflows.tables import TableRows

    class Keep:
        def __init__(self) -> None:
            self.batches: list[TableRows] = []

        def submit(self, batch: TableRows) -> None:
            self.batches.append(batch)

        def wait(self) -> None:
            pass

    keep = Keep()
    settings = load_settings(sink="chdb:///unused")
    run_flow(make_flow(settings, build_source(settings, [f"file:{events}"]), None, writer=keep), settings)
    with out.open("wb") as f:
        pickle.dump([{t: list(map(tuple, r)) for t, r in b.rows.items()} for b in keep.batches], f)
    return {"rows": sum(b.count() for b in keep.batches), "batches": len(keep.batches)}


def _load(path: Path) -> list[Any]:
    from dataflows.tables import TABLES, TableRows

    out = []
    for raw in pickle.loads(path.read_bytes()):
        batch = TableRows()
        for table, rows in raw.items():
            batch.rows[table] = [TABLES[table].row(*r) for r in rows]
        out.append(batch)
    return out


def _arrow_type(ch: str) -> Any:
    import pyarrow as pa

    nullable = ch.startswith("Nullable(")
    ch = ch.removeprefix("Nullable(").removesuffix(")") if nullable else ch
    ch = ch.removeprefix("LowCardinality(").removesuffix(")") if ch.startswith("LowCardinality(") else ch
    if ch.startswith("DateTime64"):
        return pa.timestamp("ms", "UTC")
    if ch.startswith("Array("):
        return pa.list_(pa.string())
    if ch == "Map(String, String)":
        return pa.map_(pa.string(), pa.string())
    if ch == "Map(String, UInt32)":
        return pa.map_(pa.string(), pa.uint32())
    simple = {"String": pa.string(), "Bool": pa.bool_(), "Float64": pa.float64(), "Float32": pa.float32(),
              "UInt64": pa.uint64(), "Int64": pa.int64(), "UInt32": pa.uint32(), "UInt16": pa.uint16(),
              "Int32": pa.int32(), "Date": pa.date32()}  # fmt: skip
    return simple[ch]


def _msgpack_array_header(encoded: bytes) -> int:
    """Length of the MessagePack array header that starts ``encoded`` (fixarray, array 16, array 32).

    >>> import msgspec
    >>> [_msgpack_array_header(msgspec.msgpack.encode([0] * n)) for n in (3, 16, 70_000)]
    [1, 3, 5]
    """
    first = encoded[0]
    if first & 0xF0 == 0x90:
        return 1
    return {0xDC: 3, 0xDD: 5}[first]


def child_insert(rows_file: Path, workdir: Path, path: str) -> dict[str, Any]:
    import gc

    import msgspec

    from dataflows.sinks.writer import decode_batch, encode_batch
    from dataflows.tables import COLUMNS, TABLES, clickhouse_types
    from dataflows.warehouse import connect, insert_rows, migrate

    batches = _load(rows_file)
    gc.collect()
    gc.freeze()
    gc.disable()
    client = connect(f"chdb://{workdir}", create=True)
    migrate(client)
    n = sum(b.count() for b in batches)
    python_s = engine_s = 0.0
    json_enc = msgspec.json.Encoder()
    msgpack_enc = msgspec.msgpack.Encoder()
    t_all = time.perf_counter()
    for batch in batches:
        gc.collect()
        if path == "msgpack":
            t0 = time.perf_counter()
            decode_batch(encode_batch(batch))
            python_s += time.perf_counter() - t0
            continue
        for table, rows in batch.rows.items():
            if not rows:
                continue
            cols = list(COLUMNS[table])
            t0 = time.perf_counter()
            types = clickhouse_types(TABLES[table].row)
            if (
                path == "rows"
                or (path == "json" and table == "quarantine_events")
                or (path == "msgpack_format" and NOT_MSGPACK_FORMAT & set(types.values()))
            ):
                insert_rows(client, table, rows)  # serialisation and engine not separable here
                engine_s += time.perf_counter() - t0
            elif path == "columns":
                data = [list(c) for c in zip(*rows, strict=True)]
                t1 = time.perf_counter()
                client.insert(table, data, column_names=cols, column_oriented=True)
                python_s += t1 - t0
                engine_s += time.perf_counter() - t1
            elif path == "msgpack_format":
                flat = msgpack_enc.encode(list(itertools.chain.from_iterable(rows)))
                block = flat[_msgpack_array_header(flat) :]  # the values one after another, as the format reads
                t1 = time.perf_counter()
                client.raw_insert(table, cols, block, fmt="MsgPack")
                python_s += t1 - t0
                engine_s += time.perf_counter() - t1
            elif path == "arrow":
                import pyarrow as pa

                arrays = {
                    c: pa.array([list(v.items()) if isinstance(v, dict) else v for v in col],
                                type=_arrow_type(types[c]))
                    for c, col in zip(cols, zip(*rows, strict=True), strict=True)
                }  # fmt: skip
                tbl = pa.table(arrays)
                t1 = time.perf_counter()
                client.insert_arrow(table, tbl)
                python_s += t1 - t0
                engine_s += time.perf_counter() - t1
            elif path == "json":
                times = [i for i, c in enumerate(cols) if "DateTime64" in types[c]]
                raw = [i for i, c in enumerate(cols) if c == "payload"]
                prepared = []
                for r in rows:
                    v = list(r)
                    for i in times:
                        if v[i] is not None:
                            v[i] = v[i] / 1000
                    for i in raw:
                        v[i] = v[i].decode()
                    prepared.append(v)
                block = json_enc.encode_lines(prepared)
                t1 = time.perf_counter()
                client.raw_insert(table, cols, block, fmt="JSONCompactEachRow")
                python_s += t1 - t0
                engine_s += time.perf_counter() - t1
    seconds = time.perf_counter() - t_all
    check = None
    if path != "msgpack":
        check = {  # row counts, and a hash of every row's every column (same rows in: same hashes)
            t: list(client.query(f"SELECT count(), sum(cityHash64(*)) FROM `{t}`").result_rows[0])
            for t in ("bronze_visual_stream", "silver_annotated_events", "bronze_device_heartbeat", "late_events")
        }
    return {"rows": n, "seconds": seconds, "python_s": python_s, "engine_s": engine_s, "check": check}


def _child(*args: str) -> dict[str, Any]:
    from pipeline import run_child

    return run_child(__file__, *args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "simulate":
            from pipeline import child_simulate

            print(json.dumps(child_simulate(Path(rest[0]), int(rest[1]))))
        elif kind == "capture":
            print(json.dumps(child_capture(Path(rest[0]), Path(rest[1]))))
        else:
            print(json.dumps(child_insert(Path(rest[0]), Path(rest[1]), rest[2])))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="scout-insert-") as tmp:
        work = Path(tmp)
        events, rows = work / "events.jsonl", work / "rows.pickle"
        console.print(f"simulating {args.events:,} events and capturing the rows the pipeline writes …")
        sim = _child("simulate", str(events), str(args.events))
        cap = _child("capture", str(events), str(rows))
        results = {p: _child("insert", str(rows), str(work / p), p) for p in PATHS}
    t = Table(title=f"Insert paths into chDB: the rows of {sim['events']:,} events ({cap['rows']:,} rows, "
                    f"{cap['batches']} batches), one process each", header_style="bold cyan")  # fmt: skip
    for col in ("path", "seconds", "rows/s", "building s", "insert call s", "vs rows"):
        t.add_column(col, justify="left" if col == "path" else "right")
    base = results["rows"]["seconds"]
    for p, r in results.items():
        t.add_row(p, f"{r['seconds']:.2f}", f"{r['rows'] / r['seconds']:,.0f}",
                  f"{r['python_s']:.2f}" if r["python_s"] else "—", f"{r['engine_s']:.2f}" if r["engine_s"] else "—",
                  f"{r['seconds'] / base:.2f}")  # fmt: skip
    console.print(t)
    counts = {p: r["check"] for p, r in results.items() if r["check"]}
    same = len({json.dumps(c, sort_keys=True) for c in counts.values()}) == 1
    verdict = "yes" if same else f"NO {counts}"
    console.print(f"every insert path stored the same rows (counts and row hashes): {verdict}")


if __name__ == "__main__":
    main()
