"""Benchmark: CPU per event of each stage of the dataflow, without Bytewax (issue #8).

The stages are the plain functions the dataflow wires together, called the way
the dataflow calls them (batches of ``--batch-size`` records, one
:class:`~dataflows.silver.event_clock.DeviceClock` per key, one
:class:`~dataflows.gold.windows.StoreGold` per store), on one simulated file:

* ``parse``    — file line → :class:`~scout_contract.SourceRecord` (``sources/file.py``);
* ``validate`` — :meth:`Validator.validate`, beside its floor ``strict decode`` (msgspec
                 decoding every payload into its strict type and nothing else);
* ``device``   — :meth:`DeviceClock.process` (dedup, lateness, bronze rows, session join, tags);
* ``gold``     — :meth:`StoreGold.apply` on the facts the device stage produced;
* ``encode``   — the writer process's hand-off (:func:`encode_batch`) of every row.

Each stage is timed in CPU seconds of this process (``time.process_time``) and
repeated ``--repeat`` times on the same input; the least is printed (the
machine's noise only ever adds). Bytewax, the sink and chDB are not in these
figures: ``bench/pipeline.py`` measures the whole.

    python bench/stages.py [--events 300000] [--repeat 5]
"""

from __future__ import annotations

import gc
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _least(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> None:
    from pipeline import stage_bench_args

    args = stage_bench_args(__doc__, "--repeat", 5)

    from pipeline import BENCH_NOW, bench_validator, simulated_lines
    from rich.console import Console
    from rich.table import Table

    from dataflows.bronze.validate import Accepted
    from dataflows.config import load_settings
    from dataflows.flow import _by_clock_key, _facts_by_store
    from dataflows.gold.windows import StoreGold
    from dataflows.silver.annotate import load_lexicon
    from dataflows.silver.event_clock import DeviceClock
    from dataflows.silver.facts import Fact
    from dataflows.sinks.writer import encode_batch
    from dataflows.sources.file import parse_line
    from dataflows.tables import TableRows

    console = Console(width=120)
    lines = simulated_lines(args.events, console.print)
    n = len(lines)
    settings = load_settings(sink="chdb:///unused")
    now = BENCH_NOW
    validator = bench_validator()
    lexicon, windows = load_lexicon(settings.lexicon_file), settings.windows()
    gc.set_threshold(1_000_000, 20, 100)  # as the dataflow runs (dataflows/runner.py)

    records = [parse_line(line, "file", i) for i, line in enumerate(lines)]
    batches = [records[i : i + args.batch_size] for i in range(0, n, args.batch_size)]
    groups: list[list[tuple[str, list[Accepted]]]] = [_by_clock_key(validator.validate(b)) for b in batches]
    facts: list[list[tuple[str, list[Fact]]]] = []
    rows = TableRows(defaultdict(list))

    def device() -> None:
        clocks: dict[str, DeviceClock] = {}
        facts.clear()
        rows.rows.clear()
        for batch in groups:
            by_store: dict[str, list[Fact]] = defaultdict(list)  # as the keyed stream gathers them
            for key, accepted in batch:
                out = (clocks.get(key) or clocks.setdefault(key, DeviceClock(windows, lexicon))).process(accepted, now)
                rows.merge(out.rows)
                for store, store_facts in _facts_by_store((key, out)):
                    by_store[store].extend(store_facts.facts)
            facts.append(list(by_store.items()))

    def gold() -> None:
        stores: dict[str, StoreGold] = {}
        for batch in facts:
            for store, store_facts in batch:
                (stores.get(store) or stores.setdefault(store, StoreGold("", windows))).apply(store_facts, now)

    def encode() -> None:
        encode_batch(rows)

    strict = validator._strict
    assert strict is not None
    values = [r.value for r in records]

    def strict_decode() -> None:
        decode = strict.decode
        for value in values:
            try:
                decode(value)
            except Exception:  # a rejected payload costs what it costs
                continue

    stages: dict[str, Callable[[], object]] = {
        "parse": lambda: [parse_line(line, "file", i) for i, line in enumerate(lines)],
        "strict decode (floor of validate)": strict_decode,
        "validate": lambda: [validator.validate(b) for b in batches],
        "device": device,
        "gold": gold,
        "encode (hand-off)": encode,
    }
    seconds = {name: _least(fn, args.repeat) for name, fn in stages.items()}
    total = sum(s for name, s in seconds.items() if not name.startswith("strict"))
    t = Table(title=f"CPU per event by stage: {n:,} events, least of {args.repeat}", header_style="bold cyan")
    for col in ("stage", "CPU s", "µs/event", "share of the stages"):
        t.add_column(col, justify="left" if col == "stage" else "right")
    for name, s in seconds.items():
        share = "" if name.startswith("strict") else f"{100 * s / total:.0f} %"
        t.add_row(name, f"{s:.2f}", f"{1e6 * s / n:.2f}", share)
    t.add_row("all stages", f"{total:.2f}", f"{1e6 * total / n:.2f}", "100 %")
    console.print(t)
    ratio = seconds["validate"] / seconds["strict decode (floor of validate)"]
    console.print(f"validate / its strict-decode floor: {ratio:.2f}; rows encoded: {rows.count():,}; "
                  f"stages alone would run {n / total:,.0f} events/s on one core")  # fmt: skip


if __name__ == "__main__":
    main()
