"""Benchmark: Kafka → chDB beside file → chDB and the raw consume rate, in one run (ratios).

The broker is Apache Kafka 3.9.1 in KRaft mode (``tests/kafka_broker.py``; ``make kafka`` fetches
its jars), started on free 127.0.0.1 ports and stopped by PID. Stages, each its own process on the
same simulated events:

* raw consume — a plain confluent-kafka loop over every partition (``fetch.queue.backoff.ms`` 10);
* file → chDB — ``scout run --source file:…`` (the file form of the same events);
* Kafka → chDB — ``scout run --source kafka://… --stop-at-end``, one process, then two;
* the columnar engine (``--engine columnar``, #21) — file → chDB and Kafka → chDB, one process;
* replay — ``scout replay --source kafka://…`` over the whole simulated range, and
  ``scout replay --from-bronze`` over the same range.

The replay from Kafka finds its start and end offsets with ``offsets_for_times`` on record
timestamps, as in production (Tansu, the broker of earlier runs, answered it wrongly).

    python bench/kafka_pipeline.py                 # 1,000,000 events
    python bench/kafka_pipeline.py --events 200000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scout_contract.streams import NAMES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kafka_broker import Broker  # noqa: E402

EVENTS_PER_DEVICE_HOUR = 1_470
COLUMNAR_FILE = "file → chDB, --engine columnar (#21)"
COLUMNAR_KAFKA = "Kafka → chDB, --engine columnar (1 process)"
#: The simulator's first event time (2025-05-19T00:00:00Z), seconds.
SIM_START_S = 1_747_612_800
REPLAY = "replay from Kafka (whole range; records it read)"
BRONZE_REPLAY = "replay from bronze (whole range)"
TOPIC_ENV = {f"SCOUT_TOPICS__{s.upper()}": f"bench-{s}" for s in NAMES}


def produce(bootstrap: str, path: Path, partitions: int) -> dict[tuple[str, int], int]:
    """The file's records to their topics (torn lines are a file-form artefact: not produced)."""
    from dataflows.sources.kafka import produce_records
    from scout_contract import decode_record_line
    from scout_contract.records import EnvelopeError

    names = {"eh-pi-stt-raw": "bench-stt", "eh-pi-visual-stream": "bench-visual",
             "eh-device-heartbeat": "bench-heartbeat", "eh-insight-feedback": "bench-feedback"}  # fmt: skip
    records = []
    with path.open("rb") as f:
        for line in f:
            try:
                rec = decode_record_line(line)
            except EnvelopeError:
                continue
            records.append(rec.__class__(names.get(rec.topic, rec.topic), rec.partition % partitions, 0,
                                         rec.timestamp_ms, rec.key, rec.value))  # fmt: skip
    produce_records({"bootstrap.servers": bootstrap}, records, partitions, sorted(names.values()))
    counts: dict[tuple[str, int], int] = {}
    for rec in records:
        counts[(rec.topic, rec.partition)] = counts.get((rec.topic, rec.partition), 0) + 1
    return counts


def raw_consume(bootstrap: str, counts: dict[tuple[str, int], int]) -> dict[str, Any]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-raw", "enable.auto.commit": False,
                         "fetch.queue.backoff.ms": 10})  # fmt: skip
    consumer.assign([TopicPartition(t, p, 0) for t, p in counts])
    want, got = sum(counts.values()), 0
    t0 = time.perf_counter()
    deadline = time.monotonic() + 600
    while got < want and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, timeout=0.5):
            if msg.error() is None:
                got += 1
    seconds = time.perf_counter() - t0
    consumer.close()
    return {"events": got, "seconds": seconds}


def _records_read(out: str) -> int:
    """How many records a ``scout replay`` said it rebuilds from."""
    found = re.search(r"from ([\d,]+) records", out)
    return int(found.group(1).replace(",", "")) if found else 0


