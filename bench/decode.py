"""Benchmark: the compiled decode path of bronze validation beside the row path (issue #21, item 1).

On one simulated file (records parsed beforehand, batches of ``--batch-size``), each path is
run ``--runs`` times and every run is printed, in CPU seconds of this process (Arrow's
threads included) per event:

* ``row path``               — :meth:`Validator.validate` and a bronze row per accepted event
                               (:func:`~dataflows.bronze.rows.bronze_row`): what the dataflow does today;
* ``columnar, pure Python``  — :func:`~dataflows.bronze.columnar.validate_columnar` without the
                               compiled module (every record deferred to the validator): the fallback;
* ``columnar, compiled``     — the same with ``scout_decode``: Arrow batches of bronze rows;
* ``compiled decode alone``  — ``scout_decode.Decoder.decode`` on the batch's lists (its floor);
* ``msgspec strict decode``  — the row path's floor: msgspec decoding each payload into its strict type;
* ``lines: …``               — the same from the topic file's lines: the row path with the file source's
                               ``parse_line`` first, beside :func:`~dataflows.bronze.columnar.validate_lines`
                               (the compiled path reads the file form itself) and
                               :func:`~dataflows.bronze.columnar.validate_buffer` (the batch's lines as one
                               block, as the columnar engine's file source gives them).

The ratio column compares each path's best run with its row path's best in the same run (these
machines are noisy: compare ratios). No chDB, no Bytewax: ``bench/pipeline.py`` measures the whole.

    python bench/decode.py [--events 300000] [--runs 3] [--batch-size 20000]
"""

from __future__ import annotations

import functools
import gc
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scout_contract import SourceRecord

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _read(lines: list[bytes], i: int) -> SourceRecord:
    from dataflows.sources.file import parse_line

    return parse_line(lines[i], "file", i)


def main() -> None:
    from pipeline import stage_bench_args

    args = stage_bench_args(__doc__)

    from pipeline import BENCH_NOW, bench_validator, simulated_lines
    from rich.console import Console
    from rich.table import Table

    from dataflows.bronze.columnar import compiled_decoder, validate_buffer, validate_columnar, validate_lines
    from dataflows.bronze.rows import bronze_row
    from dataflows.sources.file import LineBatch, parse_line

    console = Console(width=140)
    lines = simulated_lines(args.events, console.print)
    records = [parse_line(line, "file", i) for i, line in enumerate(lines)]
    n = len(records)
    now = BENCH_NOW
    validator = bench_validator()
    decoder = compiled_decoder(validator)
    if decoder is None:
        sys.exit("scout_decode is not built: run `make native` first")
    batches = [records[i : i + args.batch_size] for i in range(0, n, args.batch_size)]
    line_batches = [lines[i : i + args.batch_size] for i in range(0, n, args.batch_size)]
    lists = [
        ([r.value for r in b], [r.key for r in b], [r.topic for r in b], [r.partition for r in b],
         [r.offset for r in b], [r.timestamp_ms for r in b])
        for b in batches
    ]  # fmt: skip
    strict = validator._strict
    assert strict is not None
    cleared = sum(validate_columnar(validator, b, decoder, now).cleared for b in batches)
    gc.set_threshold(1_000_000, 20, 100)  # as the dataflow runs (dataflows/runner.py)

    def row_path() -> None:
        for b in batches:
            [bronze_row(acc, now, False) for acc in validator.validate(b).accepted]

    def row_path_from_lines() -> None:
        for b in line_batches:
            records = [parse_line(line, "file", i) for i, line in enumerate(b)]
            [bronze_row(acc, now, False) for acc in validator.validate(records).accepted]

    def compiled_from_lines() -> None:
        for b in line_batches:
            validate_lines(validator, b, decoder, functools.partial(_read, b), now)

    blocks = [LineBatch("file", "bench", b"".join(line + b"\n" for line in b), 0) for b in line_batches]

    def compiled_from_blocks() -> None:
        for block in blocks:
            validate_buffer(validator, block, decoder, now)

    def strict_decode() -> None:
        for b in batches:
            for r in b:
                try:
                    strict.decode(r.value)
                except Exception:  # a rejected payload costs what it costs
                    continue

    paths: dict[str, Callable[[], object]] = {
        "row path (validate + bronze rows)": row_path,
        "columnar, pure Python": lambda: [validate_columnar(validator, b, None, now) for b in batches],
        "columnar, compiled": lambda: [validate_columnar(validator, b, decoder, now) for b in batches],
        "compiled decode alone": lambda: [decoder.decode(*cols, now) for cols in lists],
        "msgspec strict decode alone": strict_decode,
        "lines: row path (parse + validate + bronze rows)": row_path_from_lines,
        "lines: compiled (validate_lines)": compiled_from_lines,
        "lines: one block, compiled (validate_buffer, the columnar engine's)": compiled_from_blocks,
    }
    runs: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.runs):  # interleaved, so that a slow spell of the machine hits every path
        for name, fn in paths.items():
            t0 = time.process_time()
            fn()
            runs[name].append(time.process_time() - t0)
    base = min(runs["row path (validate + bronze rows)"])
    base_lines = min(runs["lines: row path (parse + validate + bronze rows)"])
    t = Table(title=f"Bronze validation, {n:,} records, batches of {args.batch_size:,}: CPU µs per record",
              header_style="bold cyan")  # fmt: skip
    for col in ("path", *(f"run {i + 1}" for i in range(args.runs)), "best records/s", "× its row path"):
        t.add_column(col, justify="left" if col == "path" else "right")
    for name, secs in runs.items():
        ratio = (base_lines if name.startswith("lines:") else base) / min(secs)
        t.add_row(name, *(f"{1e6 * s / n:.2f}" for s in secs), f"{n / min(secs):,.0f}", f"{ratio:.2f}")
    console.print(t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    share = f"{cleared:,} of {n:,} ({100 * cleared / n:.1f} %)"
    console.print(f"records cleared by the compiled path: {share}; the rest deferred to the Python validator")
    console.print(f"peak RSS of this process: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
