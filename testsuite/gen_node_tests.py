#!/usr/bin/env python3
"""Write the ONNX backend node tests to disk, in a strict and an AOT form.

Usage: gen_node_tests.py OUT_DIR

Since onnx 1.23 the ~1,900 single-operator "node tests" are no longer shipped as
files: `onnx.backend.test.loader.load_node_model_tests()` builds them in memory.
This script writes them in the ONNX backend-test layout so that `nnc test` can run
them like any other model folder:

    OUT_DIR/strict/<case>/model.onnx
    OUT_DIR/strict/<case>/test_data_set_N/input_K.pb, output_K.pb
    OUT_DIR/aot/<case>/...            (same layout)
    OUT_DIR/index.json                one record per written case

strict: every case exactly as onnx defines it, every operand a run-time input.

aot: operands that decide an output's shape, or that real models always carry as
weights (Reshape's shape, Slice's starts/ends/..., BatchNormalization's statistics,
see BAKE below and shared/conformance/README.md), are baked into the model as
initializers, removed from graph.input, and the remaining input_K.pb files are
renumbered to match the remaining graph inputs. An ahead-of-time compiler with
static shapes may refuse the strict form of those cases; it must pass the AOT form.
An operand is baked only if it is directly a top-level graph input, the data set
has a value for it, and it is used nowhere else than in baked positions.

Cases whose inputs/outputs are not plain tensors (sequences, optionals, maps) or
whose values cannot be written as TensorProto are skipped and counted.

The output is deterministic (same onnx version -> byte-identical files).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from collections import Counter, defaultdict

warnings.simplefilter("ignore")  # numpy RuntimeWarnings while the cases are built

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, numpy_helper  # noqa: E402

# op_type -> input positions baked into the AOT form (default ONNX domain only).
BAKE: dict[str, frozenset[int]] = {
    "Reshape": frozenset({1}),  # shape
    "Expand": frozenset({1}),  # shape
    "Tile": frozenset({1}),  # repeats
    "Slice": frozenset({1, 2, 3, 4}),  # starts, ends, axes, steps
    "Pad": frozenset({1, 2, 3}),  # pads, constant_value, axes
    "Resize": frozenset({1, 2, 3}),  # roi, scales, sizes
    "Squeeze": frozenset({1}),  # axes
    "Unsqueeze": frozenset({1}),  # axes
    "TopK": frozenset({1}),  # k
    "Split": frozenset({1}),  # split
    "Range": frozenset({0, 1, 2}),  # start, limit, delta
    "ConstantOfShape": frozenset({0}),  # shape
    "BatchNormalization": frozenset({1, 2, 3, 4}),  # scale, B, mean, var
    "Clip": frozenset({1, 2}),  # min, max: models carry them as constants
    "CumSum": frozenset({1}),  # axis
    "OneHot": frozenset({1}),  # depth
    "Upsample": frozenset({1}),  # scales
    "GroupNormalization": frozenset({1, 2}),  # scale, bias
    "LayerNormalization": frozenset({1, 2}),  # scale, bias
    "InstanceNormalization": frozenset({1, 2}),  # scale, bias
}
REDUCE_AXES = frozenset({1})  # every Reduce* op: axes


def bake_positions(node: onnx.NodeProto) -> frozenset[int]:
    if node.domain not in ("", "ai.onnx"):
        return frozenset()
    if node.op_type.startswith("Reduce"):
        return REDUCE_AXES
    return BAKE.get(node.op_type, frozenset())


class Unwritable(Exception):
    pass


def to_tensor(value, name: str) -> TensorProto:
    """A data-set value as a TensorProto named `name`; Unwritable if it is not a tensor."""
    if isinstance(value, TensorProto):
        t = TensorProto()
        t.CopyFrom(value)
        t.name = name
        return t
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        kind = "None (optional)" if value is None else type(value).__name__
        raise Unwritable(f"value is {kind}, not a tensor")
    try:
        return numpy_helper.from_array(value, name)
    except Exception as e:  # noqa: BLE001
        raise Unwritable(f"dtype {value.dtype} cannot be written: {e}") from None


def non_tensor_kind(vi: onnx.ValueInfoProto) -> str | None:
    kind = vi.type.WhichOneof("value")
    return None if kind == "tensor_type" else (kind or "no type")


def subgraph_refs(graph: onnx.GraphProto, out: set[str]) -> None:
    """All names a (sub)graph's nodes read, recursively (outer-scope uses included)."""
    for node in graph.node:
        out.update(n for n in node.input if n)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                subgraph_refs(attr.g, out)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    subgraph_refs(g, out)


def bakeable_inputs(graph: onnx.GraphProto) -> set[str]:
    """Top-level graph inputs used only in baked operand positions."""
    baked_use: set[str] = set()
    other_use: set[str] = set()
    for node in graph.node:
        pos = bake_positions(node)
        for i, name in enumerate(node.input):
            if name:
                (baked_use if i in pos else other_use).add(name)
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                subgraph_refs(attr.g, other_use)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    subgraph_refs(g, other_use)
    other_use.update(o.name for o in graph.output)
    return baked_use - other_use


def write_case(case_dir: str, model: onnx.ModelProto, data_sets) -> None:
    """data_sets: list of (inputs, outputs), each a list of TensorProto (named)."""
    os.makedirs(case_dir)
    with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    for n, (ins, outs) in enumerate(data_sets):
        d = os.path.join(case_dir, f"test_data_set_{n}")
        os.makedirs(d)
        for k, t in enumerate(ins):
            with open(os.path.join(d, f"input_{k}.pb"), "wb") as f:
                f.write(t.SerializeToString(deterministic=True))
        for k, t in enumerate(outs):
            with open(os.path.join(d, f"output_{k}.pb"), "wb") as f:
                f.write(t.SerializeToString(deterministic=True))


