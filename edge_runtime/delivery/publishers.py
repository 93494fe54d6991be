"""Publishers: send stored events and say which ones the broker acknowledged.

``send`` returns the ``seq`` of every acknowledged event; an event missing
from that list stays in the outbox and is retried with backoff. Kafka uses
the idempotent producer (``acks=all``, no duplicates from its own retries);
a crash between the broker's ack and the outbox delete re-sends a few
events with the same ``event_id`` (at-least-once, deduplicated downstream).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from edge_runtime.config import PublisherConfig
from edge_runtime.delivery.outbox import StoredItem
from scout_contract.records import SourceRecord, encode_record_line

log = structlog.get_logger(__name__)


class PublishError(RuntimeError):
    """Some or all events of a batch were not acknowledged."""


class Publisher(Protocol):
    def send(self, items: Sequence[StoredItem]) -> list[int]: ...

    def close(self) -> None: ...


class KafkaPublisher:
    """confluent-kafka producer; SASL/TLS from :class:`~edge_runtime.config.KafkaConfig`."""

    def __init__(self, config: PublisherConfig) -> None:
        from confluent_kafka import Producer

        k = config.kafka
        settings: dict[str, Any] = {
            "bootstrap.servers": k.bootstrap_servers,
            "security.protocol": k.security_protocol,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
            # every message gets a delivery report (success or timeout) before flush() gives up
            "message.timeout.ms": int(config.ack_timeout_s * 1000),
            "socket.connection.setup.timeout.ms": 5000,
            "reconnect.backoff.max.ms": 5000,
        }
        if k.sasl_mechanism:
            settings["sasl.mechanism"] = k.sasl_mechanism
            settings["sasl.username"] = k.sasl_username or ""
            settings["sasl.password"] = k.sasl_password.get_secret_value() if k.sasl_password else ""
        if k.ssl_ca_location:
            settings["ssl.ca.location"] = str(k.ssl_ca_location)
        settings.update(k.extra)
        self._flush_timeout = config.ack_timeout_s + 5
        self._producer = Producer(settings, logger=None)

    def send(self, items: Sequence[StoredItem]) -> list[int]:
        acked: list[int] = []
        errors: list[str] = []

        def report(seq: int) -> Any:
            def on_delivery(err: Any, _msg: Any) -> None:
                if err is None:
                    acked.append(seq)
                else:
                    errors.append(str(err))

            return on_delivery

        for item in items:
            while True:
                try:
                    self._producer.produce(item.topic, item.payload, item.key, on_delivery=report(item.seq))
                    break
                except BufferError:
                    self._producer.poll(0.1)
            self._producer.poll(0)
        self._producer.flush(self._flush_timeout)
        if errors:
            log.warning("kafka delivery failed", failed=len(errors), first_error=errors[0])
        return acked

    def close(self) -> None:
        self._producer.flush(5)


class EventHubsPublisher:
    """Azure Event Hubs over AMQP (azure-eventhub); one producer per event hub (topic)."""

    def __init__(self, config: PublisherConfig) -> None:
        secret = config.eventhubs.connection_string
        if secret is None:
            raise ValueError(
                "Event Hubs needs a connection string (SCOUT_EDGE_PUBLISHER__EVENTHUBS__CONNECTION_STRING)"
            )
        self._conn = secret.get_secret_value()
        self._clients: dict[str, Any] = {}

    def _client(self, topic: str) -> Any:
        from azure.eventhub import EventHubProducerClient

        if topic not in self._clients:
            self._clients[topic] = EventHubProducerClient.from_connection_string(self._conn, eventhub_name=topic)
        return self._clients[topic]

    def send(self, items: Sequence[StoredItem]) -> list[int]:
        from azure.eventhub import EventData
        from azure.eventhub.exceptions import EventHubError

        groups: dict[tuple[str, str | None], list[StoredItem]] = {}
        for item in items:
            groups.setdefault((item.topic, item.key), []).append(item)
        acked: list[int] = []
        for (topic, key), group in groups.items():
            client = self._client(topic)
            try:
                batch = client.create_batch(partition_key=key)
                sent: list[int] = []
                for item in group:
                    event = EventData(item.payload)
                    event.properties = {"event_id": item.event_id}
                    try:
                        batch.add(event)
                    except ValueError:  # batch full: send it and start another
                        client.send_batch(batch)
                        acked += sent
                        sent = []
                        batch = client.create_batch(partition_key=key)
                        batch.add(event)
                    sent.append(item.seq)
                client.send_batch(batch)
                acked += sent
            except EventHubError as exc:
                log.warning("event hubs send failed", topic=topic, error=str(exc))
        return acked

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


class FilePublisher:
    """Appends records in the topic-file form (SPEC §2) and fsyncs: for the demo, tests and offline stores."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._offset = sum(1 for _ in path.open("rb")) if path.exists() else 0
        self._fh = path.open("ab")

    def send(self, items: Sequence[StoredItem]) -> list[int]:
        now = int(time.time() * 1000)
        for item in items:
            record = SourceRecord(item.topic, 0, self._offset, now, item.key, item.payload)
            self._fh.write(encode_record_line(record) + b"\n")
            self._offset += 1
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return [i.seq for i in items]

    def close(self) -> None:
        self._fh.close()


def make_publisher(config: PublisherConfig) -> Publisher:
    if config.kind == "kafka":
        return KafkaPublisher(config)
    if config.kind == "eventhubs":
        return EventHubsPublisher(config)
    return FilePublisher(config.file)
