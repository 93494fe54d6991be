"""Benchmark: the whole dataflow (topic file → Bytewax → chDB) on one worker,
side by side with the raw limits measured in the same run:

* parse only   — decode every file line and its event (what any consumer pays);
* compiled decode path — the file read as the columnar engine reads it (blocks of whole lines) through
                 :func:`~dataflows.bronze.columnar.validate_buffer` (Arrow batches of bronze rows,
                 quarantine rows; the columnar engine's first step, #21);
* chDB insert  — bulk-insert the same events' bronze rows with clickhouse-connect;
* null sink    — the dataflow with a writer that only encodes the rows it gets
                 (compute alone: everything but the insert);
* insert only  — exactly the rows the null-sink run produced, batch by batch, decoded
                 and inserted as the writer process does (the insert alone);
* pipeline     — ``scout run`` end to end (validation, dedup, lateness, the session
                 join, gold windows, every table written), with the rows written by a
                 writer process (the default) and, as the baseline, in the dataflow's
                 own process (``sink_writer = "inline"``).

Each stage runs in its own process (chDB allows one data path per process, and
peak RSS is then the stage's own; the writer process reports its own). CPU
seconds are printed beside wall time for the null sink and the pipelines: the
dataflow's process (all its threads) and the writer process, to show how much
of the two cores each takes. Peak RSS
of the pipeline is compared between N and ``--scale``×N events to show that
state does not grow with history (windows are evicted when they close).

The last table puts each process's CPU per event beside the budget that
``--target`` events/s (50,000, issue #8) leaves it: the dataflow's Python work
shares one GIL, so its process gets one core (20 µs per event at 50,000/s); both
processes together get every core of the machine.

Every stage is measured ``--runs`` times (3 by default, on the same input files); each run's
tables are printed, then every stage's events/s of all runs side by side with their spread.

    python bench/pipeline.py                 # 1,000,000 and 3,000,000 events, three runs
    python bench/pipeline.py --events 200000 --scale 2 --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parents[1]
EVENTS_PER_DEVICE_HOUR = 1_470  # what the simulator's default store produces


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (all its threads) or of its ended children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def child_simulate(out: Path, events: int) -> dict[str, Any]:
    from dataflows.simulator import SimConfig, simulate, write_topic_file

    stores, devices = 16, 4
    hours = events / (stores * devices * EVENTS_PER_DEVICE_HOUR)
    t0 = time.perf_counter()
    n = write_topic_file(simulate(SimConfig(stores=stores, devices_per_store=devices, hours=hours, seed=1)), out)
    return {"events": n, "seconds": time.perf_counter() - t0}


def simulated_lines(events: int, say: Callable[[str], object]) -> list[bytes]:
    """The topic-file lines of about ``events`` simulated events (``child_simulate``'s stores), in memory."""
    with tempfile.TemporaryDirectory(prefix="scout-bench-") as tmp:
        path = Path(tmp) / "events.jsonl"
        say(f"simulating {events:,} events …")
        child_simulate(path, events)
        return path.read_bytes().splitlines(keepends=True)


#: A fixed processing time inside the simulated day (what the stage benchmarks validate at).
BENCH_NOW = 1_747_700_000_000


def stage_bench_args(doc: str | None, runs_flag: str = "--runs", runs: int = 3) -> argparse.Namespace:
    """The command line of a benchmark of stages on simulated events, in its own process:
    ``--events`` (300,000), ``runs_flag`` (how many times each path runs) and ``--batch-size`` (20,000)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument(runs_flag, type=int, default=runs)
    ap.add_argument("--batch-size", type=int, default=20_000)
    return ap.parse_args()


def bench_validator() -> Any:
    """The default rules and topics, validating at :data:`BENCH_NOW`."""
    from dataflows.bronze.rules import load_rules
    from dataflows.bronze.validate import Validator
    from dataflows.config import load_settings

    settings = load_settings(sink="chdb:///unused")
    return Validator(load_rules(settings.rules_file), settings.topics.topic_streams(), lambda: BENCH_NOW)


def child_parse(path: Path) -> dict[str, Any]:
    import msgspec

    from dataflows.sources.file import parse_line
    from scout_contract import decode_event

    t0 = time.perf_counter()
    n = 0
    with path.open("rb") as f:
        while lines := f.readlines(64 << 20):
            for rec in (parse_line(line, "bench", 0) for line in lines):
                with contextlib.suppress(msgspec.DecodeError, msgspec.ValidationError):
                    decode_event(rec.value)  # malformed payloads are part of the input
                n += 1
    return {"events": n, "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb()}


def child_decode(path: Path, batch_size: int) -> dict[str, Any]:
    """The compiled decode path alone (#21 item 1), as the columnar engine reads a file: blocks of whole
    lines (:class:`~dataflows.sources.file.TopicLineSource`) → Arrow batches of bronze rows and quarantine
    rows (:func:`~dataflows.bronze.columnar.validate_item`: ``validate_buffer`` on blocks), nothing written."""
    from dataflows.bronze.columnar import compiled_decoder, validate_item
    from dataflows.sources.file import TopicLineSource

    validator = bench_validator()
    decoder = compiled_decoder(validator)
    if decoder is None:
        raise SystemExit("scout_decode is not built: run `make native` first")
    t0, c0 = time.perf_counter(), _cpu_s()
    n = 0
    part = TopicLineSource([path], batch_size).build_part("decode", str(path), None)
    try:
        while True:
            try:
                items = part.next_batch()
            except StopIteration:
                break
            for item in items:
                result = validate_item(validator, item, decoder, BENCH_NOW)
                n += result.cleared + result.deferred
    finally:
        part.close()
    cpu = _cpu_s() - c0
    return {"events": n, "seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_rss_mb(), "cpu_s": cpu}


def child_insert(path: Path, workdir: Path) -> dict[str, Any]:
    """Bulk-insert the bronze rows of the same events (rows built untimed)."""
    from dataflows.bronze.rules import load_rules
    from dataflows.bronze.validate import Validator
    from dataflows.config import WindowConfig
    from dataflows.silver.annotate import load_lexicon
    from dataflows.silver.event_clock import DeviceClock
    from dataflows.sources.file import parse_line
    from dataflows.tables import of_layer
    from dataflows.warehouse import connect, insert_rows, migrate

    client = connect(f"chdb://{workdir / 'raw-insert'}", create=True)
    migrate(client)
    validator = Validator(load_rules())
    clock = DeviceClock(WindowConfig(out_of_orderness_ms=10**12), load_lexicon())  # nothing is late
    tables: dict[str, list[tuple[object, ...]]] = {}
    with path.open("rb") as f:
        while lines := f.readlines(64 << 20):
            accepted = validator.validate([parse_line(line, "bench", 0) for line in lines]).accepted
            produced = clock.process(accepted, now_ms=0).rows.rows
            for t in of_layer("bronze"):
                tables.setdefault(t, []).extend(produced.get(t, ()))
            clock.sessions.open.clear()
    n = sum(len(r) for r in tables.values())
    t0 = time.perf_counter()
    for table, rows in tables.items():
        for i in range(0, len(rows), 100_000):
            insert_rows(client, table, rows[i : i + 100_000])
    return {"events": n, "seconds": time.perf_counter() - t0}


def child_pipeline(
    path: Path, workdir: Path, batch_size: int, writer_kind: str = "process", engine: str = "rows"
) -> dict[str, Any]:
    """``scout run``'s path: migrations, then the dataflow (timed from the start, migrations included).
    The inline baseline keeps the sink's flush size from before issue #8 (200,000 rows)."""
    from dataflows.config import load_settings
    from dataflows.pipeline import run_pipeline

    flush = 200_000 if writer_kind == "inline" else None
    settings = load_settings(sink=f"chdb://{workdir / 'pipeline'}", batch_size=batch_size, sink_writer=writer_kind,
                             sink_flush_rows=flush, engine=engine)  # fmt: skip
    lines = sum(1 for _ in path.open("rb"))
    t0, cpu0, children0 = time.perf_counter(), _cpu_s(), _cpu_s(resource.RUSAGE_CHILDREN)
    stats = run_pipeline(settings, [f"file:{path}"])
    writer_rss = stats.writer_peak_rss_mb
    seconds = time.perf_counter() - t0
    writer_cpu = _cpu_s(resource.RUSAGE_CHILDREN) - children0 if writer_kind == "process" else None
    return {"events": lines, "seconds": seconds, "rows": sum(stats.rows.values()), "peak_rss_mb": _peak_rss_mb(),
            "writer_rss_mb": writer_rss, "cpu_s": _cpu_s() - cpu0, "writer_cpu_s": writer_cpu}  # fmt: skip


def child_cluster(path: Path, workdir: Path, processes: int) -> dict[str, Any]:
    """``scout run --processes N`` as a user runs it (wall time of the command, start-up included).
    N = 1: one Bytewax process and the writer process; N > 1: migrations in their own process,
    then N Bytewax processes, one of which writes to chDB (inline)."""
    lines = sum(1 for _ in path.open("rb"))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "scout_cli", "run", "--processes", str(processes), "--source", f"file:{path}",
         "--sink", f"chdb://{workdir / 'cluster'}", "--no-summary"],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return {"events": lines, "seconds": time.perf_counter() - t0}


def child_null(path: Path, rows_file: Path, batch_size: int, engine: str = "rows") -> dict[str, Any]:
    """The dataflow (of ``engine``) with a writer that encodes each batch (as the process writer's
    hand-off does) and appends it to ``rows_file`` instead of inserting it."""
    import msgspec

    from dataflows.config import load_settings
    from dataflows.runner import build_source, make_flow, run_flow
    from dataflows.sinks.writer import encode_batch
    from dataflows.tables import TableRows

    class Encode:
        """Appends each batch to ``rows_file`` (4-byte length, then the encoded batch)."""

        def __init__(self, out: BinaryIO) -> None:
            self.out = out
            self.rows = 0

        def submit(self, batch: TableRows) -> None:
            blob = msgspec.msgpack.encode(encode_batch(batch))
            self.out.write(len(blob).to_bytes(4, "little") + blob)
            self.rows += batch.count()

        def wait(self) -> None:
            pass

    settings = load_settings(sink="chdb:///unused", batch_size=batch_size, engine=engine)
    lines = sum(1 for _ in path.open("rb"))
    with rows_file.open("wb") as out:
        keep = Encode(out)
        t0, cpu0 = time.perf_counter(), _cpu_s()
        run_flow(make_flow(settings, build_source(settings, [f"file:{path}"]), None, writer=keep), settings)
        seconds = time.perf_counter() - t0
    return {"events": lines, "seconds": seconds, "rows": keep.rows, "peak_rss_mb": _peak_rss_mb(),
            "cpu_s": _cpu_s() - cpu0}  # fmt: skip


def insert_like_the_writer(client: Any, rows_file: Path) -> tuple[int, float]:
    """Insert the null-sink run's batches (``rows_file``) as the writer process does: automatic garbage
    collection off, then each batch decoded, inserted and collected. Rows written, and seconds (the
    file reads outside the timing)."""
    import gc

    import msgspec

    from dataflows.sinks.insert import write_table_rows
    from dataflows.sinks.writer import decode_batch

    gc.collect()
    gc.freeze()
    gc.disable()
    rows = 0
    seconds = 0.0
    with rows_file.open("rb") as f:
        while size := int.from_bytes(f.read(4), "little"):
            blob = f.read(size)
            t0 = time.perf_counter()
            written = write_table_rows(client, decode_batch(msgspec.msgpack.decode(blob)))
            del blob
            gc.collect()
            seconds += time.perf_counter() - t0
            rows += sum(n for n, _ in written.values())
    return rows, seconds


def child_insert_only(rows_file: Path, workdir: Path, events: int) -> dict[str, Any]:
    """Insert the null-sink run's batches as the writer process does (:func:`insert_like_the_writer`)."""
    from dataflows.warehouse import connect, migrate

    client = connect(f"chdb://{workdir / 'insert-only'}", create=True)
    migrate(client)
    cpu0 = _cpu_s()  # chDB's threads (inserts, merges) included; the file reads are not worth a second
    rows, seconds = insert_like_the_writer(client, rows_file)
    return {"events": events, "seconds": seconds, "rows": rows, "cpu_s": _cpu_s() - cpu0}


def run_child(script: str, *args: str) -> dict[str, Any]:
    """Run ``script --child ARGS`` in its own process; its last stdout line is a JSON result."""
    proc = subprocess.run(
        [sys.executable, script, "--child", *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench child {args[0]} failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _child(*args: str) -> dict[str, Any]:
    return run_child(__file__, *args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--scale", type=float, default=3.0, help="second pipeline run with scale×events (RSS)")
    ap.add_argument("--batch-size", type=int, default=20_000)
    ap.add_argument("--target", type=float, default=50_000, help="events/s whose CPU budget is printed")
    ap.add_argument("--runs", type=int, default=3, help="measure every stage this many times, each run printed")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn: dict[str, Callable[..., dict[str, Any]]] = {
            "simulate": child_simulate, "parse": child_parse, "insert": child_insert, "pipeline": child_pipeline,
            "null": child_null, "insert-only": child_insert_only, "cluster": child_cluster, "decode": child_decode,
        }  # fmt: skip
        words = ("process", "inline", "rows", "columnar")
        conv = [int(x) if x.isdigit() else x if x in words else Path(x) for x in rest]
        print(json.dumps(fn[kind](*conv)))
        return

    from rich.console import Console

    console = Console(width=120)
    runs: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="scout-bench-") as tmp:
        work = Path(tmp)
        small, big = work / "small.jsonl", work / "big.jsonl"
        console.print(f"simulating {args.events:,} and {int(args.events * args.scale):,} events …")
        sim_small = _child("simulate", str(small), str(args.events))
        _child("simulate", str(big), str(int(args.events * args.scale)))
        for k in range(1, args.runs + 1):
            console.print(f"run {k} of {args.runs} …")
            run_dir = work / f"run-{k}"
            run_dir.mkdir()
            runs.append(_measure(small, big, run_dir, args.batch_size))
            _print_run(console, f"run {k} of {args.runs}", args, sim_small, runs[-1])
    if len(runs) > 1:
        _print_side_by_side(console, runs)


def _rate(r: dict[str, Any]) -> float:
    return float(r["events"]) / float(r["seconds"])


def _measure(small: Path, big: Path, work: Path, batch_size: int) -> dict[str, dict[str, Any]]:
    """One run: every stage in its own process, on the same input files."""
    null = _child("null", str(small), str(work / "rows.msgpack"), str(batch_size))
    null_c = _child("null", str(small), str(work / "col.msgpack"), str(batch_size), "columnar")
    return {
        "parse": _child("parse", str(small)),
        "decode": _child("decode", str(small), str(batch_size)),
        "insert": _child("insert", str(small), str(work / "ins")),
        "null": null,
        "insert_only": _child("insert-only", str(work / "rows.msgpack"), str(work / "io"), str(null["events"])),
        "null_columnar": null_c,
        "insert_only_columnar": _child(
            "insert-only", str(work / "col.msgpack"), str(work / "ioc"), str(null_c["events"])
        ),
        "inline": _child("pipeline", str(small), str(work / "p0"), str(batch_size), "inline"),
        "pipe": _child("pipeline", str(small), str(work / "p1"), str(batch_size), "process"),
        "pipe_big": _child("pipeline", str(big), str(work / "p3"), str(batch_size), "process"),
        "columnar": _child("pipeline", str(small), str(work / "p4"), str(batch_size), "process", "columnar"),
        "columnar_big": _child("pipeline", str(big), str(work / "p5"), str(batch_size), "process", "columnar"),
        "cli_one": _child("cluster", str(small), str(work / "c1"), "1"),
        "cluster": _child("cluster", str(small), str(work / "c2"), "2"),
    }


#: The stages of a run as the tables name them (``{rows}``: the rows the null sink encoded).
STAGE_NAMES = {
    "parse": "raw limit: parse only",
    "decode": "compiled decode path: lines → bronze batches (#21)",
    "insert": "raw limit: chDB bulk insert (bronze rows)",
    "null": "null sink: compute alone ({rows:,} rows encoded)",
    "insert_only": "insert only: those {rows:,} rows",
    "null_columnar": "null sink, --engine columnar: compute alone",
    "insert_only_columnar": "insert only: the columnar engine's rows (Arrow)",
    "inline": "pipeline, N events, inline writer (baseline)",
    "pipe": "pipeline, N events, writer process",
    "pipe_big": "pipeline, {scale:g}×N events, writer process",
    "columnar": "pipeline, N events, writer process, --engine columnar (#21)",
    "columnar_big": "pipeline, {scale:g}×N events, --engine columnar",
    "cli_one": "scout run, N events (wall of the command)",
    "cluster": "scout run --processes 2, N events (wall of the command)",
}


def _print_run(console: Any, title: str, args: Any, sim_small: dict[str, Any], m: dict[str, dict[str, Any]]) -> None:
    """The stage table, the ratios and the CPU budget of one run."""
    from rich.table import Table

    rate = _rate
    parse, decode, insert, null, insert_only = (m[k] for k in ("parse", "decode", "insert", "null", "insert_only"))
    inline, pipe, pipe_big, cli_one, cluster = (m[k] for k in ("inline", "pipe", "pipe_big", "cli_one", "cluster"))
    t = Table(title=f"Scout stream pipeline benchmark (one worker), {title}", header_style="bold cyan")
    for col in ("stage", "events", "seconds", "events/s", "peak RSS MB", "writer RSS MB", "CPU s", "writer CPU s"):
        t.add_column(col, justify="left" if col == "stage" else "right")
    rows = [("simulate (input)", sim_small)]
    rows += [(name.format(rows=null["rows"], scale=args.scale), m[key]) for key, name in STAGE_NAMES.items()]
    for name, r in rows:
        rss, wrss, cpu, wcpu = (r.get(k) for k in ("peak_rss_mb", "writer_rss_mb", "cpu_s", "writer_cpu_s"))
        t.add_row(name, f"{r['events']:,}", f"{r['seconds']:.1f}", f"{rate(r):,.0f}", f"{rss:,.0f}" if rss else "",
                  f"{wrss:,.0f}" if wrss else "", f"{cpu:.1f}" if cpu else "",
                  f"{wcpu:.1f}" if wcpu else "")  # fmt: skip
    console.print(t)
    slower = min(rate(parse), rate(insert))
    ratios = Table(title=f"Ratios ({title})", header_style="bold cyan")
    ratios.add_column("measure")
    ratios.add_column("value", justify="right")
    ratios.add_column("target", justify="right")
    ratios.add_row("pipeline events/s", f"{rate(pipe):,.0f}", "≥ 50,000")
    ratios.add_row("pipeline / slower raw limit", f"{rate(pipe) / slower:.2f}", "≥ 0.5")
    ratios.add_row("pipeline / parse only", f"{rate(pipe) / rate(parse):.2f}", "")
    ratios.add_row("compiled decode path / parse only", f"{rate(decode) / rate(parse):.2f}", "")
    ratios.add_row("pipeline / chDB bulk insert", f"{rate(pipe) / rate(insert):.2f}", "")
    ratios.add_row("writer process / inline writer", f"{rate(pipe) / rate(inline):.2f}", "")
    columnar, columnar_big = m["columnar"], m["columnar_big"]
    ratios.add_row("columnar engine / rows engine (pipeline)", f"{rate(columnar) / rate(pipe):.2f}", "")
    null_c, insert_c = m["null_columnar"], m["insert_only_columnar"]
    ratios.add_row("columnar: compute alone (null sink) events/s", f"{rate(null_c):,.0f}", "≥ 150,000 (#21)")
    ratios.add_row("columnar engine / insert only (its rows)", f"{rate(columnar) / rate(insert_c):.2f}", "≥ 0.8 (#21)")
    ratios.add_row("columnar: bounded by", "compute" if rate(null_c) < rate(insert_c) else "insert", "insert (#21)")
    both = columnar["peak_rss_mb"] + columnar["writer_rss_mb"]
    ratios.add_row("columnar: dataflow + writer peak RSS MB, N", f"{both:,.0f}", "≤ 600 (#21)")
    big_both = columnar_big["peak_rss_mb"] + columnar_big["writer_rss_mb"]
    ratios.add_row(f"columnar: that RSS {args.scale:g}×N / N", f"{big_both / both:.2f}", "0.9 – 1.1 (#21)")
    ratios.add_row("scout run --processes 2 / scout run", f"{rate(cluster) / rate(cli_one):.2f}", "")
    ratios.add_row("pipeline / null sink (compute alone)", f"{rate(pipe) / rate(null):.2f}", "")
    ratios.add_row("pipeline / insert only", f"{rate(pipe) / rate(insert_only):.2f}", "")
    bound = "compute (null sink)" if rate(null) < rate(insert_only) else "insert"
    ratios.add_row("bounded by", bound, "")
    ratios.add_row(
        f"peak RSS {args.scale:g}×N / N", f"{pipe_big['peak_rss_mb'] / pipe['peak_rss_mb']:.2f}", "0.85 – 1.15"
    )
    console.print(ratios)
    console.print(_budget_table(args.target, null, insert_only, pipe))


def _print_side_by_side(console: Any, runs: list[dict[str, dict[str, Any]]]) -> None:
    """Events/s of every stage in every run, and the spread (fastest / slowest run)."""
    from rich.table import Table

    t = Table(title="Events/s of each run side by side", header_style="bold cyan")
    t.add_column("stage")
    for k in range(len(runs)):
        t.add_column(f"run {k + 1}", justify="right")
    t.add_column("fastest / slowest", justify="right")
    for key, name in STAGE_NAMES.items():
        rates = [_rate(run[key]) for run in runs]
        label = name.split(" ({")[0].replace("{scale:g}×", "scale×")
        t.add_row(label, *(f"{r:,.0f}" for r in rates), f"{max(rates) / min(rates):.2f}")
    console.print(t)


def _budget_table(target: float, null: dict[str, Any], insert_only: dict[str, Any], pipe: dict[str, Any]) -> Any:
    """CPU µs per event of each process beside what ``target`` events/s leaves them on this machine.

    The dataflow's Python work runs under one GIL (Bytewax's worker, the sink's sender thread),
    so that process gets at most one core: ``1e6 / target`` µs per event. Both processes
    together get every core the machine has."""
    from rich.table import Table

    def per_event(cpu: float | None, r: dict[str, Any]) -> str:
        return f"{cpu * 1e6 / r['events']:.1f}" if cpu else ""

    one_core = 1e6 / target
    cores = os.cpu_count() or 1
    t = Table(title=f"CPU per event against the budget at {target:,.0f} events/s ({cores} cores)",
              header_style="bold cyan")  # fmt: skip
    t.add_column("process")
    t.add_column("CPU µs/event", justify="right")
    t.add_column("budget µs/event", justify="right")
    t.add_row("dataflow alone (null sink)", per_event(null["cpu_s"], null), f"{one_core:.1f}")
    t.add_row("writer alone (insert only)", per_event(insert_only["cpu_s"], insert_only), f"{one_core * cores:.1f}")
    t.add_row("pipeline: the dataflow's process", per_event(pipe["cpu_s"], pipe), f"{one_core:.1f}")
    t.add_row("pipeline: the writer process", per_event(pipe["writer_cpu_s"], pipe), "")
    both = (pipe["cpu_s"] or 0) + (pipe["writer_cpu_s"] or 0)
    t.add_row("pipeline: both processes", per_event(both, pipe), f"{one_core * cores:.1f}")
    return t


if __name__ == "__main__":
    main()
