"""Freshness: at a steady rate from Kafka, how long a record waits before its bronze row, and the gold rows
it changes, can be queried.

    python bench/freshness.py [--rate 10000] [--seconds 60] [--partitions 4]

Starts Apache Kafka (one KRaft node, ``tests/kafka_broker.py``) and, for each flush setting, a tailing
``scout run`` on its own topics with metrics served; a producer thread writes simulated events at a steady
``--rate`` with the wall-clock time of producing as each record's timestamp (the arrival time). The run's
``scout_bronze_visible_seconds`` histogram (record timestamp → the end of the insert in the writer, so the
row is queryable; every 8th bronze row) and ``scout_gold_visible_seconds`` (the oldest record of a batch that
changed gold windows → those gold rows queryable; the simulated event time runs ≈ 380× faster than the wall
clock here, so hour windows become closable — their last session closed by a later record — all the time)
are read before and after the measured window (the first ``--warmup`` seconds are left out), and p50 / p99
are interpolated within their buckets.

Side by side in one run (``--flush``, default ``0.5,10``): ``flush_interval_s = 0.5`` (the default) against
the flush at each epoch end only (``flush_interval_s`` = the snapshot interval, 10 s: what every run did
before). Also shown: the writer's insert time per batch (all tables). Gold rows ride the same batches and
flushes; a session's interaction row waits in addition for its device's event time to pass
the session gap and the out-of-orderness bound: event time, which the gold figure starts after (it counts
from the arrival of the record that closes the session, see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scout_contract.streams import NAMES  # noqa: E402
from tests.kafka_broker import Broker, free_port  # noqa: E402
from tests.prometheus import scrape, total  # noqa: E402

METRIC = "scout_bronze_visible_seconds"
GOLD_METRIC = "scout_gold_visible_seconds"
_VISUAL_INSERTS = 'scout_insert_seconds_count{table="bronze_visual_stream"}'


def _records(n: int, partitions: int) -> list[tuple[str, int, bytes | None, bytes]]:
    """``n`` simulated records as (stream, partition, key, value), in the simulator's order."""
    from dataflows.simulator import SimConfig, simulate
    from scout_contract.streams import INPUT_TOPICS

    stream_of = {topic: stream for stream, topic in INPUT_TOPICS.items()}
    out: list[tuple[str, int, bytes | None, bytes]] = []
    hours = n / (64 * 1_470) + 0.05
    for rec in simulate(SimConfig(stores=16, devices_per_store=4, hours=hours, seed=3, malformed_rate=0.0)):
        stream = stream_of.get(rec.topic)
        if stream is None:
            continue
        out.append((stream, rec.partition % partitions, rec.key.encode() if rec.key else None, rec.value))
        if len(out) == n:
            break
    return out


