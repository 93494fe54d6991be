"""Bytewax sink producing records to a Kafka topic (dead letters, annotated events).

One partition of the sink holds an idempotent producer (``acks=all``); the Kafka
partition of each record is the producer's (by key). At every epoch end the sink
waits until everything produced in the epoch is acknowledged and raises if any
delivery failed, so an epoch Bytewax commits is in the topic (at-least-once: after
a crash the last epoch may be produced again; consumers dedup by ``event_id``, or
by the source coordinates in the dead letter's headers). Nothing is dropped silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition

from scout_contract import SourceRecord

#: Seconds an epoch end waits for the broker to acknowledge what was produced.
ACK_TIMEOUT_S = 60.0


class KafkaSinkError(RuntimeError):
    """The broker did not acknowledge produced records."""


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A record to produce: key, raw value, timestamp (ms) and headers (UTF-8 names, raw values)."""

    key: str | None
    value: bytes
    timestamp_ms: int
    headers: list[tuple[str, str | bytes | None]] = field(default_factory=list)


#: What the sink takes: a dead letter, or a record (annotated events) produced with its key, value, timestamp.
Item = TypeVar("Item", OutgoingRecord, SourceRecord)


class _ProducerPartition(StatefulSinkPartition[list[Item], None], Generic[Item]):
    def __init__(self, conf: dict[str, Any], topic: str, partitions: int) -> None:
        from confluent_kafka import Producer

        from dataflows.sources.kafka import client_conf, ensure_topics

        # created when missing, with unlimited retention: annotated records carry event time, and a
        # replay of history would otherwise be expired on arrival (set time retention on the broker if wanted)
        ensure_topics(conf, [topic], partitions, {"retention.ms": "-1"})
        base = client_conf(conf)
        self._producer = Producer({**base, "enable.idempotence": True, "acks": "all", "linger.ms": 20})
        self._topic = topic
        self._failures: list[str] = []
        self._pending = 0
        self._failed = False

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        self._pending -= 1
        if err is not None:
            self._failures.append(str(err))

    def write_batch(self, values: list[list[Item]]) -> None:
        for records in values:
            for rec in records:
                headers = rec.headers if isinstance(rec, OutgoingRecord) else []
                while True:
                    try:
                        self._producer.produce(
                            self._topic, rec.value, rec.key, timestamp=max(rec.timestamp_ms, 0),
                            headers=headers, on_delivery=self._on_delivery,
                        )  # fmt: skip
                        self._pending += 1
                        break
                    except BufferError:
                        self._producer.poll(0.1)
            self._producer.poll(0)

    def snapshot(self) -> None:
        if self._failed:
            return  # reported once; Bytewax is unwinding (a second error would abort the process)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while self._producer.flush(1.0) and time.monotonic() < deadline:
            pass
        if self._failures or self._pending:
            failed, self._failures, self._failed = self._failures, [], True
            raise KafkaSinkError(
                f"topic {self._topic}: {len(failed)} records failed and {self._pending} are unacknowledged "
                f"after {ACK_TIMEOUT_S:.0f} s: {failed[:3]}"
            )

    def close(self) -> None:
        self.snapshot()


class KafkaTopicSink(FixedPartitionedSink[list[Item], None], Generic[Item]):
    """Produces batches of :class:`OutgoingRecord` (or records) to ``topic``."""

    def __init__(self, conf: dict[str, Any], topic: str, partitions: int = 1) -> None:
        self.conf = conf
        self.topic = topic
        self.partitions = partitions

    def list_parts(self) -> list[str]:
        return ["0"]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ProducerPartition[Item]:
        return _ProducerPartition(self.conf, self.topic, self.partitions)
