"""Benchmark: where the writer process's memory goes, and whether chDB's settings change it (#21 item 3).

The rows are exactly those one pipeline run writes (the null-sink run of ``bench/pipeline.py``,
batch by batch); each variant then inserts them into a fresh chDB warehouse as the writer
process does (decode a batch, insert every table, collect), in its own process, and reports its
resident memory at each step: after ``import chdb``, after opening the warehouse and applying
the migrations, and its peak (``ru_maxrss``) over the inserts, with the end's anonymous and
file-backed parts (``/proc/self/status``). Variants:

* ``defaults``      — the writer as it runs today;
* ``small caches``  — chDB's mark, index-mark and primary-index caches at 64 MiB (5 GiB each by default);
* ``one merge thread, 400 MB cap`` — ``background_pool_size = 1`` and ``max_server_memory_usage`` at
  400 MB (chDB's own accounting; an insert over it would fail, and none did).

Server settings reach chDB as connection-string options (``chdb_options`` of clickhouse-connect).

    python bench/writer_memory.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

_SMALL = str(64 << 20)
VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "small caches": {"mark_cache_size": _SMALL, "index_mark_cache_size": _SMALL, "primary_index_cache_size": _SMALL},
    "one merge thread, 400 MB cap": {"background_pool_size": "1", "max_server_memory_usage": str(400_000_000)},
}


def _status_mb() -> dict[str, int]:
    """``VmRSS``, ``RssAnon`` and ``RssFile`` of this process, MB."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            name = line.split(":", 1)[0]
            if name in ("VmRSS", "RssAnon", "RssFile"):
                out[name] = int(line.split()[1]) // 1024
    return out


def child_insert(rows_file: Path, workdir: Path, variant: str) -> dict[str, Any]:
    """Insert the null-sink run's batches as the writer process does, with ``variant``'s chDB options."""
    import resource

    at_start = _status_mb()["VmRSS"]
    import chdb  # noqa: F401  (what loading the engine costs, measured apart)

    at_import = _status_mb()["VmRSS"]
    import clickhouse_connect
    from pipeline import insert_like_the_writer

    from dataflows.warehouse import migrate

    options = VARIANTS[variant]
    client = clickhouse_connect.get_client(interface="chdb", path=str(workdir), chdb_options=options or None)
    migrate(client)
    at_ready = _status_mb()["VmRSS"]
    rows, seconds = insert_like_the_writer(client, rows_file)
    end = _status_mb()
    return {"rows": rows, "seconds": seconds, "start_mb": at_start, "import_mb": at_import, "ready_mb": at_ready,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, "end_anon_mb": end["RssAnon"],
            "end_file_mb": end["RssFile"]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=20_000)
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    from pipeline import run_child

    if args.child:
        rows_file, workdir, variant = args.child
        print(json.dumps(child_insert(Path(rows_file), Path(workdir), variant)))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="scout-writer-memory-") as tmp:
        work = Path(tmp)
        events, rows = work / "events.jsonl", work / "rows.bin"
        console.print(f"simulating {args.events:,} events and capturing the rows the pipeline writes …")
        sim = run_child("bench/pipeline.py", "simulate", str(events), str(args.events))
        cap = run_child("bench/pipeline.py", "null", str(events), str(rows), str(args.batch_size))
        results = {}
        for k, variant in enumerate(VARIANTS):
            console.print(f"inserting with {variant} …")
            results[variant] = run_child(__file__, str(rows), str(work / f"ch-{k}"), variant)
    t = Table(title=f"The writer's memory, MB: the rows of {sim['events']:,} events ({cap['rows']:,} rows), "
                    "one process per variant", header_style="bold cyan")  # fmt: skip
    for col in ("variant", "at start", "import chdb", "opened + migrated", "peak", "end: anon / file", "insert s",
                "peak vs defaults"):  # fmt: skip
        t.add_column(col, justify="left" if col == "variant" else "right")
    base = results["defaults"]["peak_mb"]
    for variant, r in results.items():
        mb = [f"{r[k]}" for k in ("start_mb", "import_mb", "ready_mb", "peak_mb")]
        ratio = f"{r['peak_mb'] / base:.2f}"
        t.add_row(variant, *mb, f"{r['end_anon_mb']} / {r['end_file_mb']}", f"{r['seconds']:.1f}", ratio)
    console.print(t)


if __name__ == "__main__":
    main()