def scout(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run ``scout ARGS``; its wall time and its output."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "scout_cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **TOPIC_ENV, **(env or {})}, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"scout {' '.join(args[:3])} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    with tempfile.TemporaryDirectory(prefix="scout-kbench-") as tmp:
        work = Path(tmp)
        events = work / "events.jsonl"
        stores, devices = 16, 4
        hours = args.events / (stores * devices * EVENTS_PER_DEVICE_HOUR)
        scout("simulate", "--out", str(events), "--stores", str(stores), "--devices", str(devices), "--hours",
              f"{hours:.4f}", "--seed", "1")  # fmt: skip
        n = sum(1 for _ in events.open("rb"))
        broker = Broker(work / "kafka" / "data")
        broker.start()
        bootstrap = broker.bootstrap
        try:
            console.print(f"producing {n:,} records to {broker.name} at {bootstrap} ({args.partitions} partitions) …")
            counts = produce(bootstrap, events, args.partitions)
            kafka_n = sum(counts.values())
            raw = raw_consume(bootstrap, counts)
            file_s, _ = scout("run", "--source", f"file:{events}", "--sink", f"chdb://{work / 'file'}", "--no-summary")
            src = f"kafka://{bootstrap}"
            k1_s, _ = scout("run", "--source", src, "--sink", f"chdb://{work / 'k1'}", "--stop-at-end", "--no-summary")
            k2_s, _ = scout("run", "--source", src, "--sink", f"chdb://{work / 'k2'}", "--stop-at-end", "--no-summary",
                            "--processes", "2")  # fmt: skip
            cf_s, _ = scout("run", "--source", f"file:{events}", "--sink", f"chdb://{work / 'cf'}", "--no-summary",
                            "--engine", "columnar")  # fmt: skip
            ck_s, _ = scout("run", "--source", src, "--sink", f"chdb://{work / 'ck'}", "--stop-at-end", "--no-summary",
                            "--engine", "columnar")  # fmt: skip
            until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(SIM_START_S + hours * 3600 + 3600))
            replay_s, out = scout("replay", "--source", src, "--sink", f"chdb://{work / 'k1'}", "--since",
                                  "2025-05-19T00:00:00Z", "--until", until)  # fmt: skip
            replay_n = _records_read(out)
            bronze_s, out = scout("replay", "--from-bronze", "--sink", f"chdb://{work / 'k1'}", "--since",
                                  "2025-05-19T00:00:00Z", "--until", until)  # fmt: skip
            bronze_n = _records_read(out)
        finally:
            broker.stop()

    rows = [
        ("raw confluent-kafka consume", raw["events"], raw["seconds"]),
        ("file → chDB (scout run, 1 process)", n, file_s),
        ("Kafka → chDB (1 process)", kafka_n, k1_s),
        ("Kafka → chDB (2 processes)", kafka_n, k2_s),
        (COLUMNAR_FILE, n, cf_s),
        (COLUMNAR_KAFKA, kafka_n, ck_s),
        (REPLAY, replay_n, replay_s),
        (BRONZE_REPLAY, bronze_n, bronze_s),
    ]
    t = Table(title=f"Kafka pipeline benchmark ({Broker.name}, {args.partitions} partitions)", header_style="bold cyan")
    for col in ("stage", "events", "seconds", "events/s"):
        t.add_column(col, justify="left" if col == "stage" else "right")
    rate = {}
    for name, count, secs in rows:
        rate[name] = count / secs
        t.add_row(name, f"{count:,}", f"{secs:.1f}", f"{rate[name]:,.0f}")
    console.print(t)
    k1, k2 = rate["Kafka → chDB (1 process)"], rate["Kafka → chDB (2 processes)"]
    ratios = Table(title="Ratios (same run)", header_style="bold cyan")
    for col in ("measure", "value", "target"):
        ratios.add_column(col, justify="left" if col == "measure" else "right")
    ratios.add_row("Kafka → chDB / file → chDB", f"{k1 / rate['file → chDB (scout run, 1 process)']:.2f}", "≥ 0.9")
    ratios.add_row("2 processes / 1 process", f"{k2 / k1:.2f}", "≥ 1.5")
    ratios.add_row("columnar: Kafka → chDB / file → chDB", f"{rate[COLUMNAR_KAFKA] / rate[COLUMNAR_FILE]:.2f}", "≥ 0.9")
    ratios.add_row("columnar / rows engine: Kafka → chDB", f"{rate[COLUMNAR_KAFKA] / k1:.2f}", "")
    ratios.add_row("replay from Kafka / live (1 process)", f"{rate[REPLAY] / k1:.2f}", "≥ 0.8")
    ratios.add_row("replay from bronze / live (1 process)", f"{rate[BRONZE_REPLAY] / k1:.2f}", "")
    ratios.add_row("Kafka → chDB / raw consume", f"{k1 / rate['raw confluent-kafka consume']:.2f}", "")
    console.print(ratios)
    console.print("[dim]wall time of each `scout` process, start-up and migrations included[/dim]")
    print(json.dumps({k: round(v) for k, v in rate.items()}))


if __name__ == "__main__":
    main()
