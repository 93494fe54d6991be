"""Make a signed bundle from a model: its files, a manifest, the health-check reference, the signature.

ONNX models get a reference input and the model's own output on it
(:func:`scout_bundles.health.reference_for_onnx`): for a ``detector``
a held-out photo letterboxed as the detector does at run time, for other
kinds an ``.npz`` the publisher gives. A Vosk directory gets a WAV and the
text the model gives for it when one is given (else the device only checks
that it loads).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scout_bundles.archive import describe_files, pack
from scout_bundles.health import reference_for_onnx
from scout_bundles.manifest import BundleError, Health, Kind, Manifest, validate


def _onnx_input_spec(model: Path) -> dict[str, Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return {"inputs": [{"name": i.name, "shape": i.shape, "type": i.type} for i in session.get_inputs()]}


def detector_reference(model: Path) -> dict[str, npt.NDArray[np.generic]]:
    """A held-out photo (insightface ``t1.jpg``), letterboxed to the detector's input."""
    import onnxruntime as ort

    from edge_runtime.vision.build import held_out_photos
    from edge_runtime.vision.detector import letterbox

    first = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0]
    _, _, height, width = first.shape
    blob, _ = letterbox(held_out_photos()["t1.jpg"], int(width), int(height))
    return {first.name: blob}


def make_bundle(
    model: Path,
    *,
    name: str,
    kind: Kind,
    version: str,
    private: Ed25519PrivateKey,
    out: Path,
    evaluation: dict[str, Any] | None = None,
    quantization: str | None = None,
    reference_input: Path | None = None,
    reference_wav: Path | None = None,
    min_agent_version: str = "0.1.0",
) -> Manifest:
    """Write the signed archive ``out`` for ``model`` (a file, or a directory for ``stt``)."""
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        root = Path(tmp) / "files"
        root.mkdir()
        health: Health | None = None
        spec: dict[str, Any] = {}
        if kind == "stt":
            if not model.is_dir():
                raise BundleError("an stt bundle holds a Vosk model directory")
            shutil.copytree(model, root / model.name, symlinks=True)
            if reference_wav is not None:
                from scout_bundles.health import vosk_text

                (root / "health").mkdir()
                shutil.copyfile(reference_wav, root / "health" / "reference.wav")
                text = vosk_text(root / model.name, reference_wav)
                (root / "health" / "expected.txt").write_text(text + "\n", "utf-8")
                health = Health(inputs="health/reference.wav", expected="health/expected.txt")
            spec = {"sample_rate": 16_000}
        else:
            if not model.is_file():
                raise BundleError(f"{model} is not an ONNX file")
            shutil.copyfile(model, root / model.name)
            if reference_input is not None:
                with np.load(reference_input, allow_pickle=False) as data:
                    inputs = {k: data[k] for k in data.files}
            elif kind == "detector":
                inputs = detector_reference(model)
            else:
                raise BundleError(f"a {kind} bundle needs --reference-input (an .npz of every graph input)")
            health_in, health_out = reference_for_onnx(root / model.name, inputs, root)
            health = Health(inputs=health_in, expected=health_out)
            spec = _onnx_input_spec(model)
        manifest = Manifest(
            name=name,
            kind=kind,
            version=version,
            model=model.name,
            files=describe_files(root),
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            input=spec,
            quantization=quantization,
            evaluation=evaluation,
            health=health,
            min_agent_version=min_agent_version,
        )
        validate(manifest, max_bytes=1 << 40)
        pack(root, manifest, private, out)
    return manifest


def evaluation_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What a manifest keeps of an evaluation report (no per-photo boxes or samples)."""
    return {
        "size_ratio": report["size_ratio"],
        "latency_ms": {m: {k: report["latency_ms"][m][k] for k in ("p50", "p95")} for m in ("fp32", "int8")},
        "agreement": report["agreement"],
        "against_labels": report["against_labels"],
        "verdict": report["verdict"],
    }


def load_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return report
