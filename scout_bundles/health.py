"""The health check of an installed version: it loads, and on the bundle's reference input it gives
the bundle's expected output.

ONNX models (``detector``, ``vad``): ``health.inputs`` is an ``.npz`` of every
graph input, ``health.expected`` an ``.npz`` of every output; the outputs must
agree within ``atol``/``rtol``. A Vosk model (``stt``): ``inputs`` is a 16 kHz
mono WAV, ``expected`` the text the model gave for it when the bundle was
made. :func:`reference_for_onnx` makes the pair on the publishing side.
"""

from __future__ import annotations

import tempfile
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scout_bundles.manifest import FILES, BundleError, Manifest


def _onnx_outputs(model: Path, inputs: dict[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.generic]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise BundleError(f"health check: the model does not load: {str(exc).splitlines()[0][:200]}") from exc
    names = [o.name for o in session.get_outputs()]
    try:
        values = session.run(names, inputs)
    except Exception as exc:
        raise BundleError(f"health check: the model fails on the reference input: {str(exc)[:200]}") from exc
    return {n: np.asarray(v) for n, v in zip(names, values, strict=True)}


def reference_for_onnx(model: Path, inputs: dict[str, npt.NDArray[np.generic]], out_dir: Path) -> tuple[str, str]:
    """Write ``health/inputs.npz`` and ``health/expected.npz`` (the model's outputs) under ``out_dir``."""
    health = out_dir / "health"
    health.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(health / "inputs.npz", **inputs)  # type: ignore[arg-type]
    np.savez_compressed(health / "expected.npz", **_onnx_outputs(model, inputs))  # type: ignore[arg-type]
    return "health/inputs.npz", "health/expected.npz"


def _npz(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def vosk_text(model_dir: Path, wav_path: Path) -> str:
    import json

    import vosk

    vosk.SetLogLevel(-1)
    try:
        model = vosk.Model(str(model_dir))
    except Exception as exc:
        raise BundleError(f"health check: the Vosk model does not load: {exc}") from exc
    with wave.open(str(wav_path), "rb") as w:
        recogniser = vosk.KaldiRecognizer(model, w.getframerate())
        recogniser.AcceptWaveform(w.readframes(w.getnframes()))
    return str(json.loads(recogniser.FinalResult()).get("text", ""))


def check(version_dir: Path, manifest: Manifest) -> str:
    """Raise :class:`BundleError` unless the installed version is healthy; returns what was checked."""
    files = version_dir / FILES
    model = files / manifest.model
    if not model.exists():
        raise BundleError(f"health check: {manifest.model} is missing")
    if manifest.kind == "stt":
        if manifest.health is None:
            with tempfile.TemporaryDirectory() as tmp:
                vosk_text(model, _silence(Path(tmp)))
            return "loads"
        text = vosk_text(model, files / manifest.health.inputs)
        wanted = (files / manifest.health.expected).read_text("utf-8").strip()
        if text.strip() != wanted:
            raise BundleError(f"health check: transcribed {text!r}, expected {wanted!r}")
        return "reference audio transcribed as expected"
    if manifest.health is None:
        raise BundleError("health check: an ONNX bundle must carry a reference input and output")
    outputs = _onnx_outputs(model, _npz(files / manifest.health.inputs))
    expected = _npz(files / manifest.health.expected)
    if set(outputs) != set(expected):
        raise BundleError(f"health check: outputs {sorted(outputs)} differ from expected {sorted(expected)}")
    for name, want in expected.items():
        got = outputs[name]
        if got.shape != want.shape or not np.allclose(got, want, atol=manifest.health.atol, rtol=manifest.health.rtol):
            worst = (
                float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
                if got.shape == want.shape
                else float("inf")
            )
            raise BundleError(f"health check: output {name!r} differs from the expected (max |diff| {worst:.3g})")
    return "reference output reproduced"


def _silence(folder: Path) -> Path:
    path = folder / "silence.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\x00\x00" * 16_000)
    return path
