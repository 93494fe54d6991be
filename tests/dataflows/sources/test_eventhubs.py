"""The native Event Hubs adapter, offline: no Event Hubs emulator can be obtained here, so these
tests check the wiring against the real azure-eventhub objects — nothing is received from a service."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.eventhub import EventData
from azure.eventhub._constants import PROP_PARTITION_KEY, PROP_SEQ_NUMBER, PROP_TIMESTAMP

from dataflows.config import load_settings
from dataflows.runner import SourceError, build_source
from dataflows.sources.eventhubs import EventHubsSource, consumer, event_record, start_position

CONN = "Endpoint=sb://scout-test.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0"


def _received(body: bytes, seq: int, enqueued_ms: int, key: bytes | None) -> EventData:
    """An EventData as the client hands a received one over (annotations set by the service)."""
    event = EventData(body)
    annotations = event._raw_amqp_message.annotations
    assert annotations is not None
    annotations[PROP_SEQ_NUMBER] = seq
    annotations[PROP_TIMESTAMP] = enqueued_ms
    if key is not None:
        annotations[PROP_PARTITION_KEY] = key
    return event


def test_a_received_event_becomes_the_record_the_dataflow_reads() -> None:
    rec = event_record("eh-pi-stt-raw", 3, _received(b'{"schema": "scout.stt/1"}', 41, 1_747_641_600_250, b"SCOUTPI-1"))
    assert (rec.topic, rec.partition, rec.offset, rec.timestamp_ms, rec.key) == (
        "eh-pi-stt-raw", 3, 41, 1_747_641_600_250, "SCOUTPI-1",
    )  # fmt: skip
    assert rec.value == b'{"schema": "scout.stt/1"}' and rec.envelope_error is None
    bad = event_record("eh-pi-stt-raw", 0, _received(b"{}", 1, 0, b"\xff"))
    assert bad.envelope_error == "the partition key is not UTF-8 (hex ff)"


def test_positions_resume_after_what_was_handed_on() -> None:
    assert start_position({"eh-pi-visual-stream": 900}, "eh-pi-visual-stream") == (900, False)
    assert start_position({}, "eh-pi-visual-stream") == ("-1", True)


def test_the_client_is_built_for_the_hub_and_group_without_connecting() -> None:
    client = consumer(CONN, "eh-pi-visual-stream", "scout")
    try:
        assert client.eventhub_name == "eh-pi-visual-stream"
        assert client._consumer_group == "scout"
        assert client._address.hostname == "scout-test.servicebus.windows.net"
    finally:
        client.close()


def test_an_eventhubs_source_takes_its_secret_from_the_environment_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "empty.toml"))
    with pytest.raises(SourceError, match="connection string"):
        build_source(load_settings(), ["eventhubs://scout-test"])
    monkeypatch.setenv("SCOUT_EVENTHUBS_CONNECTION_STRING", CONN)
    settings = load_settings()
    source = build_source(settings, ["eventhubs://scout-test"])
    assert isinstance(source, EventHubsSource)
    assert source.hubs == settings.topics.input_topics() and source.consumer_group == "$Default"
    assert "SharedAccessKey" not in repr(settings)
