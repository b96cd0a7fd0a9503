"""What the framework adapters share: where the vectors come from, and rows in Milvus's form.

An adapter takes a model name (or folder) with encoder options, or an object that already
encodes: a :class:`~spladekit.SpladeEncoder`, a :class:`~spladekit.SpladeEmbeddingFunction` or
a :class:`~spladekit.SpladeClient`. Queries always go through its ``encode_queries`` and
documents through its ``encode_documents`` (each side may be encoded differently), one call
per list of texts: the encoder batches inside the call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..checkpoint.known import DEFAULT_MODEL
from ..errors import InputTypeError, InvalidArgumentError, MissingDependencyError
from ..retrieval import DocumentEncoder
from ..store.schema import SPARSE_METRIC, stored_vector
from ..validation import text_list
from ..vectors import Row, to_milvus_rows

# What Milvus Lite 3.x accepts for a sparse (SPLADE) field searched by inner product: no
# ``drop_ratio_search`` and no ``drop_ratio_build``, which the frameworks' defaults carry.
SPARSE_SEARCH_PARAMS: dict[str, Any] = {"metric_type": SPARSE_METRIC, "params": {}}

ModelLike = str | os.PathLike[str] | DocumentEncoder


def missing_framework(framework: str, package: str, error: ImportError) -> MissingDependencyError:
    """The error for a framework that is not installed, with the command that installs it."""
    return MissingDependencyError(
        f"spladekit.integrations.{framework} needs {package}, which could not be imported "
        f"({error}); install it with: pip install \"spladekit[{framework}]\""
    )


def resolve_encoder(model: object, options: Mapping[str, Any]) -> DocumentEncoder:
    """An encoder from a model name or folder and options, or the encoder object given."""
    if isinstance(model, (str, os.PathLike)):
        from ..encoder import SpladeEncoder

        return SpladeEncoder(model, **dict(options))
    if callable(getattr(model, "encode_queries", None)) and callable(
        getattr(model, "encode_documents", None)
    ):
        if options:
            raise InvalidArgumentError(
                f"encoder options ({', '.join(sorted(options))}) apply to a model name, not to "
                f"an existing {type(model).__name__}; set them where it was built"
            )
        return model  # type: ignore[return-value]
    raise InputTypeError(
        "model must be a model name or folder, or a SpladeEncoder, SpladeEmbeddingFunction or "
        f"SpladeClient; got {type(model).__name__}"
    )


def query_rows(encoder: DocumentEncoder, queries: object) -> list[Row]:
    """``{index: weight}`` rows of the queries, in order (one ``encode_queries`` call)."""
    texts = text_list(queries, "queries")
    if not texts:
        return []
    return to_milvus_rows(encoder.encode_queries(texts), "query vectors")


def document_rows(encoder: DocumentEncoder, documents: object) -> list[Row]:
    """``{index: weight}`` rows of the documents, in order (one ``encode_documents`` call);
    a document without any weight gets the collection placeholder MilvusStore stores
    (:func:`spladekit.store.schema.stored_vector`), since Milvus Lite refuses empty vectors."""
    texts = text_list(documents, "documents")
    if not texts:
        return []
    rows = to_milvus_rows(encoder.encode_documents(texts), "document vectors")
    return [stored_vector(row)[0] for row in rows]


__all__ = [
    "DEFAULT_MODEL",
    "SPARSE_SEARCH_PARAMS",
    "ModelLike",
    "document_rows",
    "missing_framework",
    "query_rows",
    "resolve_encoder",
]
