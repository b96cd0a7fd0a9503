"""Export a SPLADE masked-LM to ONNX with the pooling inside the graph (optional int8 head).

The exported graph maps ``input_ids`` and ``attention_mask`` (int64, dynamic batch and length)
to ``splade``: finished (batch, vocab) float32 weights ``max_t f(logits[t])`` over real tokens,
with ``f`` the model's activation (``log1p(relu(x))``, or one more log1p for ``log1p_relu``), so
ONNX users never see (batch, length, vocab) logits. Sum pooling is refused (use the torch
backend). The pooling is :mod:`spladekit.pooling`'s (the same model split, padding rule and
activation as the torch backend). The output folder (see
:mod:`spladekit.checkpoint.onnx_folder`) loads without the Hub: ``SpladeEncoder(folder)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoint.families import family_of_type
from ..checkpoint.fingerprint import FINGERPRINT_KEY, file_digest, model_fingerprint
from ..checkpoint.loading import (
    load_masked_lm,
    load_tokenizer,
    resolve_model_dir,
    split_load_kwargs,
)
from ..checkpoint.onnx_folder import (
    FORMAT_VERSION,
    FP32_FILE,
    INPUT_NAMES,
    INT8_FILE,
    INT8_FULL_FILE,
    METADATA_FILE,
    OUTPUT_NAME,
)
from ..checkpoint.reader import read_spec
from ..checkpoint.spec import PoolingSpec
from ..errors import InvalidArgumentError, MissingDependencyError, UnsupportedModelError
from ..validation import text_list
from .graph import (
    check_against_torch,
    check_pooling,
    max_length,
    pooling_module,
    torch_export,
)
from .mirror import export_layout
from .quantize import (
    CALIBRATION_TEXTS,
    INT8_SCHEME,
    activation_range,
    tokenize,
    write_int8_head,
)
from .quantize_full import add_int8_full, update_int8_full

if TYPE_CHECKING:

    pass

QUANTIZATIONS = ("int8", "int8-full")
DEFAULT_OPSET = 18
# The dynamo exporter emits opset 18 or newer; ONNX Runtime 1.18 (our floor) runs up to 21.
OPSETS = range(18, 22)

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
        (out / METADATA_FILE).unlink(missing_ok=True)  # the finished-export marker goes last

        def one(folder: Path, target: Path, route_pooling: PoolingSpec) -> None:
            _export_masked_lm(
                folder, target, folder, quantize, opset, texts, check_pooling(route_pooling),
                model_kwargs, onnx, ort,
            )

        export_layout(spec, out, one)
        if not (out / METADATA_FILE).is_file():
            _write_layout_marker(out, model_name_or_path, spec.layout)
        return out
    out.mkdir(parents=True, exist_ok=True)
    mlms = spec.document.masked_lms()
    _export_masked_lm(
        model_dir, out, model_name_or_path, quantize, opset, texts,
        check_pooling(pooling or (mlms[0].pooling if mlms else None)), model_kwargs, onnx,
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
    """One masked-LM folder -> ``out``: the graph, its check against torch, config, tokenizer.

    An earlier export's metadata goes first and the new metadata is written last, so a run
    stopped half-way leaves a folder that no longer loads as an export (never the old
    export's identity over the new graph)."""
    (out / METADATA_FILE).unlink(missing_ok=True)
    tokenizer = load_tokenizer(model_dir)
    model = load_masked_lm(model_dir, **model_kwargs).float()
    family = family_of_type(model.config.model_type)
    if not family.onnx:
        raise UnsupportedModelError(
            f"ONNX export does not support {family.name} models ({model.config.model_type}); "
            "use backend='torch' for this model"
        )
    module = pooling_module(model, pooling.activation)
    fp32_path = out / FP32_FILE
    probes = tokenize(tokenizer, _PROBE_TEXTS)
    torch_export(module, fp32_path, opset, max_length(model.config), probes[0],
                  model.config.model_type)
    check_against_torch(module, fp32_path, probes, ort)
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

    ``~/.cache/spladekit/onnx`` (or ``$XDG_CACHE_HOME``); the cache key covers the content of
    every file of the folder (digests cached as :mod:`spladekit.checkpoint.fingerprint` caches
    them) and the export format, so a changed checkpoint is exported again, whatever its files'
    times. Load the result like any model: ``SpladeEncoder(cached_export(model))``.
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


def _write_layout_marker(out: Path, source: str | os.PathLike[str], layout: str) -> None:
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

    # By content: every file's digest (weights, config, tokenizer, module configs), so a
    # changed checkpoint is exported again even where its files kept their sizes and times.
    folder = model_dir.resolve()
    parts = [__version__, str(FORMAT_VERSION), str(DEFAULT_OPSET)]
    for path in sorted(folder.rglob("*")):  # route subfolders of a Router model too
        if path.is_file():
            parts.append(f"{path.relative_to(folder)}:{file_digest(path)}")
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
