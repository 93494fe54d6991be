"""A video made of real photos → int8 detector → visual events with the right face counts and zones."""

from __future__ import annotations

from pathlib import Path

from edge_runtime.capture.video import VideoSource
from edge_runtime.events import EventClock, EventFactory
from edge_runtime.vision.detector import FaceDetector
from edge_runtime.vision.watcher import Watcher
from edge_runtime.vision.zones import Zones
from scout_contract.events import decode_event, encode_event
from tests.edge_fixtures import VIDEO_FPS, VIDEO_SCRIPT


def watcher(face_models: Path, zones: Zones) -> Watcher:
    return Watcher(
        FaceDetector(face_models / "centerface_640x448.int8.onnx"),
        zones,
        EventFactory("SCOUTPI-0002", "STORE-0001"),
        EventClock.parse("2026-11-01T09:00:00+08:00"),
        model_version="centerface-test",
        identical_threshold=1.0,
    )


def test_video_of_photos_gives_one_event_per_scene_with_the_right_faces(photo_video: Path, face_models: Path) -> None:
    # left half of the frame is the counter, right half the shelf
    zones = Zones([("counter", [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]), ("shelf", [(0.5, 0), (1, 0), (1, 1), (0.5, 1)])])
    w = watcher(face_models, zones)
    events = list(w.watch(VideoSource(photo_video, analyse_fps=VIDEO_FPS)))
    # identical frames (each photo is held still) are skipped: one event per scene
    assert [len(e.detections) for e in events] == [faces for _, _, faces in VIDEO_SCRIPT]
    total_frames = sum(n for _, n, _ in VIDEO_SCRIPT)
    assert w.stats.frames == total_frames
    assert w.stats.skipped_identical == total_frames - len(VIDEO_SCRIPT)
    first_frame = 0
    for event, (_, frames, _) in zip(events, VIDEO_SCRIPT, strict=True):
        assert event.frame_id == first_frame
        assert (event.width, event.height) == (1280, 720)
        first_frame += frames
        assert decode_event(encode_event(event)) == event
        for d in event.detections:
            assert d.label == "face" and len(d.bbox) == 4 and all(0 <= v <= 1 for v in d.bbox)
            assert d.zone == ("counter" if d.bbox[0] + d.bbox[2] / 2 < 0.5 else "shelf")
    assert {d.zone for d in events[0].detections} == {"counter", "shelf"}  # t1.jpg spans the frame
    assert events[1].ts > events[0].ts


def test_frames_are_sampled_at_the_analysis_rate(photo_video: Path, face_models: Path) -> None:
    w = watcher(face_models, Zones([]))
    w.identical_threshold = 0.0  # analyse every sampled frame
    events = list(w.watch(VideoSource(photo_video, analyse_fps=VIDEO_FPS / 2)))
    total_frames = sum(n for _, n, _ in VIDEO_SCRIPT)
    assert [e.frame_id for e in events] == list(range(0, total_frames, 2))
