"""Apache Kafka for the tests and benchmarks: one KRaft node (broker + controller) on 127.0.0.1.

The jars are Apache Kafka 3.9.1 and its runtime dependencies from Maven Central, pinned in
``requirements/kafka/pom.xml`` and copied to ``.scout/kafka/libs`` by ``make kafka`` (``make test``
and ``make bench`` depend on it); Java 17 runs ``kafka.Kafka`` from them. Each broker gets two free
ports (client and controller), a data directory formatted once with ``kafka-storage``'s tool, its own
process group, and is stopped by PID. Restarting on the same data directory keeps its topics (the
broker-outage tests). The configuration is Kafka's defaults except what one node needs (replication
factors 1) and what makes a test broker quick (one partition for the internal topics, no initial
rebalance delay, no topic auto-creation: the project creates the topics it writes, and a missing input
topic must stay missing).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from dataflows.cluster import free_ports

ROOT = Path(__file__).resolve().parents[1]
#: Where ``make kafka`` puts the broker's jars.
LIBS = ROOT / ".scout" / "kafka" / "libs"
LOG_CONFIG = ROOT / "requirements" / "kafka" / "log4j.properties"
#: Seconds a start may take (a JVM on a loaded two-core machine) before the test fails.
START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A port nobody listens on at this moment (the cluster's own helper)."""
    [port] = free_ports(1)
    return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """Apache Kafka (KRaft, one node) on 127.0.0.1, stopped and restarted by PID on the same data dir."""

    name = "Apache Kafka 3.9.1"

    def __init__(self, data_dir: Path, settings: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = data_dir.parent / "broker.log"
        self._config = data_dir.parent / "server.properties"
        self._settings = settings or {}

    def _write_config(self) -> None:
        conf = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            **self._settings,
        }
        self._config.write_text("".join(f"{k}={v}\n" for k, v in conf.items()))

    def _java(self, main: str, *args: str) -> list[str]:
        if not LIBS.is_dir():
            raise RuntimeError(f"no Apache Kafka jars in {LIBS}: run `make kafka` (make test does)")
        return ["java", "-Xms128m", "-Xmx512m", f"-Dlog4j.configuration=file:{LOG_CONFIG}",
                "-cp", f"{LIBS}/*", main, *args]  # fmt: skip

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            # kafka-storage wants a cluster id of 16 bytes in URL-safe base64 without padding (22 characters);
            # one in 64 starts with "-", which its argument parser would take for an option: hence "--cluster-id="
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            formatted = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster}", "-c", str(self._config)),
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if formatted.returncode != 0:
                raise RuntimeError(f"formatting the broker's storage failed: {formatted.stdout}{formatted.stderr}")
        self.proc = subprocess.Popen(
            self._java("kafka.Kafka", str(self._config)),
            stdout=self._log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Wait for the event that says the broker serves clients: its metadata lists itself."""
        from confluent_kafka.admin import AdminClient

        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Apache Kafka exited {self.proc.returncode}: {self._log.read_text()[-4000:]}")
            if _listening(self.port):
                admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 2000})
                with contextlib.suppress(Exception):
                    if admin.list_topics(timeout=2).brokers:
                        return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"Apache Kafka did not serve within {START_TIMEOUT_S:.0f} s: {self._log.read_text()[-4000:]}"
        )

    def stop(self, kill: bool = False) -> None:
        """Stop the broker by PID (SIGTERM: a clean shutdown; ``kill``: SIGKILL, as a crash)."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _listening(self.port):
                time.sleep(0.05)
        self.proc = None

    def create_topics(self, *topics: str, partitions: int = 1, config: dict[str, str] | None = None) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        conf = {"retention.ms": "-1", **(config or {})}
        futures = admin.create_topics([NewTopic(t, partitions, 1, config=conf) for t in topics])
        for f in futures.values():
            f.result(timeout=30)

    def consume(self, topic: str, expect_at_least: int, timeout_s: float = 30) -> list[bytes]:
        """Every message of ``topic`` (reads until ``expect_at_least`` arrived and 1 s passed quietly)."""
        return [value for value, _headers in self.consume_with_headers(topic, expect_at_least, timeout_s)]

    def consume_with_headers(
        self, topic: str, expect_at_least: int, timeout_s: float = 30
    ) -> list[tuple[bytes, dict[str, bytes]]]:
        """Every message of ``topic`` with its headers (the last value of a repeated header name)."""
        from confluent_kafka import Consumer

        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"test-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest", "enable.auto.commit": False, "fetch.queue.backoff.ms": 10,
            "isolation.level": "read_committed",
        })  # fmt: skip
        consumer.subscribe([topic])
        out: list[tuple[bytes, dict[str, bytes]]] = []
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        try:
            while time.monotonic() < deadline:
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    if len(out) >= expect_at_least and time.monotonic() - quiet_since > 1.0:
                        break
                    continue
                out.append(_value_and_headers(msg))
                quiet_since = time.monotonic()
        finally:
            consumer.close()
        return out

    def read_to_end(self, topic: str, timeout_s: float = 60) -> list[tuple[bytes, dict[str, bytes]]]:
        """Every message ``topic`` holds now: each partition read from its start up to the end offset
        captured first (an event, not a quiet period); values with their headers."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"test-{time.monotonic_ns()}",
                             "enable.auto.commit": False})  # fmt: skip
        out: list[tuple[bytes, dict[str, bytes]]] = []
        try:
            meta = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
                    for p in meta.partitions}  # fmt: skip
            consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
            left = {p for p, end in ends.items() if end > 0}
            deadline = time.monotonic() + timeout_s
            while left:
                assert time.monotonic() < deadline, f"{topic}: partitions {sorted(left)} not read to their end"
                for msg in consumer.consume(1000, 0.5):
                    if msg.error() is not None:
                        continue
                    out.append(_value_and_headers(msg))
                    if (msg.offset() or 0) + 1 >= ends[msg.partition() or 0]:
                        left.discard(msg.partition() or 0)
        finally:
            consumer.close()
        return out


def _value_and_headers(msg: Any) -> tuple[bytes, dict[str, bytes]]:
    """A consumed message's value and headers (the last value of a repeated header name)."""
    raw = msg.headers() or []
    items = raw.items() if isinstance(raw, dict) else raw
    value = msg.value()
    return value if isinstance(value, bytes) else b"", {
        k: v.encode() if isinstance(v, str) else v or b"" for k, v in items
    }
