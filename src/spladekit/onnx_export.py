"""Export a SPLADE masked-LM to ONNX with the pooling inside the graph (optional int8 head).

The exported graph maps ``input_ids`` and ``attention_mask`` (int64, dynamic batch and length)
to ``splade``: finished (batch, vocab) float32 weights ``max_t log1p(relu(logits[t]))`` over real
tokens, so ONNX users never see (batch, length, vocab) logits. The output folder is loadable
without the Hub: ``SpladeEncoder(folder, backend="onnx")``.

Layout of an exported folder::

    model.onnx            fp32 graph (standard ONNX operators)
    model_int8.onnx       with quantize="int8": the MLM head in int8 (ONNX Runtime operators)
    config.json           the source model's configuration
    tokenizer files       tokenizer.json, tokenizer_config.json, ...
    spladekit_onnx.json   what this folder holds: precisions, opset, source model, versions
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .errors import InvalidArgumentError, MissingDependencyError, UnsupportedModelError
from .models import load_masked_lm, load_tokenizer, resolve_model_dir, split_load_kwargs

if TYPE_CHECKING:
    import onnx
    import torch

FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
METADATA_FILE = "spladekit_onnx.json"
MODEL_FILES = {"fp32": FP32_FILE, "int8": INT8_FILE}
QUANTIZATIONS = ("int8",)
FORMAT_VERSION = 1
DEFAULT_OPSET = 18
# The dynamo exporter emits opset 18 or newer; ONNX Runtime 1.18 (our floor) runs up to 21.
OPSETS = range(18, 22)
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "splade"
Batch = tuple[NDArray[np.int64], NDArray[np.int64]]

# The head is split into vocabulary slices of this many rows: each slice's (batch, slice, length)
# logits are reduced before the next slice is computed, so ONNX Runtime's peak memory is an
# eighth of whole-vocabulary logits (measured: 1.3 GB -> 0.5 GB at 16 x 512 tokens), at no cost
# in speed.
VOCAB_SLICE = 4096
_WEIGHT_PREFIX = "splade_head_weight_"
# Tolerance of the post-export check of the fp32 graph against torch.
FP32_TOLERANCE = 1e-4

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

# Texts of different lengths (so one batch has padding) for the post-export check.
_PROBE_TEXTS = (
    "a short query",
    "A longer passage about proteins, which fold into shapes that decide what they do.",
    "x",
)

_BUILTIN_NOTE = "int8 head: weights per vocabulary row, activations per tensor (static range)"


def export_onnx(
    model_name_or_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    quantize: str | None = None,
    opset: int = DEFAULT_OPSET,
    calibration_texts: Sequence[str] | None = None,
    **load_kwargs: Any,
) -> Path:
    """Export a BERT/DistilBERT SPLADE checkpoint to ``out_dir``; returns the folder.

    ``quantize="int8"`` also writes ``model_int8.onnx``, whose MLM head runs in int8 (the part
    that dominates small models); ``calibration_texts`` add to the built-in texts that set the
    int8 activation range. ``load_kwargs`` go to model resolution and loading, as for
    ``SpladeEncoder``. Files of an earlier export in ``out_dir`` are replaced.
    """
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise InvalidArgumentError(
            f"quantize must be None or one of {', '.join(map(repr, QUANTIZATIONS))}; "
            f"got {quantize!r}"
        )
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in OPSETS:
        raise InvalidArgumentError(
            f"opset must be an integer from {OPSETS.start} to {OPSETS.stop - 1}; got {opset!r}"
        )
    texts = _check_calibration(calibration_texts)
    onnx, ort = _import_onnx_tools()
    hub_kwargs, model_kwargs = split_load_kwargs(load_kwargs)
    model_dir = resolve_model_dir(model_name_or_path, **hub_kwargs)
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"out_dir {str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = load_tokenizer(model_dir)
    model = load_masked_lm(model_dir, **model_kwargs).float()
    module = _pooling_module(model)
    fp32_path = out / FP32_FILE
    max_length = int(getattr(model.config, "max_position_embeddings", 512) or 512)
    _torch_export(module, fp32_path, opset, max_length)
    _check_against_torch(module, fp32_path, _tokenize(tokenizer, _PROBE_TEXTS), ort)
    tokenizer.save_pretrained(str(out))
    model.config.save_pretrained(str(out))

    files = {"fp32": FP32_FILE}
    details: dict[str, Any] = {}
    int8_path = out / INT8_FILE
    if quantize == "int8":
        batches = _tokenize(tokenizer, [*CALIBRATION_TEXTS, *texts])
        lo, hi = _activation_range(fp32_path, batches, onnx, ort)
        _write_int8_head(fp32_path, int8_path, lo, hi, onnx)
        files["int8"] = INT8_FILE
        details["int8"] = {
            "scheme": _BUILTIN_NOTE,
            "activation_range": [lo, hi],
            "calibration_texts": len(CALIBRATION_TEXTS) + len(texts),
        }
    elif int8_path.exists():
        int8_path.unlink()  # a stale int8 graph from an earlier export would not match
    _write_metadata(out, model_name_or_path, model, opset, files, details)
    return out


def cached_export(model_dir: Path) -> Path:
    """Export ``model_dir`` (fp32 and int8) once into the user cache and return that folder.

    The cache key covers the folder's path, its weight files' sizes and times, and the export
    format, so a changed checkpoint is exported again.
    """
    key = _cache_key(model_dir)
    root = _cache_root()
    target = root / key
    if (target / METADATA_FILE).is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        export_onnx(model_dir, staging, quantize="int8")
        try:
            staging.rename(target)
        except OSError:
            if not (target / METADATA_FILE).is_file():  # not a concurrent export that won
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# -- the pooled module -------------------------------------------------------------------------


def _split(model: Any) -> tuple[Any, Any, Any]:
    from .backends.torch_backend import _split_mlm

    try:
        return _split_mlm(model)
    except InvalidArgumentError as exc:
        raise UnsupportedModelError(f"ONNX export: {exc}") from exc


def _pooling_module(model: Any) -> torch.nn.Module:
    """Wrap a masked-LM as input_ids, attention_mask -> (batch, vocab) SPLADE weights."""
    import torch

    encoder, transform, decoder = _split(model)

    class SpladePooling(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # registers the parameters that the encoder closures use
            weight = decoder.weight.detach().float()
            bias = decoder.bias
            # Untied, contiguous copies per vocabulary slice: with tied embeddings the head
            # would read a transposed view of the embedding table, which quantizers skip.
            self.slices = (weight.shape[0] + VOCAB_SLICE - 1) // VOCAB_SLICE
            for i in range(self.slices):
                part = weight[i * VOCAB_SLICE : (i + 1) * VOCAB_SLICE].clone()
                self.register_buffer(f"{_WEIGHT_PREFIX}{i}", part)
            self.register_buffer(
                "splade_head_bias",
                bias.detach().float().clone() if bias is not None else torch.zeros(weight.shape[0]),
            )

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = transform(encoder(input_ids, attention_mask))  # (B, L, H)
            # Padding positions take a copy of the first real position: a duplicate cannot
            # change a max, so the logits need no masking pass.
            first = attention_mask.argmax(dim=1).view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
            hidden = torch.where(
                attention_mask.unsqueeze(-1) > 0, hidden, torch.gather(hidden, 1, first)
            )
            # (V, H) @ (B, H, L): the max then runs over the innermost axis, which ONNX
            # Runtime reduces ~2-3x faster than the middle axis of (B, L, V).
            columns = hidden.transpose(1, 2)
            maxima = [
                torch.matmul(self.get_buffer(f"{_WEIGHT_PREFIX}{i}"), columns).amax(dim=2)
                for i in range(self.slices)
            ]
            # max_t(x_t + b) = max_t(x_t) + b, and log1p(relu(.)) is monotonic.
            pooled = torch.cat(maxima, dim=1) + self.get_buffer("splade_head_bias")
            return torch.log1p(torch.relu(pooled))

    return SpladePooling().eval()


def _torch_export(module: torch.nn.Module, path: Path, opset: int, max_length: int) -> None:
    import torch

    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as exc:
        raise MissingDependencyError(
            'ONNX export needs onnxscript: pip install "spladekit[onnx]"'
        ) from exc
    ids = torch.tensor([[101, 2054, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0]])
    mask = (ids != 0).long()
    batch = torch.export.Dim("batch")
    length = torch.export.Dim("length", max=max_length)
    shapes = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
    weights = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    with warnings.catch_warnings():
        # The exporter warns about its own internals, nothing the caller can act on.
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            (ids, mask),
            dynamo=True,
            dynamic_shapes=shapes,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            verbose=False,
        )
    if program is None:  # only the legacy exporter returns None
        raise UnsupportedModelError("torch.onnx.export returned no program")
    # One self-contained file unless protobuf's 2 GB limit forces external weights.
    program.save(str(path), external_data=weights > 1_800_000_000)


def _check_against_torch(
    module: torch.nn.Module,
    path: Path,
    batches: list[Batch],
    ort: Any,
) -> None:
    """Refuse an exported graph that does not reproduce torch's vectors (catches exporter bugs)."""
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for ids, mask in batches:
        with torch.inference_mode():
            want = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        got = session.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})[0]
        diff = float(np.abs(got - want).max())
        if not diff <= FP32_TOLERANCE:
            raise UnsupportedModelError(
                f"the exported ONNX graph differs from the torch model by {diff:.3g} "
                f"(tolerance {FP32_TOLERANCE}); this model cannot be exported faithfully"
            )


