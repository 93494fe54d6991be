"""Benchmark: the columnar event clocks (lateness and duplicates over whole batches) beside
today's per-device step (issue #21, item 2).

On one simulated file (validated beforehand, batches of ``--batch-size`` in arrival order), each
path is run ``--runs`` times and every run is printed, in CPU seconds of this process per event:

* ``DeviceClock.process``   — today's ``event_clock`` step, all of it (lateness, duplicates, bronze
                              and late rows, sessions, facts): the events of a batch grouped by key,
                              each key's list processed by its clock — context for the others;
* ``columnar, pure Python`` — :class:`~dataflows.silver.columnar_clock.EventClocks` with the
                              pure-Python kernel: the same verdicts, one Python loop over the columns;
* ``columnar, compiled``    — the same with ``scout_decode.EventClocks``: Arrow columns in, a
                              verdict and a watermark per event out, no Python object per event.

The columns (key, stream group, event time, event id) are built beforehand, as the compiled
decode path's Arrow batches would hold them. The ratio column compares each path's best run with
the pure-Python kernel's best in the same run (these machines are noisy: compare ratios).

    python bench/event_clocks.py [--events 300000] [--runs 3] [--batch-size 20000]
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    from pipeline import stage_bench_args

    args = stage_bench_args(__doc__)

    import pyarrow as pa
    from pipeline import bench_validator, simulated_lines
    from rich.console import Console
    from rich.table import Table

    from dataflows.bronze.validate import Accepted
    from dataflows.config import WindowConfig
    from dataflows.silver.annotate import load_lexicon
    from dataflows.silver.columnar_clock import GROUPS, LATE, EventClocks, PyEventClocks, native_kernel
    from dataflows.silver.event_clock import DeviceClock
    from dataflows.sources.file import parse_line
    from scout_contract.streams import BY_NAME

    console = Console(width=140)
    lines = simulated_lines(args.events, console.print)
    validator = bench_validator()
    records = [parse_line(line, "file", i) for i, line in enumerate(lines)]
    batches = [
        validator.validate(records[i : i + args.batch_size]).accepted for i in range(0, len(records), args.batch_size)
    ]
    del lines, records
    n = sum(map(len, batches))
    windows, lexicon = WindowConfig(), load_lexicon()
    ooo = windows.out_of_orderness_ms
    if native_kernel(ooo) is None:
        sys.exit("scout_decode is not built: run `make native` first")

    def columns(batch: list[Accepted]) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        return (
            pa.array([a.key for a in batch], pa.string()),
            pa.array([BY_NAME[a.stream].clock_group for a in batch], pa.string()),
            pa.array([a.ts_ms for a in batch], pa.int64()),
            pa.array([a.event.event_id for a in batch], pa.string()),
        )

    batch_columns = [columns(b) for b in batches]
    gc.set_threshold(1_000_000, 20, 100)  # as the dataflow runs (dataflows/runner.py)
    late: dict[str, int] = {}

    def device_clocks() -> None:
        clocks: dict[str, DeviceClock] = {}
        for batch in batches:
            by_key: dict[str, list[Accepted]] = {}
            for acc in batch:
                by_key.setdefault(acc.key, []).append(acc)
            for key, accs in by_key.items():
                clocks.setdefault(key, DeviceClock(windows, lexicon)).process(accs, now_ms=1)

    def columnar(name: str, make: Callable[[], EventClocks]) -> Callable[[], None]:
        def run() -> None:
            clocks = make()
            late[name] = sum(int((clocks.process(*cols).verdict.to_numpy() == LATE).sum()) for cols in batch_columns)

        return run

    paths: dict[str, Callable[[], None]] = {
        "DeviceClock.process (today's whole step)": device_clocks,
        "columnar, pure Python kernel": columnar("python", lambda: EventClocks(ooo, PyEventClocks(ooo, len(GROUPS)))),
        "columnar, compiled kernel": columnar("compiled", lambda: EventClocks(ooo)),
    }
    runs: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.runs):  # interleaved, so that a slow spell of the machine hits every path
        for name, fn in paths.items():
            t0 = time.process_time()
            fn()
            runs[name].append(time.process_time() - t0)
    if late["python"] != late["compiled"]:
        sys.exit(f"the kernels disagree: {late['python']:,} late events against {late['compiled']:,}")
    base = min(runs["columnar, pure Python kernel"])
    t = Table(title=f"Event clocks, {n:,} accepted events, batches of {args.batch_size:,}: CPU µs per event",
              header_style="bold cyan")  # fmt: skip
    for col in ("path", *(f"run {i + 1}" for i in range(args.runs)), "best events/s", "× pure-Python kernel"):
        t.add_column(col, justify="left" if col == "path" else "right")
    for name, secs in runs.items():
        t.add_row(name, *(f"{1e6 * s / n:.2f}" for s in secs), f"{n / min(secs):,.0f}", f"{base / min(secs):.2f}")
    console.print(t)
    console.print(f"late events (both kernels): {late['compiled']:,}")
    console.print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
