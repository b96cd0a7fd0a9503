"""What an exported ONNX folder holds, and how to find its files: all that loading one needs.

Layout of an exported folder::

    model.onnx            fp32 graph (standard ONNX operators)
    model_int8.onnx       with quantize="int8": the MLM head in int8 (ONNX Runtime operators)
    model_int8_full.onnx  with quantize="int8-full": every linear layer in int8 (the fast mode)
    config.json           the source model's configuration
    tokenizer files       tokenizer.json, tokenizer_config.json, ...
    spladekit_onnx.json   what this folder holds: precisions, opset, source model, fingerprint
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import ModelNotAvailableError

FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
INT8_FULL_FILE = "model_int8_full.onnx"
METADATA_FILE = "spladekit_onnx.json"
MODEL_FILES = {"fp32": FP32_FILE, "int8": INT8_FILE, "int8-full": INT8_FULL_FILE}
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAME = "splade"
FORMAT_VERSION = 1


def has_torch_weights(folder: Path) -> bool:
    """Whether ``folder`` holds torch weights (safetensors or pickled)."""
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def is_onnx_folder(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` holds a finished spladekit ONNX export (its graph and, written
    last, its metadata) and no torch weights.

    The encoder uses this to pick ``backend="onnx"`` by itself for exported folders. A folder
    whose export stopped half-way has no metadata, and is not taken for an export.
    """
    path = Path(folder)
    has_onnx = (path / FP32_FILE).is_file() or (path / INT8_FILE).is_file()
    finished = (path / METADATA_FILE).is_file()
    return has_onnx and finished and not has_torch_weights(path)


def model_file(folder: Path, precision: str) -> Path:
    """The ONNX file in ``folder`` for ``precision``, or an error saying how to make it."""
    wanted = folder / MODEL_FILES[precision]
    if wanted.is_file():
        return wanted
    quantize = f", quantize={precision!r}" if precision != "fp32" else ""
    if (folder / METADATA_FILE).is_file() or (folder / FP32_FILE).is_file():
        raise ModelNotAvailableError(
            f"{str(folder)!r} holds an ONNX export without a {precision} model "
            f"({MODEL_FILES[precision]}); export it again: "
            f"spladekit.export_onnx(SOURCE_MODEL, {str(folder)!r}{quantize})"
        )
    raise ModelNotAvailableError(
        f"{str(folder)!r} holds no ONNX export (no {MODEL_FILES[precision]}); export it once, "
        f"with spladekit.export_onnx(model, out_dir{quantize}) and load out_dir, or with "
        "spladekit.cached_export(model), which exports into the user cache and returns the folder"
    )


def read_metadata(folder: Path) -> dict[str, Any]:
    """The export's ``spladekit_onnx.json`` ({} for a folder without one)."""
    path = folder / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(f"cannot read {str(path)!r}: {exc}") from exc
    return data if isinstance(data, dict) else {}


__all__ = [
    "FORMAT_VERSION",
    "FP32_FILE",
    "INPUT_NAMES",
    "INT8_FILE",
    "INT8_FULL_FILE",
    "METADATA_FILE",
    "MODEL_FILES",
    "OUTPUT_NAME",
    "has_torch_weights",
    "is_onnx_folder",
    "model_file",
    "read_metadata",
]