# -- int8 head -----------------------------------------------------------------------------------


def _tokenize(tokenizer: Any, texts: Sequence[str]) -> list[Batch]:
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
        if node.op_type == "MatMul" and node.input[0].startswith(_WEIGHT_PREFIX)
    }
    nodes = [found[name] for name in sorted(found, key=lambda n: int(n[len(_WEIGHT_PREFIX) :]))]
    if not nodes:
        raise UnsupportedModelError("int8 export: the head's MatMul nodes were not found")
    if len({node.input[1] for node in nodes}) != 1:
        raise UnsupportedModelError("int8 export: the head slices do not share one input")
    return nodes


def _activation_range(
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


def _write_int8_head(fp32_path: Path, int8_path: Path, lo: float, hi: float, onnx: Any) -> None:
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


# -- files, cache, dependencies ------------------------------------------------------------------


def _write_metadata(
    out: Path,
    source: str | os.PathLike[str],
    model: Any,
    opset: int,
    files: dict[str, str],
    details: dict[str, Any],
) -> None:
    from . import __version__

    meta = {
        "format": "spladekit-onnx",
        "format_version": FORMAT_VERSION,
        "source_model": os.fspath(source),
        "model_type": model.config.model_type,
        "vocab_size": int(model.config.vocab_size),
        "opset": opset,
        "precisions": sorted(files),
        "files": files,
        "inputs": list(INPUT_NAMES),
        "output": OUTPUT_NAME,
        "pooling": "max over real tokens of log1p(relu(logits)); (batch, vocab) float32",
        "spladekit_version": __version__,
        **details,
    }
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _check_calibration(texts: Sequence[str] | None) -> list[str]:
    if texts is None:
        return []
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise InvalidArgumentError("calibration_texts must be a list of str")
    return list(texts)


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spladekit" / "onnx"


def _cache_key(model_dir: Path) -> str:
    from . import __version__

    folder = model_dir.resolve()
    parts = [str(folder), __version__, str(FORMAT_VERSION), str(DEFAULT_OPSET)]
    for path in sorted(folder.iterdir()):
        if path.is_file():
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return f"{folder.name}-{digest}"


def _import_onnx_tools() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError(
            f'ONNX export needs onnx and onnxruntime ({exc.name} is missing): '
            'pip install "spladekit[onnx]"'
        ) from exc
    return onnx, onnxruntime


__all__ = ["METADATA_FILE", "MODEL_FILES", "QUANTIZATIONS", "cached_export", "export_onnx"]