def process(case, out_dir: str, skipped: Counter, skip_examples: dict):
    """Write one case in both forms; return its index record, or None if skipped."""
    model: onnx.ModelProto = case.model
    g = model.graph
    init_names = {t.name for t in g.initializer}
    inputs = [vi for vi in g.input if vi.name not in init_names]
    outputs = list(g.output)

    def skip(reason: str):
        skipped[reason] += 1
        skip_examples.setdefault(reason, []).append(case.name)

    for vi in inputs + outputs:
        kind = non_tensor_kind(vi)
        if kind:
            return skip(f"non-tensor graph input/output ({kind})")

    # Convert every data set to named TensorProtos.
    data_sets = []
    try:
        for ins, outs in case.data_sets:
            if len(ins) != len(inputs) or len(outs) != len(outputs):
                return skip("data set does not match the graph's inputs/outputs")
            data_sets.append(
                (
                    [to_tensor(v, vi.name) for v, vi in zip(ins, inputs)],
                    [to_tensor(v, vi.name) for v, vi in zip(outs, outputs)],
                )
            )
    except Unwritable as e:
        reason = str(e)
        if reason.startswith("dtype"):
            reason = reason.split(":")[0]
        return skip(reason)
    if not data_sets:
        return skip("no data set")

    # ---- strict form
    write_case(os.path.join(out_dir, "strict", case.name), model, data_sets)

    # ---- AOT form
    bakeable = bakeable_inputs(g)
    baked = [vi.name for vi in inputs if vi.name in bakeable]
    notes = []
    aot_model = model
    aot_sets = data_sets
    if baked:
        baked_idx = [i for i, vi in enumerate(inputs) if vi.name in bakeable]
        first = data_sets[0][0]
        aot_sets = []
        for n, (ins, outs) in enumerate(data_sets):
            if n and any(
                ins[i].SerializeToString(deterministic=True)
                != first[i].SerializeToString(deterministic=True)
                for i in baked_idx
            ):
                notes.append(
                    f"test_data_set_{n} dropped from aot: baked inputs differ from set 0"
                )
                continue
            aot_sets.append(([t for i, t in enumerate(ins) if i not in baked_idx], outs))
        aot_model = onnx.ModelProto()
        aot_model.CopyFrom(model)
        ag = aot_model.graph
        keep = [vi for vi in ag.input if vi.name not in bakeable]
        del ag.input[:]
        ag.input.extend(keep)
        for i in baked_idx:
            ag.initializer.append(first[i])
        if aot_model.ir_version < 4:
            # Before IR 4 every initializer had to be listed in graph.input too.
            aot_model.ir_version = 4
            notes.append("aot: ir_version raised to 4 (initializers not in graph.input)")
    write_case(os.path.join(out_dir, "aot", case.name), aot_model, aot_sets)

    def is_float(vi):
        return vi.type.tensor_type.elem_type == TensorProto.FLOAT

    rec = {
        "name": case.name,
        "float32_only": all(is_float(vi) for vi in inputs + outputs),
        # Looser: float32 outputs, inputs float32 or int64 (shape/index operands).
        # This is close to the README's "float32-only cases (1,127)" (1,128 here).
        "float32_data": all(is_float(vi) for vi in outputs)
        and all(is_float(vi) or vi.type.tensor_type.elem_type == TensorProto.INT64
                for vi in inputs),
        "ops": sorted({n.op_type for n in g.node}),
        "rtol": case.rtol,
        "atol": case.atol,
        "strict_inputs": len(inputs),
        "aot_inputs": len(inputs) - len(baked),
        "aot_baked": baked,
    }
    if notes:
        rec["notes"] = notes
    return rec


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1].startswith("-"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: gen_node_tests.py OUT_DIR", file=sys.stderr)
        return 2
    out_dir = argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for sub in ("strict", "aot"):
        shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)

    from onnx.backend.test.loader import load_node_model_tests

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        cases = sorted(load_node_model_tests(), key=lambda c: c.name)

    skipped: Counter = Counter()
    skip_examples: dict[str, list[str]] = {}
    index = []
    names = Counter(c.name for c in cases)
    dup = [n for n, k in names.items() if k > 1]
    if dup:
        print(f"error: duplicate case names: {dup[:5]}", file=sys.stderr)
        return 1
    for case in cases:
        rec = process(case, out_dir, skipped, skip_examples)
        if rec is not None:
            index.append(rec)

    with open(os.path.join(out_dir, "index.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")

    n_baked = sum(1 for r in index if r["aot_baked"])
    n_f32 = sum(1 for r in index if r["float32_only"])
    n_f32d = sum(1 for r in index if r["float32_data"])
    print(
        f"onnx {onnx.__version__}: {len(cases)} node tests; wrote {len(index)} cases "
        f"in each form (strict, aot) to {out_dir}; {n_f32} float32-only; "
        f"({n_f32d} float32 with int64 operands); {n_baked} with operands baked in the aot form; {sum(skipped.values())} skipped"
    )
    for reason, k in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])):
        ex = ", ".join(skip_examples[reason][:3])
        print(f"  skipped {k:4d}: {reason} (e.g. {ex})")
    noted = [r for r in index if "notes" in r]
    if noted:
        print(f"  {len(noted)} cases with notes (see index.json), e.g. "
              f"{noted[0]['name']}: {noted[0]['notes'][0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
