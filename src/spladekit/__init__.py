"""spladekit: SPLADE sparse vectors, correct and fast, wired into Milvus.

This module is a table of contents: names resolve lazily so that ``import spladekit`` loads
neither torch nor transformers nor pymilvus until something that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    InputTypeError,
    InvalidArgumentError,
    MissingDependencyError,
    ModelNotAvailableError,
    SpladeError,
    StoreError,
    UnsupportedModelError,
)

__version__ = "0.1.0"

_LAZY = {
    "SpladeEncoder": "encoder",
    "EncodeStats": "encoder",
    "SpladeEmbeddingFunction": "compat",
    "KNOWN_MODELS": "models",
    "DEFAULT_MODEL": "models",
    "to_milvus_rows": "sparse",
    "decode_rows": "sparse",
    "MilvusStore": "milvus",
    "Hit": "milvus",
    "StoredDocument": "milvus",
    "Retriever": "retrieval",
    "IndexReport": "retrieval",
    "export_onnx": "onnx_export",
}

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "EncodeStats",
    "Hit",
    "IndexReport",
    "InputTypeError",
    "InvalidArgumentError",
    "MilvusStore",
    "MissingDependencyError",
    "ModelNotAvailableError",
    "Retriever",
    "SpladeEmbeddingFunction",
    "SpladeEncoder",
    "SpladeError",
    "StoreError",
    "StoredDocument",
    "UnsupportedModelError",
    "__version__",
    "decode_rows",
    "export_onnx",
    "to_milvus_rows",
]

if TYPE_CHECKING:
    from .compat import SpladeEmbeddingFunction
    from .encoder import EncodeStats, SpladeEncoder
    from .milvus import Hit, MilvusStore, StoredDocument
    from .models import DEFAULT_MODEL, KNOWN_MODELS
    from .onnx_export import export_onnx
    from .retrieval import IndexReport, Retriever
    from .sparse import decode_rows, to_milvus_rows


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spladekit' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
