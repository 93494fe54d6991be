"""Delivery through Apache Kafka (one KRaft node, tests/kafka_broker.py): nothing lost, duplicates bounded.

* kill -9 of the publishing process mid-publish, then a restart → every event
  delivered; only events of the batch in flight may be duplicated (same
  ``event_id``, dropped by the dataflow's dedup).
* the broker stopped for a while, events piling up in the outbox, broker
  restarted → every event delivered exactly once after dedup.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from edge_runtime.config import KafkaConfig, PublisherConfig
from edge_runtime.delivery.drain import drain_forever
from edge_runtime.delivery.outbox import Outbox, OutboxItem
from edge_runtime.delivery.publishers import KafkaPublisher
from tests.kafka_broker import Broker

pytestmark = pytest.mark.slow

TOPIC = "eh-pi-visual-stream"


def event(i: int) -> OutboxItem:
    return OutboxItem(TOPIC, "SCOUTPI-0001", f"ev-{i:06d}", json.dumps({"event_id": f"ev-{i:06d}", "n": i}).encode())


def delivered_ids(broker: Broker, expect: int) -> Counter[str]:
    return Counter(json.loads(v)["event_id"] for v in broker.consume(TOPIC, expect, timeout_s=60))


def test_kill_9_mid_publish_loses_nothing(tmp_path: Path, broker: Broker) -> None:
    broker.create_topics(TOPIC)
    n, batch = 3000, 50
    path = tmp_path / "outbox.db"
    box = Outbox(path, budget_bytes=1 << 30)
    box.put([event(i) for i in range(n)])
    box.close()

    def child() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.edge_runtime.delivery.drain_child", str(path), broker.bootstrap, str(batch)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    watch = Outbox(path, budget_bytes=1 << 30)
    first = child()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        depth = watch._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        if depth <= n - 4 * batch:
            break
        time.sleep(0.005)
    first.kill()  # SIGKILL mid-publish
    first.wait(10)
    left_after_kill = watch._db.execute("SELECT count(*) FROM outbox").fetchone()[0]
    watch.close()
    assert 0 < left_after_kill < n, "the kill must land while events are still waiting"

    second = child()
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert out.strip() == "left 0"

    ids = delivered_ids(broker, n)
    assert set(ids) == {f"ev-{i:06d}" for i in range(n)}
    duplicates = sum(c - 1 for c in ids.values())
    assert duplicates <= 2 * batch, f"{duplicates} duplicates: more than the batches in flight"


def test_broker_outage_then_restart_delivers_everything(tmp_path: Path, broker: Broker) -> None:
    broker.create_topics(TOPIC)
    box = Outbox(tmp_path / "outbox.db", budget_bytes=1 << 30)
    config = PublisherConfig(
        kind="kafka", batch=100, ack_timeout_s=2, kafka=KafkaConfig(bootstrap_servers=broker.bootstrap)
    )
    publisher = KafkaPublisher(config)
    stop = threading.Event()
    drainer = threading.Thread(
        target=drain_forever, args=(box, publisher, stop), kwargs={"batch": 100, "max_backoff_s": 1.0}
    )
    drainer.start()
    produced = 0

    def produce_for(seconds: float) -> None:
        nonlocal produced
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            box.put([event(produced + k) for k in range(10)])
            produced += 10
            time.sleep(0.05)

    try:
        produce_for(1.0)
        broker.stop()
        produce_for(4.0)
        depth_during_outage = box.depth()
        broker.start()
        produce_for(1.0)
        deadline = time.monotonic() + 90
        while box.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert box.depth() == 0, "outbox not drained 90 s after the broker came back"
    finally:
        stop.set()
        drainer.join(30)
        publisher.close()
    assert depth_during_outage >= 40, "events must pile up in the outbox while the broker is away"
    ids = delivered_ids(broker, produced)
    assert set(ids) == {f"ev-{i:06d}" for i in range(produced)}  # exactly once after dedup
