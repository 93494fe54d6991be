"""Frames → face detections (and, optionally, brands read by OCR) → zones → ``scout.visual/1`` events.

A frame identical to the last analysed one (mean absolute difference of a
64×48 grey thumbnail below ``identical_threshold``) is skipped: an empty
counter does not produce a stream of identical events. No pixels leave this
module, only boxes (SPEC §5 privacy).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from edge_runtime.capture.video import CapturedFrame
from edge_runtime.events import EventClock, EventFactory
from edge_runtime.vision.brands import BrandReader
from edge_runtime.vision.detector import FaceDetector, Frame
from edge_runtime.vision.zones import Zones
from scout_contract.events import Detection, VisualV1

THUMB = (64, 48)


def thumbnail(image: Frame) -> npt.NDArray[np.int16]:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return np.asarray(cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA), dtype=np.int16)


@dataclass
class WatcherStats:
    frames: int = 0
    skipped_identical: int = 0
    inference_ms: list[float] = field(default_factory=list)
    ocr_ms: list[float] = field(default_factory=list)


class Watcher:
    def __init__(
        self,
        detector: FaceDetector,
        zones: Zones,
        factory: EventFactory,
        clock: EventClock,
        *,
        model_version: str,
        identical_threshold: float,
        brand_reader: BrandReader | None = None,
        brand_every: int = 5,
    ) -> None:
        self.detector = detector
        self.zones = zones
        self.factory = factory
        self.clock = clock
        self.model_version = model_version
        self.identical_threshold = identical_threshold
        self.brand_reader = brand_reader
        self.brand_every = brand_every
        self._analysed = 0
        self.stats = WatcherStats()
        self._last: npt.NDArray[np.int16] | None = None

    def is_identical(self, image: Frame) -> bool:
        thumb = thumbnail(image)
        same = self._last is not None and float(np.abs(thumb - self._last).mean()) < self.identical_threshold
        if not same:
            self._last = thumb
        return same

    def watch(self, frames: Iterable[CapturedFrame]) -> Iterator[VisualV1]:
        for frame in frames:
            self.stats.frames += 1
            if self.is_identical(frame.image):
                self.stats.skipped_identical += 1
                continue
            yield self.analyse(frame)

    def analyse(self, frame: CapturedFrame) -> VisualV1:
        boxes = self.detector.detect(frame.image)
        self.stats.inference_ms.append(self.detector.last_inference_ms)
        detections = [
            Detection(
                label="face",
                confidence=round(min(1.0, max(0.0, b.score)), 4),
                bbox=[round(min(1.0, max(0.0, v)), 5) for v in (b.x, b.y, b.w, b.h)],
                zone=self.zones.locate(*b.centre),
                track_id=None,
            )
            for b in boxes
        ]
        if self.brand_reader is not None and self._analysed % self.brand_every == 0:
            start = time.perf_counter()
            sightings = self.brand_reader.read(frame.image)
            self.stats.ocr_ms.append((time.perf_counter() - start) * 1000)
            detections += [
                Detection(
                    label=f"brand:{s.brand}",
                    confidence=min(1.0, max(0.0, s.confidence)),
                    bbox=[round(min(1.0, max(0.0, v)), 5) for v in s.bbox],
                    zone=self.zones.locate(s.bbox[0] + s.bbox[2] / 2, s.bbox[1] + s.bbox[3] / 2),
                    track_id=None,
                )
                for s in sightings
            ]
        self._analysed += 1
        height, width = frame.image.shape[:2]
        return self.factory.visual(
            self.clock.at(frame.offset_ms),
            frame_id=frame.index,
            width=width,
            height=height,
            model_version=self.model_version,
            detections=detections,
        )
