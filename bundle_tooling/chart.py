"""The evaluation chart (PNG): size, latency p50/p95, and faces per photo for fp32 and int8."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(report: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    models = ["fp32", "int8"]
    colours = ["#5794F2", "#73BF69"]
    axes[0].bar(models, [report["size_bytes"][m] / 2**20 for m in models], color=colours)
    axes[0].set_title("model size (MiB)")
    x = range(2)
    for i, q in enumerate(("p50", "p95")):
        axes[1].bar([v + i * 0.4 for v in x], [report["latency_ms"][m][q] for m in models], width=0.4, label=q)
    axes[1].set_xticks([v + 0.2 for v in x], models)
    axes[1].set_title(f"latency on {report['latency_ms']['threads']} thread (ms)")
    axes[1].legend()
    photos = list(report["photos"])
    for i, m in enumerate(models):
        axes[2].bar(
            [p + i * 0.4 for p in range(len(photos))],
            [len(report["photos"][name][m]) for name in photos],
            width=0.4,
            label=m,
            color=colours[i],
        )
    axes[2].set_xticks([p + 0.2 for p in range(len(photos))], photos)
    axes[2].set_title("faces found per photo")
    axes[2].legend()
    a = report["agreement"]
    verdict = "PASS" if report["verdict"]["pass"] else "FAIL"
    fig.suptitle(f"int8 vs fp32: precision {a['precision']:.3f}, recall {a['recall']:.3f} — {verdict}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
