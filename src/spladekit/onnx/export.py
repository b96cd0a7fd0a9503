"""Export a SPLADE masked-LM to ONNX with the pooling inside the graph (optional int8 head).

The exported graph maps ``input_ids`` and ``attention_mask`` (int64, dynamic batch and length)
to ``splade``: finished (batch, vocab) float32 weights ``max_t f(logits[t])`` over real tokens,
with ``f`` the model's activation (``log1p(relu(x))``, or one more log1p for ``log1p_relu``), so
ONNX users never see (batch, length, vocab) logits. Sum pooling is refused (use the torch
backend). The pooling is :mod:`spladekit.pooling`'s (the same model split, padding rule and
activation as the torch backend). The output folder (see :mod:`spladekit.onnx.layout`) loads
without the Hub: ``SpladeEncoder(folder)``.
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

from ..errors import InvalidArgumentError, MissingDependencyError, UnsupportedModelError, first_line
from ..layout import PoolingSpec, read_spec
from ..models import (
    FINGERPRINT_KEY,
    load_masked_lm,
    load_tokenizer,
    model_fingerprint,
    resolve_model_dir,
    split_load_kwargs,
)
from ..validation import text_list
from .families import export_family
from .layout import (
    FORMAT_VERSION,
    FP32_FILE,
    INPUT_NAMES,
    INT8_FILE,
    INT8_FULL_FILE,
    METADATA_FILE,
    OUTPUT_NAME,
)
from .quantize import (
    CALIBRATION_TEXTS,
    INT8_SCHEME,
    WEIGHT_PREFIX,
    Batch,
    activation_range,
    tokenize,
    write_int8_head,
)
from .quantize_full import add_int8_full, update_int8_full

if TYPE_CHECKING:
    import torch

    from ..options import Activation

QUANTIZATIONS = ("int8", "int8-full")
DEFAULT_OPSET = 18
# The dynamo exporter emits opset 18 or newer; ONNX Runtime 1.18 (our floor) runs up to 21.
OPSETS = range(18, 22)

# The head is split into vocabulary slices of this many rows: each slice's (batch, slice, length)
# logits are reduced before the next slice is computed, so ONNX Runtime's peak memory is an
# eighth of whole-vocabulary logits (measured: 1.3 GB -> 0.5 GB at 16 x 512 tokens), at no cost
# in speed. A slice's buffer is (tokens in the batch) x VOCAB_SLICE elements whatever the
# vocabulary: a 250k vocabulary makes more slices, not larger ones.
VOCAB_SLICE = 4096
# Tolerance of the post-export check of the fp32 graph against torch.
FP32_TOLERANCE = 1e-4

# Texts of different lengths (so one batch has padding) for the post-export check.
_PROBE_TEXTS = (
    "a short query",
    "A longer passage about proteins, which fold into shapes that decide what they do.",
    "x",
)


def export_onnx(
    model_name_or_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    quantize: str | None = None,
    opset: int = DEFAULT_OPSET,
    calibration_texts: Sequence[str] | None = None,
    pooling: PoolingSpec | None = None,
    **load_kwargs: Any,
) -> Path:
    """Export a SPLADE masked-LM checkpoint to ``out_dir``; returns the folder.

    Every supported backbone exports (BERT, DistilBERT, RoBERTa, XLM-RoBERTa, CamemBERT,
    ModernBERT); a model the exporter cannot trace is refused naming its type, and a graph that
    does not reproduce torch's vectors is refused too. ``pooling`` is the model's
    :class:`PoolingSpec` (default: max pooling of ``log1p(relu(x))``); its activation goes into
    the graph and the metadata, and sum pooling is refused (the torch backend runs it).

    ``quantize="int8"`` also writes ``model_int8.onnx``, whose MLM head runs in int8 (the part
    that dominates small models); ``quantize="int8-full"`` also ``model_int8_full.onnx``, every
    linear layer in int8 (:mod:`spladekit.onnx.quantize_full`: the opt-in fast mode);
    ``calibration_texts`` add to the built-in texts that set the int8 head's activation range.
    ``load_kwargs`` go to model loading, as for ``SpladeEncoder``; earlier files are replaced.
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
    texts = [] if calibration_texts is None else text_list(calibration_texts, "calibration_texts")
    onnx, ort = _import_onnx_tools()
    hub_kwargs, model_kwargs = split_load_kwargs(load_kwargs)
    model_dir = resolve_model_dir(model_name_or_path, **hub_kwargs)
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"out_dir {str(out)!r} exists and is not a folder")
    spec = read_spec(model_dir)
    if spec.layout != "huggingface":
        # A sentence-transformers, Router or idf.json folder: its layout is kept and each
        # masked-LM module is exported with its own route's pooling.
        if pooling is not None:
            raise InvalidArgumentError(
                f"{str(model_dir)!r} says how each route pools ({spec.document}); pass pooling "
                "only for a plain masked-LM folder"
            )
        if model_dir.resolve() in out.resolve().parents or out.resolve() == model_dir.resolve():
            raise InvalidArgumentError(f"out_dir {str(out)!r} must lie outside the model folder")
        out.mkdir(parents=True, exist_ok=True)

        def one(folder: Path, target: Path, route_pooling: PoolingSpec) -> None:
            _export_masked_lm(
                folder, target, folder, quantize, opset, texts, _check_pooling(route_pooling),
                model_kwargs, onnx, ort,
            )

        export_family(spec, out, one)
        if not (out / METADATA_FILE).is_file():
            _write_family_marker(out, model_name_or_path, spec.layout)
        return out
    out.mkdir(parents=True, exist_ok=True)
    _export_masked_lm(
        model_dir, out, model_name_or_path, quantize, opset, texts,
        _check_pooling(pooling or getattr(spec.document, "pooling", None)), model_kwargs, onnx,
        ort,
    )
    return out


