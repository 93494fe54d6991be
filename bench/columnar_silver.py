"""Benchmark: the columnar silver steps — event clocks and session windows over whole batches —
beside today's per-device step (issue #21, item 2).

On one simulated file (validated beforehand, batches of ``--batch-size`` in arrival order), each
path is run ``--runs`` times and every run is printed, in CPU seconds of this process per event
(per member, for sessions):

**Event clocks** (lateness and duplicates):

* ``DeviceClock.process``   — today's ``event_clock`` step, all of it (lateness, duplicates, bronze
                              and late rows, sessions, facts): the events of a batch grouped by key,
                              each key's list processed by its clock — context for the others;
* ``columnar, pure Python`` — :class:`~dataflows.silver.columnar_clock.EventClocks` with the
                              pure-Python kernel: the same verdicts, one Python loop over the columns;
* ``columnar, compiled``    — the same with ``scout_decode.EventClocks``.

**Sessions** (the batch's on-time utterances and people frames; each batch closes what the
newest event time of its key, less the out-of-orderness, has passed):

* ``SessionWindows``        — today's: a ``Member`` per member, ``summarise`` and ``annotated_rows``
                              per closed session;
* ``columnar, pure Python`` — :class:`~dataflows.silver.columnar_sessions.ColumnarSessions` with
                              ``SessionWindows`` as its kernel, and ``annotated_table``;
* ``columnar, compiled``    — the same with ``scout_decode.Sessions``.

The columns (and the member tables) are built beforehand, as the compiled decode path's Arrow
batches would hold them; building member columns from those batches is not measured here. Each
ratio compares a path's best run with today's best in the same run (these machines are noisy:
compare ratios).

    python bench/columnar_silver.py [--events 300000] [--runs 3] [--batch-size 20000]
"""

from __future__ import annotations

import gc
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _runs(paths: dict[str, Callable[[], None]], runs: int) -> dict[str, list[float]]:
    """CPU seconds of each run of each path, interleaved so that a slow spell of the machine hits every path."""
    out: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, fn in paths.items():
            t0 = time.process_time()
            fn()
            out[name].append(time.process_time() - t0)
    return out


def _table(title: str, unit: str, n: int, runs: dict[str, list[float]], base: str) -> Any:
    from rich.table import Table

    t = Table(title=f"{title}: CPU µs per {unit}", header_style="bold cyan")
    k = len(next(iter(runs.values())))
    for col in ("path", *(f"run {i + 1}" for i in range(k)), f"best {unit}s/s", "× today's"):
        t.add_column(col, justify="left" if col == "path" else "right")
    for name, secs in runs.items():
        ratio = min(runs[base]) / min(secs)
        t.add_row(name, *(f"{1e6 * s / n:.2f}" for s in secs), f"{n / min(secs):,.0f}", f"{ratio:.2f}")
    return t


