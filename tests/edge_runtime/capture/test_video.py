"""Bad video input gives a clear error, not a crash loop."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_runtime.capture import CaptureError
from edge_runtime.capture.video import VideoSource


def test_missing_video_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="video file not found"):
        VideoSource(tmp_path / "nope.avi", 2.0)


def test_corrupt_video_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00AVI garbage" * 100)
    with pytest.raises(CaptureError, match="corrupt or unsupported"):
        list(VideoSource(bad, 2.0))


def test_missing_camera() -> None:
    with pytest.raises(CaptureError, match="cannot open camera 57"):
        VideoSource(57, 2.0)
