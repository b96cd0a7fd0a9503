"""The int8 head of an exported graph: static activation range, 7-bit per-row weights.

Only the MLM head (the part that dominates small models) is quantized. One static activation
range, calibrated at export, keeps a text's vector independent of the rest of its batch, which a
dynamic per-batch scale would not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import UnsupportedModelError

if TYPE_CHECKING:
    import onnx

Batch = tuple[NDArray[np.int64], NDArray[np.int64]]
WEIGHT_PREFIX = "splade_head_weight_"
INT8_SCHEME = "int8 head: weights per vocabulary row, activations per tensor (static range)"

# Texts whose head activations set the int8 activation range. Written for spladekit: a spread of
# domains, lengths, numbers and punctuation, so that the range covers what real text produces.
CALIBRATION_TEXTS = (
    "What is the capital of France?",
    "how do vaccines train the immune system",
    "Paris is the capital and most populous city of France, with an estimated population of "
    "2.1 million residents in 2023.",
    "The mitochondrion is the powerhouse of the cell: it produces ATP through oxidative "
    "phosphorylation in the inner membrane.",
    "Patients receiving 20 mg/day of the drug showed a 35% reduction in systolic blood pressure "
    "compared with placebo (p < 0.01).",
    "def binary_search(items, target): return bisect.bisect_left(items, target)",
    "The court ruled that the contract was void because one party lacked the capacity to sign.",
    "Quarterly revenue rose 12 percent to $4.3 billion, beating analyst expectations.",
    "Heat the oven to 200 degrees, whisk two eggs with sugar, and fold in the flour gently.",
    "The striker scored twice in the second half as the home team won 3-1.",
    "Photosynthesis converts carbon dioxide and water into glucose using light energy.",
    "Error: connection refused on port 5432; is the PostgreSQL server running?",
    "In 1969, Apollo 11 landed on the Moon and Neil Armstrong became the first person to walk "
    "on its surface.",
    "Symptoms include fever, dry cough, fatigue and, in severe cases, shortness of breath.",
    "The GDPR requires data controllers to report breaches within 72 hours.",
    "Transformers use self-attention to weigh the relevance of every token to every other "
    "token in a sequence.",
    "who wrote pride and prejudice",
    "Mutations in the BRCA1 gene increase the lifetime risk of breast and ovarian cancer.",
    "The river floods every spring when snow melts in the mountains upstream.",
    "Install the package with pip, then run the command line tool with --help.",
    "A randomized controlled trial of 1,200 adults found no effect of vitamin D on fracture risk.",
    "Glaciers in the Alps have lost more than half of their volume since 1900.",
    "best budget laptop for students 2024",
    "The enzyme's activity depends on temperature and pH, peaking near 37 C and pH 7.4.",
)

# -- int8 head -----------------------------------------------------------------------------------


def tokenize(tokenizer: Any, texts: Sequence[str]) -> list[Batch]:
    """Padded (input_ids, attention_mask) batches of 16 texts."""
    batches = []
    for start in range(0, len(texts), 16):
        enc = tokenizer(
            list(texts[start : start + 16]), padding=True, truncation=True, max_length=512,
            return_tensors="np",
        )
        batches.append(
            (enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64))
        )
    return batches


def _head_nodes(model: onnx.ModelProto) -> list[Any]:
    """The head's MatMul nodes, in slice order (their weight is a named head initializer)."""
    found = {
        node.input[0]: node
        for node in model.graph.node
        if node.op_type == "MatMul" and node.input[0].startswith(WEIGHT_PREFIX)
    }
    nodes = [found[name] for name in sorted(found, key=lambda n: int(n[len(WEIGHT_PREFIX) :]))]
    if not nodes:
        raise UnsupportedModelError("int8 export: the head's MatMul nodes were not found")
    if len({node.input[1] for node in nodes}) != 1:
        raise UnsupportedModelError("int8 export: the head slices do not share one input")
    return nodes


def activation_range(
    fp32_path: Path, batches: list[Batch], onnx: Any, ort: Any
) -> tuple[float, float]:
    """Min and max of the head's input over the calibration texts (padding copies a real row)."""
    model = onnx.load(str(fp32_path))
    name = _head_nodes(model)[0].input[1]
    output = onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
    model.graph.output.append(output)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    lo = hi = 0.0
    for ids, mask in batches:
        values = session.run([name], {"input_ids": ids, "attention_mask": mask})[0]
        lo, hi = min(lo, float(values.min())), max(hi, float(values.max()))
    return lo, hi