def main() -> None:
    from pipeline import stage_bench_args

    args = stage_bench_args(__doc__)

    import pyarrow as pa
    from pipeline import bench_validator, simulated_lines
    from rich.console import Console

    from dataflows.bronze.validate import Accepted
    from dataflows.config import WindowConfig
    from dataflows.silver import columnar_clock, columnar_sessions
    from dataflows.silver.annotate import load_lexicon
    from dataflows.silver.columnar_clock import GROUPS, LATE, EventClocks, PyEventClocks
    from dataflows.silver.columnar_sessions import ColumnarSessions, PySessions, annotated_table, members_table
    from dataflows.silver.event_clock import DeviceClock
    from dataflows.silver.rows import annotated_rows
    from dataflows.silver.sessions import Member, SessionWindows, summarise
    from dataflows.sources.file import parse_line
    from scout_contract import SttV1, SttV2, VisualV1
    from scout_contract.streams import BY_NAME

    console = Console(width=140)
    lines = simulated_lines(args.events, console.print)
    validator = bench_validator()
    records = [parse_line(line, "file", i) for i, line in enumerate(lines)]
    batches = [
        validator.validate(records[i : i + args.batch_size]).accepted for i in range(0, len(records), args.batch_size)
    ]
    del lines
    n = sum(map(len, batches))
    windows, lexicon = WindowConfig(), load_lexicon()
    ooo, gap = windows.out_of_orderness_ms, windows.session_gap_ms
    if columnar_clock.native_kernel(ooo) is None or columnar_sessions.native_kernel(gap) is None:
        sys.exit("scout_decode is not built: run `make native` first")
    gc.set_threshold(1_000_000, 20, 100)  # as the dataflow runs (dataflows/runner.py)

    # -- event clocks ---------------------------------------------------------------------------
    def columns(batch: list[Accepted]) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        return (
            pa.array([a.key for a in batch], pa.string()),
            pa.array([BY_NAME[a.stream].clock_group for a in batch], pa.string()),
            pa.array([a.ts_ms for a in batch], pa.int64()),
            pa.array([a.event.event_id for a in batch], pa.string()),
        )

    batch_columns = [columns(b) for b in batches]
    late: dict[str, int] = {}

    def device_clocks() -> None:
        clocks: dict[str, DeviceClock] = {}
        for batch in batches:
            by_key: dict[str, list[Accepted]] = {}
            for acc in batch:
                by_key.setdefault(acc.key, []).append(acc)
            for key, accs in by_key.items():
                clocks.setdefault(key, DeviceClock(windows, lexicon)).process(accs, now_ms=1)

    def clocks_with(name: str, make: Callable[[], EventClocks]) -> Callable[[], None]:
        def run() -> None:
            clocks = make()
            late[name] = sum(int((clocks.process(*cols).verdict.to_numpy() == LATE).sum()) for cols in batch_columns)

        return run

    clock_runs = _runs(
        {
            "DeviceClock.process (today's whole step)": device_clocks,
            "columnar, pure Python kernel": clocks_with(
                "python", lambda: EventClocks(ooo, PyEventClocks(ooo, len(GROUPS)))
            ),
            "columnar, compiled kernel": clocks_with("compiled", lambda: EventClocks(ooo)),
        },
        args.runs,
    )
    if late["python"] != late["compiled"]:
        sys.exit(f"the kernels disagree: {late['python']:,} late events against {late['compiled']:,}")
    title = f"Event clocks, {n:,} accepted events, batches of {args.batch_size:,}"
    console.print(_table(title, "event", n, clock_runs, "DeviceClock.process (today's whole step)"))
    console.print(f"late events (both kernels): {late['compiled']:,}")

    # -- sessions -------------------------------------------------------------------------------
    def member(acc: Accepted) -> Member | None:
        ev = acc.event
        if isinstance(ev, VisualV1):
            labels = [d.label for d in ev.detections]
            people = labels.count("face") + labels.count("person")
            brands = tuple(lbl[6:] for lbl in labels if lbl.startswith("brand:"))
            return (
                Member(
                    acc.ts_ms, acc.ts_ms, ev.event_id, "frame", ev.store_id, ev.device_id, people, "", "", None, brands
                )
                if people
                else None
            )
        if isinstance(ev, SttV1 | SttV2):
            note = lexicon.annotate(ev.transcript)
            end = acc.ts_ms + ev.duration_ms
            return Member(
                acc.ts_ms, end, ev.event_id, "utterance", ev.store_id, ev.device_id, 0, ev.transcript, ev.lang, note
            )
        return None

    member_batches = [[m for m in map(member, b) if m is not None] for b in batches]
    member_tables = [members_table(ms, [m.device_id for m in ms]) for ms in member_batches]
    marks: list[dict[str, int]] = []
    newest: dict[str, int] = {}
    for ms in member_batches:
        for m in ms:
            newest[m.device_id] = max(newest.get(m.device_id, m.start), m.start)
        marks.append({d: newest[d] - ooo for d in {m.device_id for m in ms}})
    members = sum(map(len, member_batches))
    closed: dict[str, int] = {}

    def session_windows() -> None:
        windows_of: dict[str, SessionWindows] = {}
        count = 0
        for ms, wm in zip(member_batches, marks, strict=True):
            for m in ms:
                w = windows_of.get(m.device_id)
                if w is None:
                    w = windows_of[m.device_id] = SessionWindows(gap)
                w.add(m)
            for device, mark in wm.items():
                for s in windows_of[device].close_until(mark):
                    count += len(annotated_rows(summarise(s), 1))
        closed["today"] = count

    def sessions_with(name: str, make: Callable[[], ColumnarSessions]) -> Callable[[], None]:
        def run() -> None:
            sessions, count = make(), 0
            for table, wm in zip(member_tables, marks, strict=True):
                sessions.add(table)
                count += annotated_table(sessions.close_until(wm), 1).num_rows
            closed[name] = count

        return run

    session_runs = _runs(
        {
            "SessionWindows + summarise + annotated_rows (today's)": session_windows,
            "columnar, pure Python kernel": sessions_with("python", lambda: ColumnarSessions(gap, PySessions(gap))),
            "columnar, compiled kernel": sessions_with("compiled", lambda: ColumnarSessions(gap)),
        },
        args.runs,
    )
    if len(set(closed.values())) != 1:
        sys.exit(f"the paths disagree on the annotated rows of closed sessions: {closed}")
    title = f"Sessions, {members:,} members of {n:,} events, batches of {args.batch_size:,}"
    console.print(
        _table(title, "member", members, session_runs, "SessionWindows + summarise + annotated_rows (today's)")
    )
    console.print(f"annotated rows of closed sessions (every path): {closed['today']:,}")
    # -- the whole per-key step, validation included ---------------------------------------------
    from dataflows.bronze.columnar import compiled_decoder, validate_columnar
    from dataflows.silver.columnar_device import ColumnarDevices

    decoder = compiled_decoder(validator)
    record_batches = [records[i : i + args.batch_size] for i in range(0, len(records), args.batch_size)]
    counted: dict[str, int] = {}

    def today() -> None:
        clocks: dict[str, DeviceClock] = {}
        rows = 0
        for batch in record_batches:
            by_key: dict[str, list[Accepted]] = {}
            for acc in validator.validate(batch).accepted:
                by_key.setdefault(acc.key, []).append(acc)
            for key, accs in by_key.items():
                out = clocks.setdefault(key, DeviceClock(windows, lexicon)).process(accs, now_ms=1)
                rows += sum(map(len, out.rows.rows.values()))
        counted["today"] = rows

    def columnar() -> None:
        devices = ColumnarDevices(windows, lexicon)
        rows = 0
        for batch in record_batches:
            result = validate_columnar(validator, batch, decoder)
            out = devices.process(result.batches, 1)
            rows += sum(t.num_rows for t in out.tables.values()) + sum(map(len, out.rows.rows.values()))
        counted["columnar"] = rows

    step_runs = _runs(
        {"Validator + DeviceClock.process (today's)": today, "validate_columnar + ColumnarDevices": columnar}, args.runs
    )
    if counted["today"] != counted["columnar"]:
        sys.exit(f"the paths disagree on the rows they give: {counted}")
    title = f"Validation and the per-key step, {len(records):,} records, batches of {args.batch_size:,}"
    console.print(_table(title, "record", len(records), step_runs, "Validator + DeviceClock.process (today's)"))
    console.print(f"rows given (both paths): {counted['today']:,}")
    console.print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


if __name__ == "__main__":
    main()
