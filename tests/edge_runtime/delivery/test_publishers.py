"""Publishers that need no broker to check: the topic file, and Event Hubs' offline wiring.

Event Hubs itself is not exercised (no emulator can be obtained here): this
only proves the client is built from the secret connection string, per topic,
without a network call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from edge_runtime.config import EventHubsConfig, PublisherConfig
from edge_runtime.delivery.outbox import StoredItem
from edge_runtime.delivery.publishers import EventHubsPublisher, FilePublisher, make_publisher
from scout_contract.records import decode_record_line

CONN = "Endpoint=sb://scout-test.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=c2VjcmV0"


def stored(seq: int) -> StoredItem:
    return StoredItem(seq, "eh-pi-stt-raw", "SCOUTPI-1", f"e{seq}", b'{"x": 1}', 0, 0)


def test_file_publisher_appends_records_with_running_offsets(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    first = FilePublisher(path)
    assert first.send([stored(1), stored(2)]) == [1, 2]
    first.close()
    second = FilePublisher(path)  # a restart continues the offsets
    second.send([stored(3)])
    second.close()
    records = [decode_record_line(line) for line in path.read_bytes().splitlines()]
    assert [(r.offset, r.key, r.value) for r in records] == [(i, "SCOUTPI-1", b'{"x": 1}') for i in range(3)]


def test_event_hubs_client_is_built_offline_per_topic() -> None:
    config = PublisherConfig(kind="eventhubs", eventhubs=EventHubsConfig(connection_string=SecretStr(CONN)))
    publisher = make_publisher(config)
    assert isinstance(publisher, EventHubsPublisher)
    client = publisher._client("eh-pi-stt-raw")
    assert client.eventhub_name == "eh-pi-stt-raw"
    assert publisher._client("eh-pi-stt-raw") is client
    assert "c2VjcmV0" not in repr(config)
    publisher.close()


def test_event_hubs_without_connection_string_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="connection string"):
        make_publisher(PublisherConfig(kind="eventhubs"))