def _export_masked_lm(
    model_dir: Path,
    out: Path,
    model_name_or_path: str | os.PathLike[str],
    quantize: str | None,
    opset: int,
    texts: list[str],
    pooling: PoolingSpec,
    model_kwargs: dict[str, Any],
    onnx: Any,
    ort: Any,
) -> None:
    """One masked-LM folder -> ``out``: the graph, its check against torch, config, tokenizer."""
    tokenizer = load_tokenizer(model_dir)
    model = load_masked_lm(model_dir, **model_kwargs).float()
    module = _pooling_module(model, pooling.activation)
    fp32_path = out / FP32_FILE
    probes = tokenize(tokenizer, _PROBE_TEXTS)
    _torch_export(module, fp32_path, opset, _max_length(model.config), probes[0],
                  model.config.model_type)
    _check_against_torch(module, fp32_path, probes, ort)
    tokenizer.save_pretrained(str(out))
    model.config.save_pretrained(str(out))

    files = {"fp32": FP32_FILE}
    details: dict[str, Any] = {
        FINGERPRINT_KEY: model_fingerprint(model_dir),
        "pooling": f"{pooling.describe()}; (batch, vocab) float32",
        "pooling_strategy": pooling.strategy,
        "activation": pooling.activation,
    }
    int8_path = out / INT8_FILE
    if quantize in QUANTIZATIONS:
        batches = tokenize(tokenizer, [*CALIBRATION_TEXTS, *texts])
        lo, hi = activation_range(fp32_path, batches, onnx, ort)
        write_int8_head(fp32_path, int8_path, lo, hi, onnx)
        files["int8"] = INT8_FILE
        details["int8"] = {
            "scheme": INT8_SCHEME,
            "activation_range": [lo, hi],
            "calibration_texts": len(CALIBRATION_TEXTS) + len(texts),
        }
    elif int8_path.exists():
        int8_path.unlink()  # a stale int8 graph from an earlier export would not match
    update_int8_full(out, quantize == "int8-full", files, details, onnx)
    _write_metadata(out, model_name_or_path, model, opset, files, details)


def cached_export(model_name_or_path: str | os.PathLike[str], **load_kwargs: Any) -> Path:
    """Export a model (fp32, int8 and int8-full) once into the user cache and return that folder.

    ``~/.cache/spladekit/onnx`` (or ``$XDG_CACHE_HOME``); the cache key covers the folder's
    path, its files' sizes and times, and the export format, so a changed checkpoint is
    exported again. Load the result like any model: ``SpladeEncoder(cached_export(model))``.
    """
    hub_kwargs, _ = split_load_kwargs(load_kwargs)
    model_dir = resolve_model_dir(model_name_or_path, **hub_kwargs)
    key = _cache_key(model_dir)
    root = _cache_root()
    target = root / key
    if (target / METADATA_FILE).is_file():
        if not (target / INT8_FULL_FILE).is_file() and (target / INT8_FILE).is_file():
            add_int8_full(target, _import_onnx_tools()[0])  # cached before int8-full existed
        return target
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        export_onnx(model_dir, staging, quantize="int8-full", **load_kwargs)
        try:
            staging.rename(target)
        except OSError:
            if not (target / METADATA_FILE).is_file():  # not a concurrent export that won
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# -- the pooled module -------------------------------------------------------------------------


