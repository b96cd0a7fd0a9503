"""spladekit: SPLADE sparse vectors, correct and fast, wired into Milvus.

This module is a table of contents: names resolve lazily so that ``import spladekit`` loads
neither torch nor transformers nor pymilvus until something that needs them is used.

Where things live:

- encoding: :mod:`.encoder` (SpladeEncoder), :mod:`.compat` (SpladeEmbeddingFunction),
  :mod:`.options` (EncoderConfig), :mod:`.pooling` (the SPLADE formula), :mod:`.backends`;
- vectors: :mod:`.vectors` (SparseVectors, to_milvus_rows, decoding);
- storing and searching: :mod:`.store` (MilvusStore, MemoryStore), :mod:`.retrieval`;
- serving: :mod:`.serve` (the HTTP service), :mod:`.client` (SpladeClient, remote encoding);
- evaluation: :mod:`.evaluate`; ONNX export: :mod:`.onnx`; the command line: :mod:`.cli`;
- encoding profiles (plain, query, document): :mod:`.profiles`;
- corpora (records, inputs, line shards, Parquet): :mod:`.corpus`; indexing on Ray:
  :mod:`.distributed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    ClusterError,
    InputTypeError,
    InvalidArgumentError,
    MalformedVectorsError,
    MissingDependencyError,
    ModelMismatchError,
    ModelNotAvailableError,
    ServiceError,
    SpladeError,
    StoreError,
    UnsupportedModelError,
)

# Eager, and light (the standard library and spladekit.corpus): the function ``evaluate`` shares
# its name with the module spladekit.evaluate, and importing that module later would otherwise
# put the module where the function should be.
from .evaluate import BeirDataset, EvalReport, evaluate, load_beir
from .lazy import lazy_getattr

_LAZY = {
    "SpladeEncoder": "encoder",
    "EncodeStats": "encoder",
    "Encoded": "encoder",
    "EncoderConfig": "options",
    "SpladeEmbeddingFunction": "compat",
    "KNOWN_MODELS": "checkpoint.known",
    "DEFAULT_MODEL": "checkpoint.known",
    "ModelIdentity": "checkpoint.identity",
    "SparseVectors": "vectors",
    "to_milvus_rows": "vectors",
    "decode_rows": "vectors",
    "MilvusStore": "store.milvus",
    "MemoryStore": "store.memory",
    "Store": "store.base",
    "SearchOptions": "store.base",
    "Hit": "store.base",
    "StoredDocument": "store.base",
    "Retriever": "retrieval",
    "IndexReport": "retrieval",
    "SpladeClient": "client",
    "build_inference_free": "inference_free",
    "ModelDescription": "checkpoint.description",
    "RouteDescription": "checkpoint.description",
    "PoolingSpec": "checkpoint.spec",
    "export_onnx": "onnx.export",
    "cached_export": "onnx.export",
    "index_on_ray": "distributed.jobs",
    "encode_on_ray": "distributed.jobs",
    "RayOptions": "distributed.runtime",
    "RayIndexReport": "distributed.jobs",
    "RayEncodeReport": "distributed.jobs",
    "RetryPolicy": "distributed.retry",
    "Record": "corpus.records",
    "Explanation": "retrieval",
    "ExplainedHit": "retrieval",
    "UpsertResult": "store.base",
    "EncodingProfile": "profiles",
    "ServeConfig": "serve.config",
    "create_app": "serve.app",
}

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "BeirDataset",
    "ClusterError",
    "EncodeStats",
    "Encoded",
    "EncoderConfig",
    "EncodingProfile",
    "EvalReport",
    "ExplainedHit",
    "Explanation",
    "Hit",
    "IndexReport",
    "InputTypeError",
    "InvalidArgumentError",
    "MalformedVectorsError",
    "MemoryStore",
    "MilvusStore",
    "MissingDependencyError",
    "ModelDescription",
    "ModelIdentity",
    "ModelMismatchError",
    "ModelNotAvailableError",
    "PoolingSpec",
    "RayEncodeReport",
    "RayIndexReport",
    "RayOptions",
    "Record",
    "Retriever",
    "RetryPolicy",
    "RouteDescription",
    "SearchOptions",
    "ServeConfig",
    "ServiceError",
    "SparseVectors",
    "SpladeClient",
    "SpladeEmbeddingFunction",
    "SpladeEncoder",
    "SpladeError",
    "Store",
    "StoreError",
    "StoredDocument",
    "UnsupportedModelError",
    "UpsertResult",
    "__version__",
    "build_inference_free",
    "cached_export",
    "create_app",
    "decode_rows",
    "encode_on_ray",
    "evaluate",
    "export_onnx",
    "index_on_ray",
    "load_beir",
    "to_milvus_rows",
]

if TYPE_CHECKING:
    from .checkpoint.description import ModelDescription, RouteDescription
    from .checkpoint.identity import ModelIdentity
    from .checkpoint.known import DEFAULT_MODEL, KNOWN_MODELS
    from .checkpoint.spec import PoolingSpec
    from .client import SpladeClient
    from .compat import SpladeEmbeddingFunction
    from .corpus.records import Record
    from .distributed.jobs import RayEncodeReport, RayIndexReport, encode_on_ray, index_on_ray
    from .distributed.retry import RetryPolicy
    from .distributed.runtime import RayOptions
    from .encoder import Encoded, EncodeStats, SpladeEncoder
    from .inference_free import build_inference_free
    from .onnx.export import cached_export, export_onnx
    from .options import EncoderConfig
    from .profiles import EncodingProfile
    from .retrieval import ExplainedHit, Explanation, IndexReport, Retriever
    from .serve.app import create_app
    from .serve.config import ServeConfig
    from .store.base import Hit, SearchOptions, Store, StoredDocument, UpsertResult
    from .store.memory import MemoryStore
    from .store.milvus import MilvusStore
    from .vectors import SparseVectors, decode_rows, to_milvus_rows


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
