#!/usr/bin/env python3
"""Build the small example model examples/tiny_cnn/model.onnx and its test data.

Usage: make_example_model.py OUT.onnx      (e.g. examples/tiny_cnn/model.onnx)

A tiny but real CNN on a 1x3x32x32 input, built with onnx.helper the way PyTorch
exports such networks (opset 17, IR version 8), so that the compiler's whole
pipeline has a committed, hand-checkable model to work on:

  Conv 3x3 (8 ch, pad 1) + BatchNormalization + Relu
  depthwise 3x3 Conv (group 8) + Clip(0, 6) (ReLU6, min/max as initializer inputs)
  pointwise 1x1 Conv (16 ch)
  MaxPool 2x2 stride 2
  residual block: Conv 3x3 (16 ch) + Relu, Add with its input
  GlobalAveragePool
  Shape -> Gather -> Unsqueeze -> Concat -> Reshape (PyTorch's flatten; something
  for the canonicalize pass to fold, as the shapes are static)
  Gemm to 10 classes, Softmax

Weights are seeded random normals scaled by sqrt(2 / fan_in), so activations stay
in a sane range. Beside OUT.onnx it writes test_data_set_0/input_0.pb (seeded
normal input) and output_0.pb, computed with onnx's own reference evaluator
(onnx.reference.ReferenceEvaluator), not with onnxruntime.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OPSET = 17
IR_VERSION = 8
SEED = 20240601


def build() -> tuple[onnx.ModelProto, np.ndarray]:
    rng = np.random.default_rng(SEED)
    inits: list[TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def w(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def conv_w(name: str, cout: int, cin_per_group: int, k: int) -> str:
        fan_in = cin_per_group * k * k
        arr = rng.standard_normal((cout, cin_per_group, k, k)) * np.sqrt(2.0 / fan_in)
        return w(name, arr.astype(np.float32))

    def bias(name: str, n: int) -> str:
        return w(name, (rng.standard_normal(n) * 0.05).astype(np.float32))

    def const(out: str, arr: np.ndarray) -> str:
        # PyTorch exports small constants as Constant nodes.
        nodes.append(helper.make_node(
            "Constant", [], [out], name=out, value=numpy_helper.from_array(arr, out)))
        return out

    # stem: Conv 3x3 + BatchNormalization + Relu
    nodes.append(helper.make_node(
        "Conv", ["input", conv_w("stem.conv.weight", 8, 3, 3)], ["stem_conv"],
        name="stem.conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]))
    nodes.append(helper.make_node(
        "BatchNormalization",
        ["stem_conv",
         w("stem.bn.weight", (1.0 + 0.1 * rng.standard_normal(8)).astype(np.float32)),
         w("stem.bn.bias", (0.1 * rng.standard_normal(8)).astype(np.float32)),
         w("stem.bn.running_mean", (0.1 * rng.standard_normal(8)).astype(np.float32)),
         w("stem.bn.running_var", rng.uniform(0.5, 1.5, 8).astype(np.float32))],
        ["stem_bn"], name="stem.bn", epsilon=1e-5, momentum=0.9))
    nodes.append(helper.make_node("Relu", ["stem_bn"], ["stem_relu"], name="stem.relu"))

    # depthwise-separable block: dw 3x3 (group 8) + ReLU6 (Clip) + pw 1x1 (16 ch)
    nodes.append(helper.make_node(
        "Conv", ["stem_relu", conv_w("dw.weight", 8, 1, 3), bias("dw.bias", 8)],
        ["dw_conv"], name="dw.conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8))
    nodes.append(helper.make_node(
        "Clip",
        ["dw_conv", w("relu6.min", np.array(0.0, np.float32)),
         w("relu6.max", np.array(6.0, np.float32))],
        ["dw_relu6"], name="dw.relu6"))
    nodes.append(helper.make_node(
        "Conv", ["dw_relu6", conv_w("pw.weight", 16, 8, 1), bias("pw.bias", 16)],
        ["pw_conv"], name="pw.conv", kernel_shape=[1, 1]))

    # MaxPool 2x2 stride 2 -> 1x16x16x16
    nodes.append(helper.make_node(
        "MaxPool", ["pw_conv"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))

    # residual block: Conv 3x3 + Relu, added to its input
    nodes.append(helper.make_node(
        "Conv", ["pool", conv_w("res.conv.weight", 16, 16, 3), bias("res.conv.bias", 16)],
        ["res_conv"], name="res.conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["res_conv"], ["res_relu"], name="res.relu"))
    nodes.append(helper.make_node("Add", ["pool", "res_relu"], ["res_add"], name="res.add"))

    # head: GlobalAveragePool, PyTorch-style flatten, Gemm, Softmax
    nodes.append(helper.make_node("GlobalAveragePool", ["res_add"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Shape", ["gap"], ["gap_shape"], name="flatten.shape"))
    nodes.append(helper.make_node(
        "Gather", ["gap_shape", const("flatten.idx0", np.array(0, np.int64))],
        ["batch"], name="flatten.gather", axis=0))
    nodes.append(helper.make_node(
        "Unsqueeze", ["batch", const("flatten.axes0", np.array([0], np.int64))],
        ["batch_1d"], name="flatten.unsqueeze"))
    nodes.append(helper.make_node(
        "Concat", ["batch_1d", const("flatten.minus1", np.array([-1], np.int64))],
        ["flat_shape"], name="flatten.concat", axis=0))
    nodes.append(helper.make_node(
        "Reshape", ["gap", "flat_shape"], ["flat"], name="flatten.reshape"))
    fc_w = (rng.standard_normal((10, 16)) * np.sqrt(1.0 / 16)).astype(np.float32)
    nodes.append(helper.make_node(
        "Gemm", ["flat", w("fc.weight", fc_w), bias("fc.bias", 10)], ["logits"],
        name="fc", alpha=1.0, beta=1.0, transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["output"], name="softmax", axis=1))

    graph = helper.make_graph(
        nodes, "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
        initializer=inits)
    model = helper.make_model(
        graph, producer_name="nnc testsuite/make_example_model.py",
        opset_imports=[helper.make_operatorsetid("", OPSET)])
    model.ir_version = IR_VERSION
    x = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    return model, x


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: make_example_model.py OUT.onnx", file=sys.stderr)
        return 2
    out = argv[1]
    model, x = build()
    onnx.checker.check_model(model, full_check=True)
    (y,) = ReferenceEvaluator(model).run(None, {"input": x})
    y = np.asarray(y, dtype=np.float32)
    assert y.shape == (1, 10) and np.isfinite(y).all()

    out_dir = os.path.dirname(os.path.abspath(out))
    data_dir = os.path.join(out_dir, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    with open(out, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    for path, name, arr in ((os.path.join(data_dir, "input_0.pb"), "input", x),
                            (os.path.join(data_dir, "output_0.pb"), "output", y)):
        with open(path, "wb") as f:
            f.write(numpy_helper.from_array(arr, name).SerializeToString(deterministic=True))
    print(f"wrote {out} ({os.path.getsize(out)} bytes, {len(model.graph.node)} nodes) "
          f"and {data_dir}/; output {np.array2string(y[0], precision=4)}, "
          f"argmax {int(y.argmax())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
