"""SPLADE sparse vectors for llama-index's Milvus vector store.

::

    from llama_index.vector_stores.milvus import MilvusVectorStore
    from spladekit.integrations.llamaindex import SpladeSparseEmbeddingFunction

    store = MilvusVectorStore(
        uri="./llamaindex.db",
        dim=384,                      # your dense model's width
        enable_sparse=True,
        sparse_embedding_function=SpladeSparseEmbeddingFunction(
            "naver/splade-cocondenser-ensembledistil"
        ),
        hybrid_ranker="RRFRanker",
    )

Install with ``pip install "spladekit[llamaindex]"``. llama-index-vector-stores-milvus needs
pymilvus < 3: install it in an environment of its own if another framework needs pymilvus 3.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .common import (
    DEFAULT_MODEL,
    ModelLike,
    document_rows,
    missing_framework,
    query_rows,
    resolve_encoder,
)

try:
    from llama_index.vector_stores.milvus.utils import BaseSparseEmbeddingFunction
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_framework("llamaindex", "llama-index-vector-stores-milvus", error) from error


class SpladeSparseEmbeddingFunction(BaseSparseEmbeddingFunction):  # type: ignore[misc]
    """A ``MilvusVectorStore`` sparse embedding function backed by spladekit.

    ``model`` is a model name or folder (``**encoder_options`` as for
    :class:`~spladekit.SpladeEncoder`), or an existing ``SpladeEncoder``,
    ``SpladeEmbeddingFunction`` or ``SpladeClient``. Returns ``{index: weight}`` rows, the form
    the store indexes as ``[0]`` of the result. The store itself encodes one node per call when
    it inserts; every list it passes is encoded in one call. The async variants run the same
    work in a thread, off the event loop.
    """

    def __init__(self, model: ModelLike = DEFAULT_MODEL, **encoder_options: Any) -> None:
        self.encoder = resolve_encoder(model, encoder_options)

    def encode_queries(self, queries: list[str]) -> list[dict[int, float]]:
        """One ``{index: weight}`` row per query (the encoder's query side)."""
        return query_rows(self.encoder, queries)

    def encode_documents(self, documents: list[str]) -> list[dict[int, float]]:
        """One ``{index: weight}`` row per document (the encoder's document side)."""
        return document_rows(self.encoder, documents)

    async def async_encode_queries(self, queries: list[str]) -> list[dict[int, float]]:
        """:meth:`encode_queries` in a worker thread."""
        return await asyncio.to_thread(self.encode_queries, queries)

    async def async_encode_documents(self, documents: list[str]) -> list[dict[int, float]]:
        """:meth:`encode_documents` in a worker thread."""
        return await asyncio.to_thread(self.encode_documents, documents)


__all__ = ["SpladeSparseEmbeddingFunction"]
