"""Configuration: flags > environment (``SCOUT_…``) > config file > defaults.

The config file is TOML (``scout.toml`` in the working directory, or the path
in ``SCOUT_CONFIG``). Secrets (ClickHouse password) come only from the
environment or a file named by ``SCOUT_CLICKHOUSE_PASSWORD_FILE``; they are
``SecretStr`` so they never appear in logs or reprs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from scout_contract.streams import INPUT_TOPICS, NAMES
from scout_contract.topics import ANNOTATED, DEAD_LETTER


@dataclass(frozen=True)
class WindowConfig:
    """Event-time parameters of the silver join and the gold windows."""

    session_gap_ms: int = 30_000
    out_of_orderness_ms: int = 10_000
    #: How long (event time, per store) gold windows stay in memory for updates.
    gold_retention_ms: int = 48 * 3_600_000
    #: Timezone whose midnight starts a gold *day* (hours are the same everywhere here).
    day_timezone: str = "Asia/Manila"
    #: Device-hour status: HEALTHY at or above this share of expected heartbeats.
    healthy_ratio: float = 0.8
    hot_temp_c: float = 80.0
    low_disk_mb: float = 500.0
    backlog_depth: int = 1_000
    #: OFFLINE device-hour rows written after a device's last heartbeat hour, at most.
    offline_rows_h: int = 48
    #: A device clock further than this from its store's median device clock moves no store window
    #: (dataflows/gold/store_clock.py).
    clock_skew_ms: int = 24 * 3_600_000
    #: A device clock further than this behind its store's clocks votes no more (dataflows/gold/store_clock.py).
    device_retire_ms: int = 12 * 3_600_000


@dataclass(frozen=True)
class ConnectOptions:
    """How to reach a ClickHouse server (ignored for chDB); the ``clickhouse_*`` settings."""

    connect_timeout_s: float = 10.0
    send_receive_timeout_s: float = 300.0
    #: Verify the server's certificate (``https`` DSNs); on by default.
    verify_tls: bool = True
    #: CA bundle for a server whose certificate is not signed by a public CA.
    ca_cert: Path | None = None
    #: Allow a password over plain ``http`` to a host that is not loopback (off: refused).
    allow_plaintext_password: bool = False


class ConfigFileError(ValueError):
    """The configuration file named by ``SCOUT_CONFIG`` is missing."""


class Topics(BaseModel):
    stt: str = INPUT_TOPICS["stt"]
    visual: str = INPUT_TOPICS["visual"]
    heartbeat: str = INPUT_TOPICS["heartbeat"]
    feedback: str = INPUT_TOPICS["feedback"]
    annotated: str = ANNOTATED
    dead_letter: str = DEAD_LETTER

    def of_streams(self) -> dict[str, str]:
        """Stream name -> configured topic."""
        return {name: str(getattr(self, name)) for name in NAMES}

    def input_topics(self) -> list[str]:
        return list(self.of_streams().values())

    def topic_streams(self) -> dict[str, str]:
        return {topic: name for name, topic in self.of_streams().items()}


#: What the Event Hubs documentation prescribes for librdkafka clients of its Kafka endpoint
#: ("Recommended configurations for Apache Kafka clients"): idle connections are closed by
#: Azure after 240 s, requests need at least 60 s, sessions at least 30 s.
EVENTHUBS_LIBRDKAFKA: dict[str, str | int | bool] = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "PLAIN",
    "sasl.username": "$ConnectionString",
    "socket.keepalive.enable": True,
    "metadata.max.age.ms": 180_000,
    "connections.max.idle.ms": 180_000,
    "session.timeout.ms": 30_000,
    "max.poll.interval.ms": 300_000,
    "request.timeout.ms": 60_000,
}


class AlertSettings(BaseModel):
    """Thresholds of the Grafana alert rules and where they notify (``[alerts]``; grafana/alerts.py)."""

    #: share of records quarantined over 15 minutes: a warning above the first, critical above the second
    quarantine_warning: float = Field(default=0.01, gt=0, lt=1)
    quarantine_critical: float = Field(default=0.05, gt=0, lt=1)
    #: heartbeats received ÷ expected per store over the last complete hours, below which it warns
    completeness_min: float = Field(default=0.98, gt=0, le=1)
    #: a rule's pass rate (its quality score) below which it warns
    pass_rate_min: float = Field(default=0.95, gt=0, le=1)
    #: hours without a heartbeat after which a device is offline
    offline_after_h: float = Field(default=2.0, gt=0)
    #: contact points provisioned beside the rules; their addresses and URLs come from Grafana's environment
    channels: list[Literal["email", "slack", "teams"]] = ["email", "slack", "teams"]


class KafkaSettings(BaseModel):
    """One broker configuration for Kafka and the Event Hubs Kafka endpoint (``SCOUT_KAFKA__…``).

    Secrets (``sasl_password``, ``ssl_key_password``) come from the environment or a file
    (``*_file``), never from the config file; they are ``SecretStr`` and never logged.
    """

    model_config = {"extra": "forbid"}

    #: ``kafka`` (plain settings below) or ``eventhubs`` (the Event Hubs Kafka endpoint:
    #: SASL_SSL/PLAIN with user ``$ConnectionString`` and the connection string as password).
    profile: Literal["kafka", "eventhubs"] = "kafka"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_ca_location: Path | None = None
    #: TLS client certificate (mutual TLS).
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None
    #: librdkafka waits this long before fetching again when its queue is full; its default (1000 ms)
    #: throttles a fast consumer (SPEC §6: 168k → 426k events/s at 10 ms).
    fetch_queue_backoff_ms: int = Field(default=10, ge=0)
    #: Partitions per topic created by ``scout simulate --kafka``.
    partitions: int = Field(default=2, ge=1, le=1024)

    @model_validator(mode="after")
    def _secrets_from_files(self) -> KafkaSettings:
        if self.sasl_password is None and self.sasl_password_file is not None:
            self.sasl_password = SecretStr(self.sasl_password_file.read_text("utf-8").strip())
        return self

    def librdkafka(self, bootstrap: str) -> dict[str, str | int | bool]:
        """The exact librdkafka settings for these brokers (secrets included: never log the result).

        >>> KafkaSettings().librdkafka("127.0.0.1:9092")
        {'bootstrap.servers': '127.0.0.1:9092', 'fetch.queue.backoff.ms': 10, 'security.protocol': 'PLAINTEXT'}
        """
        conf: dict[str, str | int | bool] = {
            "bootstrap.servers": bootstrap,
            "fetch.queue.backoff.ms": self.fetch_queue_backoff_ms,
        }
        password = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.profile == "eventhubs":
            if not password:
                raise ValueError("the eventhubs profile needs the namespace connection string as kafka.sasl_password")
            conf.update(EVENTHUBS_LIBRDKAFKA)
            conf["sasl.password"] = password
        else:
            conf["security.protocol"] = self.security_protocol
            if self.security_protocol.startswith("SASL_"):
                if not (self.sasl_mechanism and self.sasl_username and password):
                    raise ValueError(
                        f"{self.security_protocol} needs kafka.sasl_mechanism, sasl_username and a password"
                    )
                conf.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.sasl_username,
                             "sasl.password": password})  # fmt: skip
        if self.ssl_ca_location is not None:
            conf["ssl.ca.location"] = str(self.ssl_ca_location)
        if self.ssl_certificate_location is not None:
            conf["ssl.certificate.location"] = str(self.ssl_certificate_location)
        if self.ssl_key_location is not None:
            conf["ssl.key.location"] = str(self.ssl_key_location)
        if self.ssl_key_password is not None:
            conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        return conf


class Settings(BaseSettings):
    """Everything ``scout`` reads from the environment or the config file."""

    model_config = SettingsConfigDict(
        env_prefix="SCOUT_", env_nested_delimiter="__", toml_file="scout.toml", extra="forbid"
    )

    sink: str = "chdb://./.scout/ch"
    clickhouse_user: str | None = None
    clickhouse_password: SecretStr | None = None
    clickhouse_password_file: Path | None = None
    #: Seconds to wait for a ClickHouse server to accept a connection / to answer.
    clickhouse_connect_timeout_s: float = Field(default=10.0, gt=0)
    clickhouse_send_receive_timeout_s: float = Field(default=300.0, gt=0)
    #: Verify the server certificate of an https sink (and trust this CA bundle if set).
    clickhouse_verify_tls: bool = True
    clickhouse_ca_cert: Path | None = None
    #: Permit a password over plain http to a host that is not loopback (refused by default).
    clickhouse_allow_plaintext_password: bool = False
    rules_file: Path | None = None
    lexicon_file: Path | None = None
    batch_size: int = Field(default=20_000, ge=1, le=1_000_000)
    #: Longest topic-file line read as a record; a longer one is quarantined with its first bytes.
    max_record_bytes: int = Field(default=16 << 20, ge=1024, le=1 << 30)
    session_gap_s: float = Field(default=30.0, gt=0)
    out_of_orderness_s: float = Field(default=10.0, ge=0)
    gold_retention_h: float = Field(default=48.0, gt=0)
    day_timezone: str = "Asia/Manila"
    healthy_ratio: float = Field(default=0.8, gt=0, le=1)
    #: A silent device gets OFFLINE rows for at most this many hours after its last heartbeat hour.
    offline_rows_h: int = Field(default=48, ge=0, le=24 * 366)
    #: A device clock further than this from its store's median device clock moves no store window.
    clock_skew_h: float = Field(default=24.0, gt=0)
    #: A device clock further than this behind its store's clocks votes no more (a device that went silent:
    #: its OFFLINE rows still come); below ``clock_skew_h``, so a store's live devices can retire its dead ones.
    device_retire_h: float = Field(default=12.0, gt=0)
    #: Rows the sink may hold before handing them to the writer (it always does at each epoch end);
    #: with ``sink_writer = "process"`` at most two such batches wait for the writer besides.
    sink_flush_rows: int = Field(default=50_000, ge=1)
    #: Seconds the sink may hold a row before handing it to the writer, whatever the epoch: how fresh
    #: bronze, silver and gold are, independent of ``snapshot_interval_s`` (docs/architecture.md, "Freshness").
    flush_interval_s: float = Field(default=0.5, gt=0)
    #: Who inserts the rows of ``scout run``: ``process`` — a writer process beside the dataflow
    #: (the second core: serialisation and chDB's insert overlap the dataflow's work), or
    #: ``inline`` — the dataflow's own process (docs/architecture.md, "Writing to ClickHouse").
    sink_writer: Literal["process", "inline"] = "process"
    #: Which stages run: ``rows`` — a Python object per event (the default), or ``columnar`` — Arrow
    #: batches through the compiled core (issue #21; docs/architecture.md, "The columnar engine").
    engine: Literal["rows", "columnar"] = "rows"
    #: Columnar: the per-key state lives in this many groups of keys (``crc32(key) % key_groups``, spread
    #: over the workers; each group's share of a batch is one item, so more groups cost more per batch:
    #: bench/README.md); fixed for a recovery store (a resume with another number is refused).
    key_groups: int = Field(default=8, ge=1, le=4096)
    #: Publish eh-pi-annotated-events to this topic file (the Kafka sink comes later).
    annotated_out: Path | None = None
    metrics_port: int | None = None
    recovery_dir: Path | None = None
    #: Kafka: end once the end offsets captured at start are reached (a bounded run) instead of tailing.
    stop_at_end: bool = False
    #: Kafka consumer group the source commits its progress to (for lag dashboards; positions used on
    #: resume are Bytewax's, not the group's). Unset: nothing is committed.
    kafka_group: str | None = None
    #: Reading Kafka: produce dead letters and annotated events to their topics on the same brokers.
    kafka_outputs: bool = True
    #: Tailing Kafka: close a device's open sessions after it sent nothing for this long (processing time).
    idle_close_s: float = Field(default=300.0, gt=0)
    #: Close every open session at the end of input. Unset: close unless ``recovery_dir`` is
    #: set (a resumable run keeps them for the next run; docs/architecture.md "End of input").
    close_sessions_at_end: bool | None = None
    snapshot_interval_s: float = Field(default=10.0, gt=0)
    #: ``/livez`` fails once no epoch ended for this many snapshot intervals (dataflows/health.py) …
    liveness_epochs: int = Field(default=3, ge=2)
    #: … or, before the first epoch, for this long after the start (migrations, brokers, a resume).
    liveness_startup_s: float = Field(default=120.0, gt=0)
    #: Partitions of a new recovery store: Bytewax fixes them when it creates the store; at least
    #: the largest number of workers the dataflow will run with.
    recovery_partitions: int = Field(default=8, ge=1, le=1024)
    #: Address the Prometheus metrics listen on (``0.0.0.0`` in a pod).
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    topics: Topics = Topics()
    kafka: KafkaSettings = KafkaSettings()
    alerts: AlertSettings = AlertSettings()
    #: ``--source eventhubs://NAMESPACE`` (native AMQP): the namespace connection string (env or file only).
    eventhubs_connection_string: SecretStr | None = None
    eventhubs_connection_string_file: Path | None = None
    eventhubs_consumer_group: str = "$Default"

    @field_validator("day_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Manila)") from exc
        return value

    @model_validator(mode="after")
    def _retire_below_skew(self) -> Settings:
        if self.device_retire_h >= self.clock_skew_h:
            raise ValueError(
                f"device_retire_h ({self.device_retire_h:g}) must be below clock_skew_h ({self.clock_skew_h:g}): "
                "a store's clock follows its live devices only up to clock_skew_h past its dead ones"
            )
        return self

    @model_validator(mode="after")
    def _password_from_file(self) -> Settings:
        if self.clickhouse_password is None and self.clickhouse_password_file is not None:
            secret = self.clickhouse_password_file.read_text("utf-8").strip()
            self.clickhouse_password = SecretStr(secret)
        if self.eventhubs_connection_string is None and self.eventhubs_connection_string_file is not None:
            conn = self.eventhubs_connection_string_file.read_text("utf-8").strip()
            self.eventhubs_connection_string = SecretStr(conn)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        named = os.environ.get("SCOUT_CONFIG")
        if named is not None and not Path(named).is_file():
            raise ConfigFileError(f"SCOUT_CONFIG names {named!r}, which is not a readable file")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=named or "scout.toml")
        return (init_settings, env_settings, toml, file_secret_settings)

    @property
    def closes_sessions_at_end(self) -> bool:
        if self.close_sessions_at_end is not None:
            return self.close_sessions_at_end
        return self.recovery_dir is None

    def connect_options(self) -> ConnectOptions:
        return ConnectOptions(
            connect_timeout_s=self.clickhouse_connect_timeout_s,
            send_receive_timeout_s=self.clickhouse_send_receive_timeout_s,
            verify_tls=self.clickhouse_verify_tls,
            ca_cert=self.clickhouse_ca_cert,
            allow_plaintext_password=self.clickhouse_allow_plaintext_password,
        )

    def windows(self) -> WindowConfig:
        return WindowConfig(
            session_gap_ms=int(self.session_gap_s * 1000),
            out_of_orderness_ms=int(self.out_of_orderness_s * 1000),
            gold_retention_ms=int(self.gold_retention_h * 3_600_000),
            day_timezone=self.day_timezone,
            healthy_ratio=self.healthy_ratio,
            offline_rows_h=self.offline_rows_h,
            clock_skew_ms=int(self.clock_skew_h * 3_600_000),
            device_retire_ms=int(self.device_retire_h * 3_600_000),
        )


def load_settings(**flags: Any) -> Settings:
    """Build settings; flags given as ``None`` fall through to env/file/defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})
