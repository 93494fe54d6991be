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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from scout_contract.topics import ANNOTATED, INPUT_TOPICS


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

    def topic_streams(self) -> dict[str, str]:
        return {
            self.stt: "stt",
            self.visual: "visual",
            self.heartbeat: "heartbeat",
            self.feedback: "feedback",
        }


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
    #: Rows the sink may hold before writing (it always writes at each epoch end).
    sink_flush_rows: int = Field(default=200_000, ge=1)
    #: Publish eh-pi-annotated-events to this topic file (the Kafka sink comes later).
    annotated_out: Path | None = None
    metrics_port: int | None = None
    recovery_dir: Path | None = None
    #: Close every open session at the end of input. Unset: close unless ``recovery_dir`` is
    #: set (a resumable run keeps them for the next run; docs/architecture.md "End of input").
    close_sessions_at_end: bool | None = None
    snapshot_interval_s: float = Field(default=10.0, gt=0)
    log_level: str = "INFO"
    topics: Topics = Topics()

    @field_validator("day_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Manila)") from exc
        return value

    @model_validator(mode="after")
    def _password_from_file(self) -> Settings:
        if self.clickhouse_password is None and self.clickhouse_password_file is not None:
            secret = self.clickhouse_password_file.read_text("utf-8").strip()
            self.clickhouse_password = SecretStr(secret)
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
        )


def load_settings(**flags: Any) -> Settings:
    """Build settings; flags given as ``None`` fall through to env/file/defaults."""
    return Settings(**{k: v for k, v in flags.items() if v is not None})
