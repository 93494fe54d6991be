"""Bytewax sink producing records to a Kafka topic (dead letters, annotated events).

One partition of the sink holds an idempotent producer (``acks=all``); the Kafka
partition of each record is the producer's (by key). At every epoch end the sink
waits until everything produced in the epoch is acknowledged and raises if any
delivery failed, so an epoch Bytewax commits is in the topic (at-least-once: after
a crash the last epoch may be produced again; consumers dedup by ``event_id``, or
by the source coordinates in the dead letter's headers). Nothing is dropped silently.

A record the topic cannot take (larger than the producer's or the topic's size limit, or any
other failure of that one record that retrying cannot fix) never stops the run: it is produced
again as its *head* (:data:`HEAD_BYTES`) with headers ``scout.truncated``,
``scout.original_length`` and ``scout.produce_error``; its whole bytes stay in
``quarantine_events`` (a dead letter is always a copy of a quarantine row). If even the head is
refused, the record is counted in ``scout_sink_records_unproduced_total`` and logged as an error
with its coordinates, and the run goes on. Failures of the broker or the connection (retriable, or
the producer's own fatal state) still fail the epoch: retrying the epoch can fix those.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

import structlog
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from prometheus_client import Counter

from scout_contract import SourceRecord

log = structlog.get_logger(__name__)

#: Seconds an epoch end waits for the broker to acknowledge what was produced.
ACK_TIMEOUT_S = 60.0
#: Bytes of a refused record's value (and of each of its headers) that its truncated copy keeps.
HEAD_BYTES = 64 * 1024
#: Failures of one record that producing the same bytes again cannot fix (librdkafka's names).
_PER_RECORD = frozenset({"MSG_SIZE_TOO_LARGE", "INVALID_RECORD", "CORRUPT_MESSAGE", "INVALID_TIMESTAMP",
                         "RECORD_LIST_TOO_LARGE", "INVALID_MSG", "INVALID_MSG_SIZE"})  # fmt: skip

TRUNCATED = Counter(
    "scout_sink_records_truncated_total", "Records a topic refused whole, produced as their head", ["topic"]
)
UNPRODUCED = Counter(
    "scout_sink_records_unproduced_total", "Records a topic refused even as their head (kept in quarantine)", ["topic"]
)


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


def _per_record(err: Any) -> bool:
    """Whether ``err`` (a librdkafka ``KafkaError``) is about this one record, not the broker or link."""
    return bool(err.name() in _PER_RECORD or (not err.retriable() and not err.fatal() and err.code() > 0))


def _is_head(rec: OutgoingRecord) -> bool:
    """Whether ``rec`` is already the truncated copy of a refused record."""
    return any(k == "scout.truncated" for k, _ in rec.headers)


def _head(rec: OutgoingRecord, reason: str) -> OutgoingRecord:
    """The truncated copy of a refused record: its value's and headers' first :data:`HEAD_BYTES`."""
    kept: list[tuple[str, str | bytes | None]] = [
        (k, (v.encode() if isinstance(v, str) else v or b"")[:HEAD_BYTES]) for k, v in rec.headers
    ]
    kept += [("scout.truncated", b"true"), ("scout.original_length", str(len(rec.value)).encode()),
             ("scout.produce_error", reason.encode()[:1024])]  # fmt: skip
    return OutgoingRecord(rec.key, rec.value[:HEAD_BYTES], rec.timestamp_ms, kept)


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
        #: records refused whole, to produce again as their head: (record, reason)
        self._refused: list[tuple[OutgoingRecord, str]] = []
        self._pending = 0
        self._failed = False

    def _on_delivery(self, rec: OutgoingRecord, err: Any, _msg: Any) -> None:
        self._pending -= 1
        if err is None:
            return
        if _per_record(err):  # the delivery report carries no headers: the record is kept for this
            self._refused.append((rec, str(err)))
        else:
            self._failures.append(str(err))

    def _produce(self, rec: OutgoingRecord) -> None:
        from confluent_kafka import KafkaException

        while True:
            try:
                self._producer.produce(self._topic, rec.value, rec.key, timestamp=max(rec.timestamp_ms, 0),
                                       headers=rec.headers, on_delivery=partial(self._on_delivery, rec))  # fmt: skip
                self._pending += 1
                return
            except BufferError:
                self._producer.poll(0.1)
            except KafkaException as exc:  # refused before sending: too large for the producer
                err = exc.args[0]
                if not _per_record(err):
                    raise
                self._refused.append((rec, str(err)))
                return

    def write_batch(self, values: list[list[Item]]) -> None:
        for records in values:
            for rec in records:
                out = rec if isinstance(rec, OutgoingRecord) else OutgoingRecord(rec.key, rec.value, rec.timestamp_ms)
                self._produce(out)
            self._producer.poll(0)

    def _settle_refused(self) -> None:
        """Produce each refused record's head once; a head refused again is counted and logged."""
        refused, self._refused = self._refused, []
        for rec, reason in refused:
            if _is_head(rec):
                UNPRODUCED.labels(self._topic).inc()
                coords = {k: v.decode(errors="replace") if isinstance(v, bytes) else v for k, v in rec.headers
                          if k in ("scout.topic", "scout.partition", "scout.offset")}  # fmt: skip
                log.error("record not produced even truncated; it stays in quarantine_events",
                          topic=self._topic, key=rec.key, error=reason, **coords)  # fmt: skip
                continue
            TRUNCATED.labels(self._topic).inc()
            self._produce(_head(rec, reason))

    def snapshot(self) -> None:
        if self._failed:
            return  # reported once; Bytewax is unwinding (a second error would abort the process)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while True:
            while self._producer.flush(1.0) and time.monotonic() < deadline:
                pass
            if not self._refused or time.monotonic() >= deadline:
                break
            self._settle_refused()
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