def _check_pooling(pooling: PoolingSpec | None) -> PoolingSpec:
    from ..layout import DEFAULT_POOLING

    if pooling is None:
        return DEFAULT_POOLING
    if not isinstance(pooling, PoolingSpec):
        raise InvalidArgumentError(
            f"pooling must be a spladekit.pooling.PoolingSpec or None, got "
            f"{type(pooling).__name__}"
        )
    if pooling.strategy != "max":
        raise UnsupportedModelError(
            f"sum pooling is not supported by the ONNX export (the model pools with "
            f"{pooling.describe()}): use backend='torch' for this model"
        )
    return pooling


def _max_length(config: Any) -> int:
    """The longest input the position table allows (RoBERTa's starts at padding_idx + 1)."""
    from ..pooling import ROBERTA_FAMILY

    positions = int(getattr(config, "max_position_embeddings", 512) or 512)
    if config.model_type in ROBERTA_FAMILY:
        positions -= int(config.pad_token_id) + 1
    return positions


def _pooling_module(model: Any, activation: Activation = "relu") -> torch.nn.Module:
    """Wrap a masked-LM as input_ids, attention_mask -> (batch, vocab) SPLADE weights."""
    import torch

    from ..pooling import activate, pad_with_first_real, split_mlm

    try:
        parts = split_mlm(model)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(f"ONNX export: {exc}") from exc

    class SpladePooling(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # registers the parameters that the encoder closures use
            weight = parts.weight.float()
            # Untied, contiguous copies per vocabulary slice: with tied embeddings the head
            # would read a transposed view of the embedding table, which quantizers skip.
            self.slices = (weight.shape[0] + VOCAB_SLICE - 1) // VOCAB_SLICE
            for i in range(self.slices):
                part = weight[i * VOCAB_SLICE : (i + 1) * VOCAB_SLICE].clone()
                self.register_buffer(f"{WEIGHT_PREFIX}{i}", part)
            self.register_buffer("splade_head_bias", parts.bias.float().clone())

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = parts.transform(parts.encoder(input_ids, attention_mask))  # (B, L, H)
            hidden = pad_with_first_real(hidden, attention_mask)
            # (V, H) @ (B, H, L): the max then runs over the innermost axis, which ONNX
            # Runtime reduces ~2-3x faster than the middle axis of (B, L, V).
            columns = hidden.transpose(1, 2)
            maxima = [
                torch.matmul(self.get_buffer(f"{WEIGHT_PREFIX}{i}"), columns).amax(dim=2)
                for i in range(self.slices)
            ]
            bias = self.get_buffer("splade_head_bias")
            return activate(torch.cat(maxima, dim=1), bias, activation)

    return SpladePooling().eval()


def _torch_export(
    module: torch.nn.Module,
    path: Path,
    opset: int,
    max_length: int,
    example: Batch,
    model_type: str,
) -> None:
    import torch

    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as exc:
        raise MissingDependencyError(
            'ONNX export needs onnxscript: pip install "spladekit[onnx]"'
        ) from exc
    # A padded batch from the model's own tokenizer (ids within its vocabulary, its pad id).
    ids, mask = (torch.from_numpy(a) for a in example)
    batch = torch.export.Dim("batch")
    length = torch.export.Dim("length", max=max_length)
    shapes = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
    weights = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    try:
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
    except Exception as exc:  # the exporter raises many types; none is the caller's to handle
        raise UnsupportedModelError(
            f"ONNX export cannot trace this {model_type} model ({type(exc).__name__}: "
            f"{first_line(exc, 'no detail')[:300]}); use backend='torch' for it"
        ) from exc
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


# -- files, cache, dependencies ------------------------------------------------------------------


def _write_metadata(
    out: Path,
    source: str | os.PathLike[str],
    model: Any,
    opset: int,
    files: dict[str, str],
    details: dict[str, Any],
) -> None:
    from .._version import __version__

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
        "spladekit_version": __version__,
        **details,
    }
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _write_family_marker(out: Path, source: str | os.PathLike[str], layout: str) -> None:
    """Mark a Router export's root (its graphs live in the route folders) as a finished export."""
    from .._version import __version__

    meta = {
        "format": "spladekit-onnx",
        "format_version": FORMAT_VERSION,
        "source_model": os.fspath(source),
        "layout": layout,
        "graphs": sorted(str(p.parent.relative_to(out)) for p in out.rglob(FP32_FILE)),
        "spladekit_version": __version__,
    }
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "spladekit" / "onnx"


def _cache_key(model_dir: Path) -> str:
    from .._version import __version__

    folder = model_dir.resolve()
    parts = [str(folder), __version__, str(FORMAT_VERSION), str(DEFAULT_OPSET)]
    for path in sorted(folder.rglob("*")):  # route subfolders of a Router model too
        if path.is_file():
            stat = path.stat()
            parts.append(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}")
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


__all__ = ["DEFAULT_OPSET", "OPSETS", "QUANTIZATIONS", "cached_export", "export_onnx"]
