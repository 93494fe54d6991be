"""Soak: does a long run stay flat? RSS of both processes and the recovery store's size over ≥ 10 M events.

    python bench/soak.py [--events 10000000] [--stores 500] [--devices 2] [--retention-h 1]

Simulates ``--events`` events from ``--stores`` × ``--devices`` devices (1,000 by default; the simulator
sends ≈ 1,570 events per device-hour, so 10 M events are ≈ 6.4 hours of event time) into a topic file,
then runs ``scout run --recovery-dir`` over it with metrics served and samples, every ``--every``
seconds: the records read (``scout_records_in_total``), the resident memory of the dataflow's process
and of its writer process (psutil), and the recovery store's size on disk (every file of the directory,
write-ahead logs included).

Gold windows are kept for ``gold_retention_h`` of event time after they end (48 h by default, longer
than any soak here could simulate): the soak sets it to ``--retention-h`` (1 h) so windows are evicted
several times during the run and the state can level off; everything else is at its defaults (session
gap, out-of-orderness, snapshot every 10 s). The first ``--warmup`` share of the events (30 %) is left
out, then each series is split into thirds: ``drift`` is the last third's mean over the first third's
(flat = within ±10 %), ``spread`` max/min over the same samples. The plot goes to ``--plot``
(bench/soak.png).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kafka_broker import free_port  # noqa: E402
from tests.prometheus import scrape, total  # noqa: E402

#: events per device-hour the simulator sends at its defaults (measured: 31,387 from 20 devices in 1 h)
EVENTS_PER_DEVICE_HOUR = 1_570


@dataclass
class Sample:
    at_s: float
    records: float
    dataflow_mb: float
    writer_mb: float
    recovery_mb: float


def _simulate(path: Path, events: int, stores: int, devices: int) -> int:
    from itertools import islice

    from rich.progress import Progress

    from dataflows.simulator import SimConfig, simulate, write_topic_file

    hours = events / (stores * devices * EVENTS_PER_DEVICE_HOUR) * 1.02
    cfg = SimConfig(stores=stores, devices_per_store=devices, hours=hours, seed=13, silent_devices=0)
    with Progress() as progress:
        task = progress.add_task("simulate", total=events)
        return write_topic_file(islice(simulate(cfg), events), path, lambda n: progress.advance(task, n))


def _records_read(port: int) -> float | None:
    try:
        return total(scrape(port, timeout_s=5), "scout_records_in_total")
    except OSError:
        return None


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def _sample(run: subprocess.Popen[bytes], port: int, recovery: Path, every: float, out: list[Sample]) -> None:
    proc = psutil.Process(run.pid)
    started = time.monotonic()
    while run.poll() is None:
        try:
            children = proc.children(recursive=True)
            dataflow = proc.memory_info().rss / 1e6
            writer = max((c.memory_info().rss for c in children), default=0) / 1e6
        except psutil.Error:
            break
        records = _records_read(port)
        if records is not None:
            out.append(Sample(time.monotonic() - started, records, dataflow, writer, _dir_mb(recovery)))
        time.sleep(every)


def _flatness(samples: list[Sample], field: str, warmup: float) -> tuple[float, float]:
    last = samples[-1].records
    kept = [getattr(s, field) for s in samples if s.records >= warmup * last]
    if len(kept) < 3:
        return float("nan"), float("nan")
    third = len(kept) // 3
    drift = statistics.fmean(kept[-third:]) / statistics.fmean(kept[:third])
    return drift, max(kept) / max(min(kept), 1e-9)


def _plot(samples: list[Sample], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [s.records / 1e6 for s in samples]
    fig, (mem, disk) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    mem.plot(x, [s.dataflow_mb for s in samples], label="dataflow process RSS")
    mem.plot(x, [s.writer_mb for s in samples], label="writer process RSS")
    mem.set_ylabel("MB")
    mem.set_ylim(bottom=0)
    mem.legend(loc="lower right")
    mem.grid(alpha=0.3)
    mem.set_title(title)
    disk.plot(x, [s.recovery_mb for s in samples], color="tab:green", label="recovery store on disk")
    disk.set_ylabel("MB")
    disk.set_ylim(bottom=0)
    disk.set_xlabel("records read (millions)")
    disk.legend(loc="lower right")
    disk.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--stores", type=int, default=500)
    ap.add_argument("--devices", type=int, default=2, help="devices per store")
    ap.add_argument("--retention-h", type=float, default=1.0, help="gold_retention_h for the soak")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=0.3, help="share of the events left out as warm-up")
    ap.add_argument("--plot", type=Path, default=ROOT / "bench" / "soak.png")
    ap.add_argument("--workdir", type=Path, default=None, help="where the topic file and warehouse go")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="scout-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    events = work / "events.jsonl"
    if not events.exists():
        n = _simulate(events, args.events, args.stores, args.devices)
    else:
        n = sum(1 for _ in events.open("rb"))
    devices = args.stores * args.devices
    print(f"{n:,} events from {devices:,} devices ({events.stat().st_size / 1e9:.2f} GB) in {work}", flush=True)

    port = free_port()
    recovery = work / "recovery"
    env = {**os.environ, "SCOUT_GOLD_RETENTION_H": str(args.retention_h)}
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "scout_cli", "run", "--source", f"file:{events}", "--sink", f"chdb://{work / 'ch'}",
         "--recovery-dir", str(recovery), "--no-summary", "--metrics-port", str(port)],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=(work / "run.log").open("wb"),
    )  # fmt: skip
    samples: list[Sample] = []
    sampler = threading.Thread(target=_sample, args=(run, port, recovery, args.every, samples), daemon=True)
    sampler.start()
    rc = run.wait()
    wall = time.monotonic() - started
    sampler.join(timeout=30)
    if rc != 0:
        raise SystemExit(f"scout run exited {rc}: see {work / 'run.log'}")

    print(f"\nscout run: {wall:.0f} s, {n / wall:,.0f} events/s, {len(samples)} samples every {args.every:g} s")
    print(f"{'t s':>6} {'records':>11} {'dataflow MB':>12} {'writer MB':>10} {'recovery MB':>12}")
    step = max(1, len(samples) // 20)
    for s in samples[::step] + samples[-1:]:
        print(f"{s.at_s:6.0f} {s.records:11,.0f} {s.dataflow_mb:12.0f} {s.writer_mb:10.0f} {s.recovery_mb:12.1f}")
    print(f"\nafter the first {args.warmup:.0%} of the records (drift = last third's mean / first third's):")
    for field, label in (("dataflow_mb", "dataflow RSS"), ("writer_mb", "writer RSS"), ("recovery_mb", "recovery")):
        drift, spread = _flatness(samples, field, args.warmup)
        verdict = "flat" if abs(drift - 1) <= 0.10 else "NOT flat"
        print(f"  {label:13} drift {drift:5.2f}  spread {spread:5.2f}  {verdict} (±10 %)")
    print(f"  peak RSS: dataflow {max(s.dataflow_mb for s in samples):.0f} MB, "
          f"writer {max(s.writer_mb for s in samples):.0f} MB")  # fmt: skip
    title = f"scout run soak: {n / 1e6:.1f} M events, {devices:,} devices, gold_retention_h={args.retention_h:g}"
    _plot(samples, args.plot, title)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
