"""Brand reading: PP-OCR (rapidocr-onnxruntime) on real photos → ``brand:<id>`` detections.

The label is printed onto scikit-image's coffee photo with OpenCV (no photo
with a store brand ships in a package); the OCR models and the photo are real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_runtime.capture.video import VideoSource
from edge_runtime.events import EventClock, EventFactory
from edge_runtime.vision.brands import BrandCatalog, BrandReader, load_catalog
from edge_runtime.vision.detector import FaceDetector, Frame
from edge_runtime.vision.watcher import Watcher
from edge_runtime.vision.zones import Zones
from tests.edge_fixtures import VIDEO_BRANDS, VIDEO_FPS, VIDEO_SCRIPT, fit

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def reader() -> BrandReader:
    return BrandReader(BrandCatalog(load_catalog()))


def test_catalog_ids_are_the_brands_the_cloud_knows() -> None:
    lexicon = yaml.safe_load((ROOT / "dataflows/resources/lexicon.yaml").read_text("utf-8"))
    assert set(load_catalog()) == set(lexicon["brands"])


def test_bad_catalog_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "brands.toml"
    bad.write_text('brands = "nescafe"\n')
    with pytest.raises(ValueError, match="expected a"):
        load_catalog(bad)


def test_printed_label_is_read_as_a_brand_with_its_box(reader: BrandReader, photos: dict[str, Frame]) -> None:
    frame = photos["nescafe-label"]
    sightings = reader.read(frame)
    assert [s.brand for s in sightings] == ["nescafe"]
    x, y, w, h = sightings[0].bbox
    height, width = frame.shape[:2]
    # the label was drawn in (20, 20)-(330, 90) px
    assert 10 / width < x + w / 2 < 340 / width and 10 / height < y + h / 2 < 100 / height
    assert 0.5 < sightings[0].confidence <= 1


@pytest.mark.parametrize("photo", ["t1.jpg", "astronaut"])
def test_photos_without_brands_give_none(reader: BrandReader, photos: dict[str, Frame], photo: str) -> None:
    assert reader.read(fit(photos[photo])) == []


def test_watcher_adds_brand_detections(photo_video: Path, face_models: Path, reader: BrandReader) -> None:
    watcher = Watcher(
        FaceDetector(face_models / "centerface_640x448.int8.onnx"),
        Zones([("shelf", [(0, 0), (1, 0), (1, 0.5), (0, 0.5)])]),
        EventFactory("SCOUTPI-0003", "STORE-0001"),
        EventClock.parse("2026-11-01T09:00:00+08:00"),
        model_version="centerface-test",
        identical_threshold=1.0,
        brand_reader=reader,
        brand_every=1,
    )
    events = list(watcher.watch(VideoSource(photo_video, analyse_fps=VIDEO_FPS)))
    brands = [{d.label.removeprefix("brand:") for d in e.detections if d.label.startswith("brand:")} for e in events]
    assert brands == VIDEO_BRANDS
    assert [sum(d.label == "face" for d in e.detections) for e in events] == [f for _, _, f in VIDEO_SCRIPT]
    label = next(d for e in events for d in e.detections if d.label == "brand:nescafe")
    assert label.zone == "shelf"  # the label sits in the top half of the frame
    assert len(watcher.stats.ocr_ms) == len(events)