def write_int8_head(fp32_path: Path, int8_path: Path, lo: float, hi: float, onnx: Any) -> None:
    """Rewrite each head slice ``MatMul(W, X)`` -> ``ReduceMax`` as an int8 product.

    Weights: symmetric 7-bit per vocabulary row, stored as uint8 around 64. Activations: int8
    with one static range, so a text's vector never depends on the rest of its batch (dynamic
    quantization's per-batch scale would). With uint8 values <= 127 against int8 ones, the
    AVX2 u8 x s8 pair sums stay below int16 saturation (full 8-bit weights measurably
    saturate). Row scales are positive, so they move after the max: (B, V) work, not (B, V, L).
    """
    from onnx import helper, numpy_helper

    model = onnx.load(str(fp32_path))
    nodes = _head_nodes(model)
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    inits = {init.name: init for init in model.graph.initializer}
    columns = nodes[0].input[1]

    a_scale = np.float32(max(hi - lo, 1e-6) / 255.0)
    a_zero = np.int8(np.clip(np.round(-128.0 - lo / a_scale), -128, 127))
    new_inits = [
        numpy_helper.from_array(np.array(a_scale, np.float32), "splade_q_act_scale"),
        numpy_helper.from_array(np.array(a_zero, np.int8), "splade_q_act_zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "splade_q_one"),
        numpy_helper.from_array(np.array(64, np.uint8), "splade_q_weight_zero"),
    ]
    quantize = helper.make_node(
        "QuantizeLinear",
        [columns, "splade_q_act_scale", "splade_q_act_zero"],
        ["splade_q_columns"],
        name="splade_q_columns",
    )
    replace: dict[str, list[Any]] = {}
    for i, node in enumerate(nodes):
        weight = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)  # (V_i, H)
        scale = np.maximum(np.abs(weight).max(axis=1), 1e-12) / 63.0
        q = np.clip(np.round(weight / scale[:, None]), -63, 63) + 64
        reduce = [c for c in consumers.get(node.output[0], []) if c.op_type == "ReduceMax"]
        if len(reduce) != 1 or len(consumers[node.output[0]]) != 1:
            raise UnsupportedModelError("int8 export: a head slice is not followed by its max")
        new_inits += [
            numpy_helper.from_array(q.astype(np.uint8), f"splade_q_weight_{i}"),
            numpy_helper.from_array(scale.astype(np.float32), f"splade_q_weight_scale_{i}"),
        ]
        replace[node.name] = [
            helper.make_node(
                "MatMulIntegerToFloat",
                [
                    f"splade_q_weight_{i}", "splade_q_columns", "splade_q_one",
                    "splade_q_act_scale", "splade_q_weight_zero", "splade_q_act_zero",
                ],
                [f"splade_q_logits_{i}"],
                name=f"splade_q_logits_{i}",
                domain="com.microsoft",
            )
        ]
        old = reduce[0]
        new_reduce = helper.make_node(
            "ReduceMax", [f"splade_q_logits_{i}", *old.input[1:]], [f"splade_q_max_{i}"],
            name=f"splade_q_max_{i}",
        )
        new_reduce.attribute.extend(old.attribute)
        replace[old.name] = [
            new_reduce,
            helper.make_node(
                "Mul", [f"splade_q_max_{i}", f"splade_q_weight_scale_{i}"], list(old.output),
                name=f"splade_q_rescale_{i}",
            ),
        ]
        model.graph.initializer.remove(inits[node.input[0]])
    rewritten: list[Any] = []
    for node in model.graph.node:
        if node.name in replace:
            if quantize not in rewritten:
                rewritten.append(quantize)  # just before the first head node
            rewritten.extend(replace[node.name])
        else:
            rewritten.append(node)
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    model.graph.initializer.extend(new_inits)
    if not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(int8_path))


__all__ = [
    "CALIBRATION_TEXTS",
    "INT8_SCHEME",
    "WEIGHT_PREFIX",
    "Batch",
    "activation_range",
    "tokenize",
    "write_int8_head",
]
