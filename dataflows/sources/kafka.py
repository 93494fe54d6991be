"""Bytewax source over Kafka topics (confluent-kafka), read time-aligned per partition number.

One Bytewax partition per Kafka partition *number* ``n``: it reads partition ``n`` of every
input topic and hands records on in record-timestamp order across those topics (the smallest
timestamp first, as Quix Streams' consumer buffer does). Every producer here keys records by
device (feedback: store) with the same partitioner and the same partition count on each topic,
so all of a device's streams arrive at one Bytewax partition, merged in time: a 20k-record batch
of one topic cannot make the same device's other stream late, and lateness does not depend on
the order in which partitions happen to be fetched.

A topic whose partition has no buffered record holds the merge back until it delivers one, or
until it is known to have nothing more: it reached the end captured at start (``stop_at_end``,
a bounded run) or is caught up (live: partition EOF, or every record up to the high watermark of
its last fetch consumed — known at once, where the EOF event waits for one more, empty fetch:
``fetch.wait.max.ms``, 500 ms, each time a quiet topic delivers a record). The resume state is the next
offset of every topic at that partition number — only records handed on count, so buffered but
not yet emitted records are read again after a resume. Record coordinates (topic, partition,
offset, timestamp) go into bronze as they are.

Tested against Apache Kafka 3.9.1 (one KRaft node started by the tests, ``tests/kafka_broker.py``):
replicated partitions and broker failover across nodes are not exercised here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from dataflows.errors import Exit, ScoutError
from dataflows.health import mark_epoch
from dataflows.metrics import RECORDS_IN
from dataflows.sources.aligned import TimeAligned
from dataflows.sources.stop import stop_requested
from scout_contract import SourceRecord

log = structlog.get_logger(__name__)

Progress = Callable[[int], None]

#: Version of the resume state ``{"version": 1, "offsets": {topic: next offset}}``.
STATE_VERSION = 1
#: Seconds until a partition whose consumer had nothing is asked again (its worker does other work meanwhile).
IDLE_POLL_S = 0.02


class KafkaSourceError(ScoutError, RuntimeError):
    """The brokers or topics cannot be used (unreachable, a topic missing, partition counts differ)."""

    exit_code, label = Exit.SOURCE, "source error"


def parse_bootstrap(spec: str) -> str:
    """``kafka://host:port[,host:port]`` → the bootstrap list.

    >>> parse_bootstrap("kafka://10.0.0.5:9092,10.0.0.6:9092")
    '10.0.0.5:9092,10.0.0.6:9092'
    """
    prefix = "kafka://"
    if not spec.startswith(prefix) or not spec[len(prefix) :].strip(" ,"):
        raise KafkaSourceError(f"unsupported source {spec!r}: expected kafka://HOST:PORT[,HOST:PORT]")
    return spec[len(prefix) :]


def to_record(topic: str, partition: int, offset: int, ts: int, key: bytes | None, value: bytes | None) -> SourceRecord:
    """A Kafka message as the dataflow's record. A key that is not UTF-8 makes an envelope error
    (quarantined with the key's bytes in the reason); a record with no value carries ``b""``.

    >>> to_record("t", 0, 5, 1, b"\\xff", b"{}").envelope_error
    'the record key is not UTF-8 (hex ff)'
    """
    text: str | None = None
    problem: str | None = None
    if key is not None:
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            problem = f"the record key is not UTF-8 (hex {key.hex()})"
    return SourceRecord(topic, partition, offset, max(ts, 0), text, value or b"", problem)


def topic_partitions(conf: dict[str, Any], topics: list[str], timeout_s: float = 15.0) -> dict[str, int]:
    """Partition count of each topic; a clear error for unreachable brokers or missing topics."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(client_conf(conf))
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaSourceError(f"cannot reach the Kafka brokers {conf['bootstrap.servers']}: {exc}") from exc
    missing = [t for t in topics if t not in meta.topics or meta.topics[t].error is not None]
    if missing:
        raise KafkaSourceError(f"topics missing on {conf['bootstrap.servers']}: {', '.join(missing)}")
    return {t: len(meta.topics[t].partitions) for t in topics}


#: librdkafka settings that only consumers accept.
CONSUMER_ONLY = frozenset({"fetch.queue.backoff.ms"})


def client_conf(conf: dict[str, Any]) -> dict[str, Any]:
    """The settings for an admin client or a producer: without the consumer-only ones."""
    return {k: v for k, v in conf.items() if k not in CONSUMER_ONLY}


class _AlignedPartition(StatefulSourcePartition[list[SourceRecord], dict[str, Any]]):
    def __init__(self, source: KafkaSource, number: int, resume: object) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self._source = source
        self._topics = topics = source.topics
        self._number = number
        offsets = _resume_offsets(resume)
        self._consumer = Consumer({
            **source.conf,
            "group.id": source.group or "scout-dataflow",  # offsets used on resume live in Bytewax's recovery store
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        })  # fmt: skip
        self._next: dict[str, int] = {}
        self._ends: dict[str, int] = {}
        assignment = []
        ends = source.ends or {}
        for t in topics:
            start = offsets.get(t, source.starts.get((t, number), OFFSET_BEGINNING))
            assignment.append(TopicPartition(t, number, start))
            if start >= 0:
                self._next[t] = start
            if source.stop_at_end:
                low, high = self._consumer.get_watermark_offsets(TopicPartition(t, number), timeout=15)
                self._ends[t] = ends.get((t, number), high)
                self._next.setdefault(t, low)
        self._consumer.assign(assignment)
        self._merge = TimeAligned(topics)
        self._caught_up: dict[str, bool] = dict.fromkeys(topics, False)
        self._awake: datetime | None = None

    def _done(self, topic: str) -> bool:
        if self._source.stop_at_end:
            return self._next.get(topic, 0) >= self._ends[topic]
        return self._caught_up[topic]

    def _fetch(self) -> bool:
        """Take what the consumer has fetched (never waiting for more); whether there was anything."""
        from confluent_kafka import KafkaError, TopicPartition

        fetched: dict[str, int] = {}  # topic -> the highest offset this fetch delivered
        messages = self._consumer.consume(num_messages=self._source.batch_size, timeout=0)
        for msg in messages:
            err = msg.error()
            topic = str(msg.topic())
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    self._caught_up[topic] = True
                    continue
                if err.fatal() or not err.retriable():
                    raise KafkaSourceError(f"consuming {topic}/{self._number}: {err.str()}")
                log.warning("kafka consume error, retrying", topic=topic, error=err.str())
                continue
            offset = int(msg.offset() or 0)
            if self._source.stop_at_end and offset >= self._ends[topic]:
                continue  # produced after the run started: beyond this bounded run
            self._caught_up[topic] = False
            fetched[topic] = offset
            _, ts = msg.timestamp()
            key, value = msg.key(), msg.value()
            self._merge.add(
                topic,
                to_record(topic, self._number, offset, ts, key if isinstance(key, bytes) else None,
                          value if isinstance(value, bytes) else None)
            )  # fmt: skip
        if not self._source.stop_at_end:
            for topic, offset in fetched.items():  # caught up: the last fetch's high watermark is consumed
                _, high = self._consumer.get_watermark_offsets(TopicPartition(topic, self._number), cached=True)
                if high is not None and 0 <= high <= offset + 1:
                    self._caught_up[topic] = True
        return bool(messages)

    def next_batch(self) -> list[list[SourceRecord]]:
        if stop_requested():
            raise StopIteration()  # SIGTERM/SIGINT: end cleanly, offsets of what was handed on are snapshotted
        # Nothing fetched: the next call comes after IDLE_POLL_S (next_awake), never blocking the worker
        # here — a consume() that waits blocks every other partition of the worker and everything
        # downstream of them (a 100 ms wait per partition and call was most of the freshness floor).
        idle = not self._fetch()
        self._awake = datetime.now(UTC) + timedelta(seconds=IDLE_POLL_S) if idle else None
        out = self._merge.take(self._done)
        for rec in out:  # a take is in time order: the next offset follows the highest handed on
            if rec.offset >= self._next.get(rec.topic, 0):
                self._next[rec.topic] = rec.offset + 1
        if not out and self._source.stop_at_end and self._merge.empty() and all(self._done(t) for t in self._topics):
            raise StopIteration()
        if out:
            RECORDS_IN.labels(f"kafka/{self._number}").inc(len(out))
            if self._source.progress:
                self._source.progress(len(out))
            if self._source.part_progress:
                self._source.part_progress(self._number, len(out))
            return [out]
        return []

    def next_awake(self) -> datetime | None:
        return self._awake  # None (at once) while records keep coming; IDLE_POLL_S later when none came

    def snapshot(self) -> dict[str, Any]:
        mark_epoch()  # an epoch of this process ended (liveness, dataflows/health.py)
        if self._source.group and self._next:  # progress for lag dashboards only; never read back
            from confluent_kafka import KafkaException, TopicPartition

            try:
                marks = [TopicPartition(t, self._number, o) for t, o in self._next.items()]
                self._consumer.commit(offsets=marks, asynchronous=True)
            except KafkaException as exc:
                log.warning("could not commit progress to the consumer group", group=self._source.group, error=str(exc))
        return {"version": STATE_VERSION, "offsets": dict(self._next)}

    def close(self) -> None:
        self._consumer.close()


def _resume_offsets(state: object) -> dict[str, int]:
    if state is None:
        return {}
    if isinstance(state, dict) and state.get("version") == STATE_VERSION and isinstance(state.get("offsets"), dict):
        return {str(t): int(o) for t, o in state["offsets"].items()}
    raise KafkaSourceError(f"the recovery directory holds Kafka source state of another version ({state!r})")


class KafkaSource(FixedPartitionedSource[list[SourceRecord], dict[str, Any]]):
    """Reads the input topics; one Bytewax partition per Kafka partition number (see module doc).

    ``part_progress(number, records)``: progress per partition number (replay bars).
    ``stop_at_end``: end once every partition reached the end offsets captured when it started
    (a bounded run); otherwise tail forever. ``starts`` / ``ends``: per (topic, partition) start
    and end offsets (replay; ``ends`` implies ``stop_at_end``); without them and without resume
    state, each partition starts at its beginning.
    """

    def __init__(
        self,
        conf: dict[str, Any],
        topics: list[str],
        batch_size: int = 20_000,
        stop_at_end: bool = False,
        starts: dict[tuple[str, int], int] | None = None,
        progress: Progress | None = None,
        ends: dict[tuple[str, int], int] | None = None,
        group: str | None = None,
        part_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.group = group
        self.part_progress = part_progress
        self.conf = conf
        self.topics = topics
        self.batch_size = batch_size
        self.stop_at_end = stop_at_end or ends is not None
        self.starts = starts or {}
        self.ends = ends
        self.progress = progress

    def list_parts(self) -> list[str]:
        counts = topic_partitions(self.conf, self.topics)
        if len(set(counts.values())) > 1:
            raise KafkaSourceError(
                "input topics must have the same number of partitions (a device's streams must meet in one "
                f"partition number): {counts}"
            )
        return [f"p{n}" for n in range(max(counts.values()))]

    def build_part(self, step_id: str, for_part: str, resume_state: dict[str, Any] | None) -> _AlignedPartition:
        return _AlignedPartition(self, int(for_part[1:]), resume_state)


#: How long creating topics is retried while the brokers cannot be reached (a broker restarting).
ENSURE_TOPICS_RETRY_S = 60.0


def _unreachable(exc: BaseException) -> bool:
    """Whether a ``KafkaException`` says the brokers could not be reached (retrying may help)."""
    from confluent_kafka import KafkaError, KafkaException

    if not isinstance(exc, KafkaException) or not exc.args or not isinstance(exc.args[0], KafkaError):
        return False
    err = exc.args[0]
    return bool(err.retriable() or err.code() in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
                                                   KafkaError._ALL_BROKERS_DOWN))  # fmt: skip


def ensure_topics(
    conf: dict[str, Any], topics: list[str], partitions: int, config: dict[str, str] | None = None
) -> None:
    """Create the topics that do not exist yet (``partitions`` each, replication 1, ``config``); while the
    brokers cannot be reached, retried for up to :data:`ENSURE_TOPICS_RETRY_S`."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
    from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

    admin = AdminClient(client_conf(conf))

    def create() -> None:
        existing = admin.list_topics(timeout=15).topics
        new = [NewTopic(t, partitions, 1, config=config or {}) for t in topics if t not in existing]
        for future in admin.create_topics(new).values() if new else ():
            try:
                future.result(timeout=30)
            except KafkaException as exc:  # created meanwhile (by another worker, or an earlier attempt)
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise

    try:
        for attempt in Retrying(retry=retry_if_exception(_unreachable), stop=stop_after_delay(ENSURE_TOPICS_RETRY_S),
                                wait=wait_exponential(multiplier=0.2, max=5), reraise=True):  # fmt: skip
            with attempt:
                create()
    except KafkaException as exc:
        raise KafkaSourceError(f"cannot create topics {topics} on {conf['bootstrap.servers']}: {exc}") from exc


def produce_records(
    conf: dict[str, Any],
    records: Any,
    partitions: int,
    topics: list[str],
    progress: Progress | None = None,
    timeout_s: float = 60.0,
) -> int:
    """Create ``topics`` (``partitions`` each, ``retention.ms=-1`` so historical timestamps are kept) if
    missing, then produce ``records`` to their own topic and partition with their record timestamp.
    Idempotent producer; returns how many were acknowledged; any delivery error raises."""
    from confluent_kafka import Producer

    base = client_conf(conf)
    ensure_topics(conf, topics, partitions, {"retention.ms": "-1"})
    producer = Producer({**base, "enable.idempotence": True, "acks": "all", "linger.ms": 20})
    failures: list[str] = []
    acked = 0

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal acked
        if err is not None:
            failures.append(str(err))
        else:
            acked += 1

    sent = 0
    for rec in records:
        while True:
            try:
                producer.produce(rec.topic, rec.value, rec.key, partition=rec.partition % partitions,
                                 timestamp=rec.timestamp_ms, on_delivery=on_delivery)  # fmt: skip
                break
            except BufferError:
                producer.poll(0.1)  # the local queue is full: let deliveries drain
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
            if progress:
                progress(10_000)
    deadline = time.monotonic() + timeout_s
    while producer.flush(1.0) and time.monotonic() < deadline:
        pass
    if progress:
        progress(sent % 10_000)
    if failures or acked != sent:
        raise KafkaSourceError(f"{sent - acked} of {sent} records not acknowledged: {failures[:3]}")
    return acked
