"""fp32 vs int8 detector evaluation: size, latency on one thread, agreement, and accuracy where labels exist.

One implementation, used by ``scout-edge models build`` (into its manifest)
and ``scout models evaluate`` (a JSON report, a chart and a verdict).

* Agreement treats the fp32 model as the reference: a face is *matched* when
  an int8 box overlaps an fp32 box with IoU ≥ 0.5 (greedy, one-to-one, best
  IoU first); precision = matched / int8 boxes, recall = matched / fp32 boxes.
* Against labelled boxes (when a labels file gives them) the same matching
  scores each model.
* Latency: ``runs`` timed inferences after one warm-up, on one thread;
  p50 and p95 by linear interpolation (``statistics.quantiles``, inclusive).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.vision.detector import Box, FaceDetector, Frame

MIN_IOU = 0.5


@dataclass(frozen=True)
class Thresholds:
    """What a quantized model must reach to be published (``verdict``)."""

    min_recall_vs_fp32: float = 0.9
    min_precision_vs_fp32: float = 0.9
    max_size_ratio: float = 0.5
    max_latency_ratio: float = 1.5


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def matched(reference: list[Box], candidate: list[Box], min_iou: float = MIN_IOU) -> int:
    """How many reference boxes get a candidate box with IoU ≥ ``min_iou`` (greedy by best IoU, one-to-one)."""
    pairs = sorted(((iou(r, c), i, j) for i, r in enumerate(reference) for j, c in enumerate(candidate)), reverse=True)
    used_r: set[int] = set()
    used_c: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i not in used_r and j not in used_c:
            used_r.add(i)
            used_c.add(j)
    return len(used_r)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def _percentiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": round(q[49], 3), "p95": round(q[94], 3)}


def latency_ms(detector: FaceDetector, frame: Frame, runs: int) -> list[float]:
    detector.detect(frame)  # warm-up
    out = []
    for _ in range(runs):
        detector.detect(frame)
        out.append(detector.last_inference_ms)
    return out


def _boxes(boxes: list[Box]) -> list[list[float]]:
    return [[round(b.x, 5), round(b.y, 5), round(b.w, 5), round(b.h, 5), round(b.score, 4)] for b in boxes]


def evaluate_detectors(
    fp32: Path,
    int8: Path,
    photos: dict[str, Frame],
    *,
    labels: dict[str, list[Box]] | None = None,
    runs: int = 20,
    latency_photo: str | None = None,
    thresholds: Thresholds | None = None,
) -> dict[str, Any]:
    """The evaluation report (plain JSON types)."""
    t = thresholds or Thresholds()
    ref, q = FaceDetector(fp32, threads=1), FaceDetector(int8, threads=1)
    per_photo: dict[str, Any] = {}
    totals = {"fp32": 0, "int8": 0, "matched": 0}
    label_totals = {"labelled": 0, "fp32": 0, "int8": 0, "fp32_matched": 0, "int8_matched": 0}
    for name, frame in photos.items():
        a, b = ref.detect(frame), q.detect(frame)
        hits = matched(a, b)
        totals["fp32"] += len(a)
        totals["int8"] += len(b)
        totals["matched"] += hits
        entry: dict[str, Any] = {"fp32": _boxes(a), "int8": _boxes(b), "matched": hits}
        truth = (labels or {}).get(name)
        if truth is not None:
            entry["labels"] = _boxes(truth)
            label_totals["labelled"] += len(truth)
            for model, boxes in (("fp32", a), ("int8", b)):
                label_totals[model] += len(boxes)
                label_totals[f"{model}_matched"] += matched(truth, boxes)
        per_photo[name] = entry
    timing = photos[latency_photo or next(iter(photos))]
    lat = {"fp32": latency_ms(ref, timing, runs), "int8": latency_ms(q, timing, runs)}
    sizes = {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size}
    agreement = {
        "matched": totals["matched"],
        "fp32_boxes": totals["fp32"],
        "int8_boxes": totals["int8"],
        "precision": round(_ratio(totals["matched"], totals["int8"]), 4),
        "recall": round(_ratio(totals["matched"], totals["fp32"]), 4),
    }
    against_labels = None
    if label_totals["labelled"]:
        against_labels = {
            m: {
                "precision": round(_ratio(label_totals[f"{m}_matched"], label_totals[m]), 4),
                "recall": round(_ratio(label_totals[f"{m}_matched"], label_totals["labelled"]), 4),
            }
            for m in ("fp32", "int8")
        }
    pct = {m: _percentiles(v) for m, v in lat.items()}
    latency = {m: {**pct[m], "samples": [round(x, 3) for x in v]} for m, v in lat.items()}
    size_ratio = sizes["int8"] / sizes["fp32"]
    latency_ratio = pct["int8"]["p50"] / pct["fp32"]["p50"]
    checks = {
        f"recall vs fp32 >= {t.min_recall_vs_fp32}": agreement["recall"] >= t.min_recall_vs_fp32,
        f"precision vs fp32 >= {t.min_precision_vs_fp32}": agreement["precision"] >= t.min_precision_vs_fp32,
        f"size int8/fp32 <= {t.max_size_ratio}": size_ratio <= t.max_size_ratio,
        f"latency p50 int8/fp32 <= {t.max_latency_ratio}": latency_ratio <= t.max_latency_ratio,
    }
    return {
        "min_iou": MIN_IOU,
        "size_bytes": sizes,
        "size_ratio": round(size_ratio, 4),
        "latency_ms": {**latency, "threads": 1, "runs": runs, "photo": latency_photo or next(iter(photos))},
        "latency_ratio": round(latency_ratio, 4),
        "agreement": agreement,
        "against_labels": against_labels,
        "photos": per_photo,
        "verdict": {"pass": all(checks.values()), "checks": checks},
    }
