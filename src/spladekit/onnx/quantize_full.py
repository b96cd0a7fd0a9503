"""The whole-encoder int8 graph (``precision="int8-full"``): every linear layer in int8.

Starts from the int8-head graph (:mod:`spladekit.onnx.quantize`) and rewrites each remaining
``MatMul(X, W)`` whose ``W`` is a 2-D weight (the attention projections and the feed-forward
layers; the attention products ``QK^T`` and ``AV`` stay fp32) as an integer product:

- weights: symmetric 7-bit per output column (``[-63, 63]``), stored int8: with uint8
  activations the AVX2 ``u8 x s8`` pair sums stay below int16 saturation, so the vectors are
  the same on CPUs with and without VNNI;
- activations: symmetric 8-bit per token (one scale per row of ``X``, zero point 128), computed
  at run time. Per *token*, not per tensor, so a text's vector never depends on the other
  texts of its batch or on padding (a per-tensor dynamic scale, as ONNX Runtime's
  ``quantize_dynamic`` uses, would);
- ``MatMulInteger`` (ONNX Runtime's u8 x s8 kernels: VNNI where the CPU has it, AVX2
  otherwise), then the int32 sums times the column scale and the row scale.

Layers that share an input (query, key and value) quantize it once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint.onnx_folder import INT8_FILE, INT8_FULL_FILE, METADATA_FILE
from ..errors import UnsupportedModelError

INT8_FULL_SCHEME = (
    "int8 encoder and head: weights 7-bit per output column, activations 8-bit per token "
    "(dynamic, symmetric), attention products fp32"
)
_EPS = 1e-8


def write_int8_full(int8_head_path: Path, out_path: Path, onnx: Any) -> int:
    """Rewrite the encoder's weight products of ``int8_head_path`` in int8 into ``out_path``.

    Returns how many products were rewritten.
    """
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(int8_head_path))
    inits = {init.name: init for init in model.graph.initializer}
    targets = [
        node
        for node in model.graph.node
        if node.op_type == "MatMul"
        and node.input[1] in inits
        and len(inits[node.input[1]].dims) == 2
        and node.input[0] not in inits
    ]
    if not targets:
        raise UnsupportedModelError("int8-full export: no weight products found in the encoder")
    const = [
        numpy_helper.from_array(np.array([-1], np.int64), "sq_axes_last"),
        numpy_helper.from_array(np.array([-1], np.int64), "sq_flat_rows"),
        numpy_helper.from_array(np.array([0], np.int64), "sq_zero_1d"),
        numpy_helper.from_array(np.array(_EPS, np.float32), "sq_eps"),
        numpy_helper.from_array(np.array(1.0 / 127.0, np.float32), "sq_inv127"),
        numpy_helper.from_array(np.array(128, np.uint8), "sq_zp_a"),
        numpy_helper.from_array(np.array(0, np.int8), "sq_zp_b"),
    ]
    prepared: dict[str, list[Any]] = {}  # input name -> nodes quantizing it (emitted once)
    replace: dict[str, list[Any]] = {}
    for i, node in enumerate(targets):
        x, w_name = node.input[0], node.input[1]
        weight = numpy_helper.to_array(inits[w_name]).astype(np.float32)  # (K, N)
        k, n = weight.shape
        scale = np.maximum(np.abs(weight).max(axis=0), 1e-12) / 63.0  # per output column
        q = np.clip(np.round(weight / scale[None, :]), -63, 63).astype(np.int8)
        const += [
            numpy_helper.from_array(q, f"sq_w_{i}"),
            numpy_helper.from_array(scale.astype(np.float32), f"sq_ws_{i}"),
            numpy_helper.from_array(np.array([n], np.int64), f"sq_n_{i}"),
        ]
        tag = f"sq_in_{len(prepared)}" if x not in prepared else None
        nodes: list[Any] = []
        if tag is not None:
            const.append(numpy_helper.from_array(np.array([k], np.int64), f"sq_k_{i}"))
            nodes = [
                helper.make_node("Abs", [x], [f"{tag}_abs"]),
                helper.make_node(
                    "ReduceMax", [f"{tag}_abs", "sq_axes_last"], [f"{tag}_amax"], keepdims=1
                ),
                helper.make_node("Max", [f"{tag}_amax", "sq_eps"], [f"{tag}_amax_pos"]),
                helper.make_node("Mul", [f"{tag}_amax_pos", "sq_inv127"], [f"{tag}_scale"]),
                helper.make_node("Shape", [x], [f"{tag}_shape"]),
                helper.make_node(
                    "Slice", [f"{tag}_shape", "sq_zero_1d", "sq_axes_last"], [f"{tag}_prefix"]
                ),
                helper.make_node("Reshape", [f"{tag}_scale", "sq_flat_rows"], [f"{tag}_rows"]),
                helper.make_node("Shape", [f"{tag}_rows"], [f"{tag}_m"]),
                helper.make_node("Expand", ["sq_zp_a", f"{tag}_m"], [f"{tag}_zp"]),
                helper.make_node(
                    "Concat", ["sq_flat_rows", f"sq_k_{i}"], [f"{tag}_flat_shape"], axis=0
                ),
                helper.make_node("Reshape", [x, f"{tag}_flat_shape"], [f"{tag}_flat"]),
                helper.make_node(
                    "QuantizeLinear", [f"{tag}_flat", f"{tag}_rows", f"{tag}_zp"], [f"{tag}_q"],
                    axis=0,
                ),
                helper.make_node("Unsqueeze", [f"{tag}_rows", "sq_axes_last"], [f"{tag}_col"]),
            ]
            prepared[x] = nodes
            name = tag
        else:
            name = prepared[x][0].output[0][: -len("_abs")]
        out = node.output[0]
        nodes += [
            helper.make_node(
                "MatMulInteger", [f"{name}_q", f"sq_w_{i}", "sq_zp_a", "sq_zp_b"], [f"sq_i_{i}"]
            ),
            helper.make_node("Cast", [f"sq_i_{i}"], [f"sq_f_{i}"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"sq_f_{i}", f"sq_ws_{i}"], [f"sq_fw_{i}"]),
            helper.make_node("Mul", [f"sq_fw_{i}", f"{name}_col"], [f"sq_fr_{i}"]),
            helper.make_node(
                "Concat", [f"{name}_prefix", f"sq_n_{i}"], [f"sq_shape_{i}"], axis=0
            ),
            helper.make_node("Reshape", [f"sq_fr_{i}", f"sq_shape_{i}"], [out]),
        ]
        replace[node.name or out] = nodes
    rewritten: list[Any] = []
    for node in model.graph.node:
        rewritten.extend(replace.get(node.name or node.output[0], [node]))
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    for node in targets:
        if node.input[1] in inits:
            model.graph.initializer.remove(inits.pop(node.input[1]))
    model.graph.initializer.extend(const)
    onnx.save(model, str(out_path))
    return len(targets)


def update_int8_full(
    folder: Path, wanted: bool, files: dict[str, str], details: dict[str, Any], onnx: Any
) -> None:
    """Write ``model_int8_full.onnx`` from the folder's ``model_int8.onnx`` and record it in
    ``files`` and ``details`` when ``wanted``; else remove a stale one of an earlier export."""
    if not wanted:
        (folder / INT8_FULL_FILE).unlink(missing_ok=True)
        return
    products = write_int8_full(folder / INT8_FILE, folder / INT8_FULL_FILE, onnx)
    files["int8-full"] = INT8_FULL_FILE
    details["int8-full"] = {"scheme": INT8_FULL_SCHEME, "products": products}


def add_int8_full(folder: Path, onnx: Any) -> None:
    """Write ``model_int8_full.onnx`` beside an existing int8 export and record it in the
    folder's metadata (exports cached before int8-full existed)."""
    staging = folder / f".{INT8_FULL_FILE}.{os.getpid()}.tmp"
    products = write_int8_full(folder / INT8_FILE, staging, onnx)
    os.replace(staging, folder / INT8_FULL_FILE)
    meta_path = folder / METADATA_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("files", {})["int8-full"] = INT8_FULL_FILE
    meta["precisions"] = sorted(meta["files"])
    meta["int8-full"] = {"scheme": INT8_FULL_SCHEME, "products": products}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


__all__ = ["INT8_FULL_SCHEME", "add_int8_full", "update_int8_full", "write_int8_full"]
