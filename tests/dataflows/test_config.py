from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dataflows.config import load_settings


def test_precedence_is_flags_then_env_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "scout.toml"
    cfg.write_text('sink = "chdb:///from/file"\nbatch_size = 7\nsession_gap_s = 12.5\n[topics]\nstt = "my-stt"\n')
    monkeypatch.setenv("SCOUT_CONFIG", str(cfg))
    s = load_settings()
    assert (s.sink, s.batch_size, s.session_gap_s, s.topics.stt) == ("chdb:///from/file", 7, 12.5, "my-stt")
    monkeypatch.setenv("SCOUT_BATCH_SIZE", "9")
    assert load_settings().batch_size == 9
    assert load_settings(batch_size=11).batch_size == 11
    assert load_settings(batch_size=None).batch_size == 9
    assert load_settings().windows().session_gap_ms == 12_500


def test_password_comes_from_a_file_and_is_never_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SCOUT_CLICKHOUSE_PASSWORD_FILE", str(secret))
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "empty.toml"))
    s = load_settings()
    assert s.clickhouse_password is not None and s.clickhouse_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "empty.toml"))
    with pytest.raises(ValueError, match="batch_size"):
        load_settings(batch_size=0)
    with pytest.raises(ValueError, match="unknown_option"):
        load_settings(unknown_option=1)


def test_the_example_config_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / "scout.example.toml"
    monkeypatch.setenv("SCOUT_CONFIG", str(example))
    s = load_settings()
    assert s.sink == "chdb://./.scout/ch" and s.topics.annotated == "eh-pi-annotated-events"
    assert s.windows().out_of_orderness_ms == 10_000


def test_broker_profiles_produce_exactly_the_documented_librdkafka_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataflows.config import KafkaSettings

    conn = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s3cret"
    hubs = KafkaSettings(profile="eventhubs", sasl_password=conn).librdkafka("ns.servicebus.windows.net:9093")
    assert hubs == {
        "bootstrap.servers": "ns.servicebus.windows.net:9093", "fetch.queue.backoff.ms": 10,
        "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.username": "$ConnectionString",
        "sasl.password": conn, "socket.keepalive.enable": True, "metadata.max.age.ms": 180_000,
        "connections.max.idle.ms": 180_000, "session.timeout.ms": 30_000, "max.poll.interval.ms": 300_000,
        "request.timeout.ms": 60_000,
    }  # fmt: skip
    secret = tmp_path / "pw"
    secret.write_text("scram-pw\n")
    scram = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="scout",
                          sasl_password_file=secret, ssl_ca_location=Path("/etc/ca.pem"))  # fmt: skip
    assert scram.librdkafka("b:9093") == {
        "bootstrap.servers": "b:9093", "fetch.queue.backoff.ms": 10, "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "scout", "sasl.password": "scram-pw",
        "ssl.ca.location": "/etc/ca.pem",
    }  # fmt: skip
    assert "scram-pw" not in repr(scram)
    with pytest.raises(ValueError, match="needs"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT").librdkafka("b:9092")
    with pytest.raises(ValueError, match="connection string"):
        KafkaSettings(profile="eventhubs").librdkafka("b:9093")
    monkeypatch.setenv("SCOUT_KAFKA__SASL_PASSWORD", "from-env")
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("SCOUT_CONFIG", str(tmp_path / "empty.toml"))
    s = load_settings()
    assert s.kafka.sasl_password is not None and s.kafka.sasl_password.get_secret_value() == "from-env"


def test_a_device_must_retire_before_its_clock_would_count_as_skewed() -> None:
    """device_retire_h ≥ clock_skew_h would let a store's dead majority hold its clock for good."""
    with pytest.raises(ValidationError, match="device_retire_h"):
        load_settings(device_retire_h=24.0, clock_skew_h=24.0)
    assert load_settings(device_retire_h=6.0, clock_skew_h=8.0).windows().device_retire_ms == 6 * 3_600_000
