"""CenterFace face detection with onnxruntime and OpenCV pre/post-processing.

Pre-processing letterboxes a BGR frame into the model's fixed input (aspect
kept, padding bottom/right); post-processing decodes the CenterFace heads
(heat-map peaks, log-scale sizes, sub-pixel offsets; stride 4) and runs
OpenCV's NMS. Boxes come back in normalised ``[x, y, w, h]`` of the original
frame, as the visual event contract wants.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge_runtime.errors import ModelLoadError

STRIDE = 4

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Box:
    """One detection: normalised ``x, y, w, h`` in 0..1 of the original frame."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass(frozen=True, slots=True)
class Letterbox:
    scale: float
    width: int
    height: int


def letterbox(frame: Frame, width: int, height: int) -> tuple[npt.NDArray[np.float32], Letterbox]:
    """BGR ``frame`` → ``1×3×height×width`` float32 blob (0..255, as CenterFace was trained)."""
    fh, fw = frame.shape[:2]
    scale = min(width / fw, height / fh)
    nw, nh = max(1, round(fw * scale)), max(1, round(fh * scale))
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    blob = np.ascontiguousarray(canvas.transpose(2, 0, 1)[np.newaxis], dtype=np.float32)
    return blob, Letterbox(scale=scale, width=fw, height=fh)


def decode(
    heatmap: npt.NDArray[np.float32],
    scale: npt.NDArray[np.float32],
    offset: npt.NDArray[np.float32],
    box: Letterbox,
    *,
    threshold: float,
    nms_iou: float,
) -> list[Box]:
    """Decode the CenterFace heads of one image into NMS-filtered, normalised boxes."""
    hm = heatmap[0, 0]
    ys, xs = np.nonzero(hm > threshold)
    if ys.size == 0:
        return []
    s_h = np.exp(scale[0, 0, ys, xs]) * STRIDE
    s_w = np.exp(scale[0, 1, ys, xs]) * STRIDE
    o_y = offset[0, 0, ys, xs]
    o_x = offset[0, 1, ys, xs]
    scores = hm[ys, xs]
    x1 = np.maximum(0.0, (xs + o_x + 0.5) * STRIDE - s_w / 2) / box.scale
    y1 = np.maximum(0.0, (ys + o_y + 0.5) * STRIDE - s_h / 2) / box.scale
    x2 = np.minimum(x1 + s_w / box.scale, box.width)
    y2 = np.minimum(y1 + s_h / box.scale, box.height)
    rects = [[float(a), float(b), float(c - a), float(d - b)] for a, b, c, d in zip(x1, y1, x2, y2, strict=True)]
    keep = cv2.dnn.NMSBoxes(rects, scores.astype(float).tolist(), threshold, nms_iou)
    out = []
    for i in np.asarray(keep, dtype=np.int64).reshape(-1):
        x, y, w, h = rects[int(i)]
        if w <= 0 or h <= 0:
            continue
        out.append(Box(x / box.width, y / box.height, w / box.width, h / box.height, float(scores[int(i)])))
    out.sort(key=lambda b: (-b.score, b.x, b.y))
    return out


class FaceDetector:
    """A CenterFace session (fp32 or int8) on a fixed input size, ``threads`` intra-op threads."""

    def __init__(self, model_path: Path, *, threshold: float = 0.5, nms_iou: float = 0.3, threads: int = 1) -> None:
        if not model_path.is_file():
            raise ModelLoadError(f"face model not found: {model_path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ModelLoadError(f"cannot load face model {model_path}: {exc}") from exc
        inputs = self.session.get_inputs()
        shape = inputs[0].shape
        fixed = len(shape) == 4 and all(isinstance(d, int) for d in shape) and shape[0] == 1
        if len(inputs) != 1 or not fixed or len(self.session.get_outputs()) != 4:
            raise ModelLoadError(f"{model_path} is not a fixed-size CenterFace (input {inputs[0].name} {shape})")
        self.input_name = inputs[0].name
        self.height, self.width = int(shape[2]), int(shape[3])
        self.threshold = threshold
        self.nms_iou = nms_iou
        self.last_inference_ms = math.nan

    def heads(self, frame: Frame) -> tuple[list[npt.NDArray[np.float32]], Letterbox]:
        blob, box = letterbox(frame, self.width, self.height)
        start = time.perf_counter()
        outputs = self.session.run(None, {self.input_name: blob})
        self.last_inference_ms = (time.perf_counter() - start) * 1000
        return [np.asarray(o, dtype=np.float32) for o in outputs], box

    def detect(self, frame: Frame) -> list[Box]:
        """Faces in a BGR frame, best first."""
        outputs, box = self.heads(frame)
        heatmap, scale, offset = outputs[0], outputs[1], outputs[2]
        return decode(heatmap, scale, offset, box, threshold=self.threshold, nms_iou=self.nms_iou)
