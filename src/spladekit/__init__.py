"""spladekit: SPLADE sparse vectors, correct and fast, wired into Milvus.

This module is a table of contents: names resolve lazily so that ``import spladekit`` loads
neither torch nor transformers nor pymilvus until something that needs them is used.

Where things live:

- what a model is (its folder, family, identity, description): :mod:`.checkpoint`;
- encoding: :mod:`.encoder` (SpladeEncoder), :mod:`.encoding` (what crosses the seam),
  :mod:`.embedding_function` (SpladeEmbeddingFunction), :mod:`.options` (EncoderConfig),
  :mod:`.pooling` (the SPLADE formula), :mod:`.backends`;
- vectors: :mod:`.vectors` (SparseVectors, to_milvus_rows, decoding);
- storing and searching: :mod:`.store` (MilvusStore, MemoryStore), :mod:`.retrieval`;
- serving: :mod:`.serve` (the HTTP service), :mod:`.client` (SpladeClient, remote encoding);
- evaluation: :mod:`.evaluation`; ONNX export: :mod:`.onnx`; the command line: :mod:`.cli`;
- encoding profiles (plain, query, document): :mod:`.profiles`;
- corpora (records, inputs, line shards, Parquet): :mod:`.corpus`; indexing on Ray:
  :mod:`.distributed`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    BrokenCheckpointError,
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
from .lazy import lazy_getattr

_LAZY = {
    "evaluate": "evaluation",
    "load_beir": "evaluation",
    "BeirDataset": "evaluation",
    "EvalReport": "evaluation",
    "SpladeEncoder": "encoder",
    "EncodeStats": "encoding",
    "Encoded": "encoding",
    "EncoderConfig": "options",
    "SpladeEmbeddingFunction": "embedding_function",
    "KNOWN_MODELS": "checkpoint.known",
    "DEFAULT_MODEL": "checkpoint.known",
    "ModelIdentity": "checkpoint.identity",
    "SparseVectors": "vectors",
    "to_milvus_rows": "vectors",
    "decode_rows": "vectors",
    "MilvusStore": "store.milvus",
    "MemoryStore": "store.memory",
    "Store": "store.protocol",
    "StoreConfig": "store.config",
    "SearchOptions": "store.protocol",
    "Hit": "store.protocol",
    "StoredDocument": "store.protocol",
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
    "UpsertResult": "store.protocol",
    "EncodingProfile": "profiles",
    "ServeConfig": "serve.config",
    "create_app": "serve.app",
}

__all__ = [
    "DEFAULT_MODEL",
    "KNOWN_MODELS",
    "BeirDataset",
    "BrokenCheckpointError",
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
    "StoreConfig",
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
    from .corpus.records import Record
    from .distributed.jobs import RayEncodeReport, RayIndexReport, encode_on_ray, index_on_ray
    from .distributed.retry import RetryPolicy
    from .distributed.runtime import RayOptions
    from .embedding_function import SpladeEmbeddingFunction
    from .encoder import SpladeEncoder
    from .encoding import Encoded, EncodeStats
    from .evaluation import BeirDataset, EvalReport, evaluate, load_beir
    from .inference_free import build_inference_free
    from .onnx.export import cached_export, export_onnx
    from .options import EncoderConfig
    from .profiles import EncodingProfile
    from .retrieval import ExplainedHit, Explanation, IndexReport, Retriever
    from .serve.app import create_app
    from .serve.config import ServeConfig
    from .store.config import StoreConfig
    from .store.memory import MemoryStore
    from .store.milvus import MilvusStore
    from .store.protocol import Hit, SearchOptions, Store, StoredDocument, UpsertResult
    from .vectors import SparseVectors, decode_rows, to_milvus_rows


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
