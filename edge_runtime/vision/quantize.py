"""Static int8 QDQ quantization (per-channel weights) of the converted CenterFace.

Calibration runs the fp32 model on a set of real photos, letterboxed exactly
as the detector does at run time; activations get MinMax ranges, weights are
quantized per output channel (symmetric int8), activations as uint8.
:func:`calibration_photos` gives photos that ship inside installed packages
and that are *not* the ones the tests evaluate on (``t1.jpg`` and
``astronaut()`` are held out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from edge_runtime.resources import package_dir
from edge_runtime.vision.detector import Frame, letterbox
from scout_bundles.files import resolve_inside


def package_photo(package: str, relative: str) -> Frame:
    """A photo shipped inside an installed package, as BGR ``uint8``."""
    path = resolve_inside(package_dir(package), relative)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read photo {path}")
    return np.asarray(image, dtype=np.uint8)


def skimage_photo(name: str) -> Frame:
    import skimage.data

    rgb = np.asarray(getattr(skimage.data, name)(), dtype=np.uint8)
    if rgb.ndim == 2:
        return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    return np.asarray(cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2BGR), dtype=np.uint8)


def calibration_photos() -> list[Frame]:
    """Real photos for calibration: insightface's masked faces and portrait, scikit-image scenes.

    Each is also given mirrored and at half size so that the ranges cover
    faces of several sizes.
    """
    base = [
        *(package_photo("insightface", f"data/images/mask_{c}.jpg") for c in ("black", "blue", "green", "white")),
        package_photo("insightface", "data/images/Tom_Hanks_54745.png"),
        *(skimage_photo(n) for n in ("coffee", "chelsea", "camera", "rocket")),
    ]
    out: list[Frame] = []
    for img in base:
        out += [img, np.ascontiguousarray(img[:, ::-1]), np.asarray(cv2.resize(img, None, fx=0.5, fy=0.5), np.uint8)]
    return out


class _LetterboxReader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no stubs
    def __init__(
        self, input_name: str, frames: Sequence[Frame], width: int, height: int, on_photo: Callable[[], None] | None
    ) -> None:
        self._batches: Iterator[dict[str, npt.NDArray[np.float32]]] = iter(
            [{input_name: letterbox(f, width, height)[0]} for f in frames]
        )
        self._on_photo = on_photo

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        batch = next(self._batches, None)
        if batch is not None and self._on_photo is not None:
            self._on_photo()
        return batch


def quantize_detector(
    fp32: Path, int8: Path, frames: Iterable[Frame] | None = None, on_photo: Callable[[], None] | None = None
) -> Path:
    """Write the int8 QDQ model for ``fp32`` to ``int8``; returns ``int8``.

    ``on_photo`` is called as calibration feeds each photo to the fp32 model (a progress bar's advance).
    """
    model = onnx.load(str(fp32))
    graph_input = model.graph.input[0]
    dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
    height, width = dims[2], dims[3]
    prepared = int8.with_suffix(".pre.onnx")
    int8.parent.mkdir(parents=True, exist_ok=True)
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    reader = _LetterboxReader(graph_input.name, list(frames or calibration_photos()), width, height, on_photo)
    try:
        quantize_static(
            str(prepared),
            str(int8),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    finally:
        prepared.unlink(missing_ok=True)
    return int8
