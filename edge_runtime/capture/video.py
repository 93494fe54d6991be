"""Frames from a camera (by index) or a video file, through OpenCV ``VideoCapture``.

Frames are analysed at ``analyse_fps``: for a file, by media time (every
n-th frame, skipped frames are only *grabbed*, not decoded); for a camera,
by the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge_runtime.capture import CaptureError

DEFAULT_FILE_FPS = 25.0


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    index: int
    #: Media time of the frame (files) or ms since capture started (cameras).
    offset_ms: int
    image: npt.NDArray[np.uint8]


class VideoSource:
    """Iterate over the frames to analyse. ``is_file`` tells whether the source ends."""

    def __init__(self, source: int | Path, analyse_fps: float) -> None:
        self.source = source
        self.is_file = isinstance(source, Path)
        if isinstance(source, Path) and not source.is_file():
            raise CaptureError(f"video file not found: {source}")
        self._cap = cv2.VideoCapture(str(source) if isinstance(source, Path) else source)
        if not self._cap.isOpened():
            what = f"video file {source} (corrupt or unsupported)" if self.is_file else f"camera {source}"
            raise CaptureError(f"cannot open {what}")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.media_fps = fps if fps > 0 else DEFAULT_FILE_FPS
        self.analyse_fps = analyse_fps
        self.frames_read = 0

    def __iter__(self) -> Iterator[CapturedFrame]:
        return self._file_frames() if self.is_file else self._camera_frames()

    def _file_frames(self) -> Iterator[CapturedFrame]:
        step = max(1, round(self.media_fps / self.analyse_fps))
        index = 0
        while True:
            if index % step:
                if not self._cap.grab():
                    break
            else:
                ok, image = self._cap.read()
                if not ok or image is None:
                    break
                yield CapturedFrame(index, round(index * 1000 / self.media_fps), np.asarray(image, dtype=np.uint8))
            index += 1
            self.frames_read = index
        if index == 0:
            raise CaptureError(f"video file {self.source} has no readable frame (corrupt or unsupported)")

    def _camera_frames(self) -> Iterator[CapturedFrame]:
        period = 1.0 / self.analyse_fps
        start = time.monotonic()
        next_due = start
        index = 0
        while True:
            ok, image = self._cap.read()
            if not ok or image is None:
                raise CaptureError(f"camera {self.source} stopped delivering frames")
            now = time.monotonic()
            if now >= next_due:
                next_due = max(next_due + period, now)
                yield CapturedFrame(index, round((now - start) * 1000), np.asarray(image, dtype=np.uint8))
            index += 1
            self.frames_read = index

    def close(self) -> None:
        self._cap.release()