def _produce(bootstrap: str, topics: dict[str, str], records: list[tuple[str, int, bytes | None, bytes]],
             rate: int, seconds: float, sent: list[int]) -> None:  # fmt: skip
    """Produce at ``rate`` records a second for ``seconds``, each stamped with the time it is produced."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": 1})
    start = time.monotonic()
    i = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while i < due:
            stream, part, key, value = records[i % len(records)]
            while True:
                try:
                    producer.produce(topics[stream], value, key, partition=part, timestamp=time.time_ns() // 1_000_000)
                    break
                except BufferError:
                    producer.poll(0.01)
            i += 1
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(60)
    sent.append(i)


def _buckets(m: dict[str, float], metric: str) -> list[tuple[float, float]]:
    out = []
    for name, count in m.items():
        found = re.fullmatch(rf'{metric}_bucket\{{le="([^"]+)"\}}', name)
        if found:
            out.append((float(found.group(1)), count))
    return sorted(out)


def _percentile(before: dict[str, float], after: dict[str, float], q: float, metric: str = METRIC) -> float:
    """The q-quantile of the observations between two scrapes, interpolated within a bucket."""
    lo = dict(_buckets(before, metric))
    cumulative = [(le, count - lo.get(le, 0.0)) for le, count in _buckets(after, metric)]
    total = cumulative[-1][1]
    if total <= 0:
        return float("nan")
    want, prev_le, prev_n = q * total, 0.0, 0.0
    for le, n in cumulative:
        if n >= want:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((want - prev_n) / max(n - prev_n, 1e-9))
        prev_le, prev_n = le, n
    return float("inf")


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"scout run ended early (exit {proc.returncode})")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("the metrics port never opened")


def measure(broker: Broker, work: Path, name: str, flush_s: float, records: list[tuple[str, int, bytes | None, bytes]],
            args: argparse.Namespace) -> dict[str, float]:  # fmt: skip
    topics = {s: f"fresh-{name}-{s}" for s in NAMES}
    env = {**os.environ, **{f"SCOUT_TOPICS__{s.upper()}": t for s, t in topics.items()},
           "SCOUT_KAFKA__PARTITIONS": str(args.partitions), "SCOUT_FLUSH_INTERVAL_S": str(flush_s),
           "SCOUT_TOPICS__DEAD_LETTER": f"fresh-{name}-dl", "SCOUT_TOPICS__ANNOTATED": f"fresh-{name}-ann"}  # fmt: skip
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for future in admin.create_topics([NewTopic(t, args.partitions, 1) for t in topics.values()]).values():
        future.result(timeout=30)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "scout_cli", "run", "--source", f"kafka://{broker.bootstrap}",
                             "--sink", f"chdb://{work / name}", "--no-summary", "--metrics-port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_port(port, proc)
        sent: list[int] = []
        producer = threading.Thread(target=_produce, args=(broker.bootstrap, topics, records, args.rate,
                                                            args.seconds, sent))  # fmt: skip
        producer.start()
        time.sleep(args.warmup)
        before = scrape(port)
        producer.join()
        # the tail: until every record is read and the histogram has stopped growing for one epoch + flush
        deadline, last, still_since = time.monotonic() + 300, -1.0, time.monotonic()
        while time.monotonic() < deadline:
            m = scrape(port)
            read = total(m, "scout_records_in_total")
            count = m.get(f"{METRIC}_count", 0.0)
            if count != last:
                last, still_since = count, time.monotonic()
            elif read >= sent[0] and time.monotonic() - still_since > 12:
                break
            time.sleep(0.5)
        after = scrape(port)
        rss = after.get("process_resident_memory_bytes", 0.0) / 2**20
        read = total(after, "scout_records_in_total")
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    insert_s = sum(v - before.get(k, 0.0) for k, v in after.items() if k.startswith("scout_insert_seconds_sum"))
    batches = max(after.get(_VISUAL_INSERTS, 0.0) - before.get(_VISUAL_INSERTS, 0.0), 1.0)
    return {"flush_s": flush_s, "produced": sent[0], "read": read, "insert_s_per_batch": insert_s / batches,
            "p50_s": _percentile(before, after, 0.5), "p99_s": _percentile(before, after, 0.99), "rss_mb": rss,
            "gold_p50_s": _percentile(before, after, 0.5, GOLD_METRIC),
            "gold_p99_s": _percentile(before, after, 0.99, GOLD_METRIC),
            "gold_observed": after.get(f"{GOLD_METRIC}_count", 0.0) - before.get(f"{GOLD_METRIC}_count", 0.0),
            "observed": after.get(f"{METRIC}_count", 0.0) - before.get(f"{METRIC}_count", 0.0)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=int, default=10_000, help="records per second produced")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds left out at the start")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--flush", default="0.5,10", help="flush_interval_s values to compare; the last is the baseline")
    args = ap.parse_args()
    flushes = [float(x) for x in args.flush.split(",")]

    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    records = _records(min(int(args.rate * args.seconds), 2_000_000), args.partitions)
    results = []
    with tempfile.TemporaryDirectory(prefix="scout-fresh-") as tmp:
        work = Path(tmp)
        broker = Broker(work / "kafka")
        broker.start()
        try:
            for flush_s in flushes:
                name = f"flush{flush_s:g}s".replace(".", "_")
                console.print(f"{name}: {args.rate:,} records/s for {args.seconds:.0f} s, flush_interval_s={flush_s} …")
                results.append((name, measure(broker, work, name, flush_s, records, args)))
        finally:
            broker.stop()
    t = Table(title=f"Arrival → queryable ({args.rate:,} records/s, {args.partitions} partitions)",
              header_style="bold cyan")  # fmt: skip
    for col in ("flush", "produced", "read", "bronze p50 s", "bronze p99 s", "gold p50 s", "gold p99 s",
                "gold batches", "insert s / batch", "dataflow RSS MB"):  # fmt: skip
        t.add_column(col, justify="left" if col == "flush" else "right")
    for _name, r in results:
        t.add_row(f"{r['flush_s']:g} s", f"{r['produced']:,}", f"{r['read']:,.0f}", f"{r['p50_s']:.2f}",
                  f"{r['p99_s']:.2f}", f"{r['gold_p50_s']:.2f}", f"{r['gold_p99_s']:.2f}",
                  f"{r['gold_observed']:,.0f}", f"{r['insert_s_per_batch']:.2f}", f"{r['rss_mb']:.0f}")  # fmt: skip
    console.print(t)
    base = results[-1][1]
    for _name, r in results[:-1]:
        ratio = r["p99_s"] / base["p99_s"]
        console.print(f"p99 ratio ({r['flush_s']:g} s flush / {base['flush_s']:g} s): {ratio:.2f}; target p99 ≤ 2 s")
    print(json.dumps({name: r for name, r in results}))


if __name__ == "__main__":
    main()
