"""`scout models evaluate` on the real fp32 and int8 detectors, every number checked by an independent computation:
numpy IoU matrices and scipy's optimal assignment for the matching, numpy percentiles for latency, file sizes
from the file system, and the detectors run again for the face counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import linear_sum_assignment

from edge_runtime.vision.build import held_out_photos
from edge_runtime.vision.detector import FaceDetector
from tests.edge_fixtures import FP32, INT8

pytestmark = pytest.mark.slow


def _iou_matrix(a: list[list[float]], b: list[list[float]]) -> npt.NDArray[np.float64]:
    if not a or not b:
        return np.zeros((len(a), len(b)))
    p, q = np.array(a)[:, :4], np.array(b)[:, :4]
    x1 = np.maximum(p[:, None, 0], q[None, :, 0])
    y1 = np.maximum(p[:, None, 1], q[None, :, 1])
    x2 = np.minimum(p[:, None, 0] + p[:, None, 2], q[None, :, 0] + q[None, :, 2])
    y2 = np.minimum(p[:, None, 1] + p[:, None, 3], q[None, :, 1] + q[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (p[:, 2] * p[:, 3])[:, None] + (q[:, 2] * q[:, 3])[None, :] - inter
    return np.asarray(inter / union, dtype=np.float64)


def _optimal_matches(a: list[list[float]], b: list[list[float]], min_iou: float) -> int:
    m = _iou_matrix(a, b)
    if m.size == 0:
        return 0
    rows, cols = linear_sum_assignment(-m)
    return int((m[rows, cols] >= min_iou).sum())


def _evaluate(face_models: Path, out: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "scout_cli", "models", "evaluate", "--fp32", str(face_models / FP32),
         "--int8", str(face_models / INT8), "--out", str(out), "--runs", "15", *extra],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return proc, json.loads((out / "report.json").read_text())


def test_the_evaluation_report_agrees_with_an_independent_computation(face_models: Path, tmp_path: Path) -> None:
    proc, report = _evaluate(face_models, tmp_path)
    assert proc.returncode == (0 if report["verdict"]["pass"] else 1), proc.stdout + proc.stderr
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sizes = {"fp32": (face_models / FP32).stat().st_size, "int8": (face_models / INT8).stat().st_size}
    assert report["size_bytes"] == sizes
    assert abs(report["size_ratio"] - sizes["int8"] / sizes["fp32"]) < 1e-4

    photos = held_out_photos()
    fp32, int8 = FaceDetector(face_models / FP32), FaceDetector(face_models / INT8)
    totals = {"fp32": 0, "int8": 0, "matched": 0}
    for name, entry in report["photos"].items():
        assert len(entry["fp32"]) == len(fp32.detect(photos[name]))
        assert len(entry["int8"]) == len(int8.detect(photos[name]))
        assert entry["matched"] == _optimal_matches(entry["fp32"], entry["int8"], report["min_iou"])
        totals["fp32"] += len(entry["fp32"])
        totals["int8"] += len(entry["int8"])
        totals["matched"] += entry["matched"]
    agreement = report["agreement"]
    assert abs(agreement["precision"] - totals["matched"] / totals["int8"]) < 1e-4
    assert abs(agreement["recall"] - totals["matched"] / totals["fp32"]) < 1e-4
    assert totals["fp32"] == 7  # six faces in t1.jpg, one in astronaut()

    for model in ("fp32", "int8"):
        samples = report["latency_ms"][model]["samples"]
        assert len(samples) == 15
        p50, p95 = np.percentile(samples, [50, 95])  # numpy's linear method = statistics' inclusive
        assert abs(report["latency_ms"][model]["p50"] - p50) < 2e-3
        assert abs(report["latency_ms"][model]["p95"] - p95) < 2e-3
    checks = report["verdict"]["checks"]
    assert checks["recall vs fp32 >= 0.9"] == (agreement["recall"] >= 0.9)
    assert report["verdict"]["pass"] == all(checks.values())


def test_labelled_boxes_score_each_model(face_models: Path, tmp_path: Path) -> None:
    truth = [[b.x, b.y, b.w, b.h] for b in FaceDetector(face_models / FP32).detect(held_out_photos()["t1.jpg"])]
    truth.append([0.0, 0.0, 0.05, 0.05])  # a face neither model finds: recall < 1 for both
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"t1.jpg": truth}))
    _, report = _evaluate(face_models, tmp_path / "out", "--labels", str(labels))
    scores = report["against_labels"]
    assert scores["fp32"] == {"precision": 1.0, "recall": round(6 / 7, 4)}
    expected_int8 = _optimal_matches(truth, report["photos"]["t1.jpg"]["int8"], 0.5)
    assert scores["int8"]["recall"] == round(expected_int8 / 7, 4)


def test_scout_models_quantize_is_the_edge_builds_quantization(face_models: Path, tmp_path: Path) -> None:
    """One implementation: the cloud command writes the same int8 bytes as `scout-edge models build`."""
    out = tmp_path / "q.int8.onnx"
    proc = subprocess.run(
        [sys.executable, "-m", "scout_cli", "models", "quantize", "--fp32", str(face_models / FP32),
         "--out", str(out)], capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == (face_models / INT8).read_bytes()
