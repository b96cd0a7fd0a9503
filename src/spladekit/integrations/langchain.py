"""SPLADE sparse embeddings for LangChain's Milvus vector store (``langchain_milvus``).

::

    from langchain_milvus import Milvus
    from spladekit.integrations.langchain import SpladeSparseEmbedding, lite_search_params

    sparse = SpladeSparseEmbedding("naver/splade-cocondenser-ensembledistil")
    store = Milvus(
        embedding_function=sparse,
        connection_args={"uri": "./langchain.db"},
        vector_field="sparse",
        search_params=lite_search_params(sparse),  # what Milvus Lite accepts
        auto_id=True,
    )

Install with ``pip install "spladekit[langchain]"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .common import (
    DEFAULT_MODEL,
    SPARSE_SEARCH_PARAMS,
    ModelLike,
    document_rows,
    missing_framework,
    query_rows,
    resolve_encoder,
)

try:
    from langchain_milvus.utils.sparse import BaseSparseEmbedding
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_framework("langchain", "langchain-milvus", error) from error


class SpladeSparseEmbedding(BaseSparseEmbedding):  # type: ignore[misc]
    """A ``langchain_milvus`` sparse embedding backed by spladekit.

    ``model`` is a model name or folder (``**encoder_options`` as for
    :class:`~spladekit.SpladeEncoder`: ``batch_size``, ``device``, ``backend``...), or an
    existing ``SpladeEncoder``, ``SpladeEmbeddingFunction`` or ``SpladeClient``. Queries are
    encoded with its ``encode_queries``, documents with ``encode_documents``, a whole list per
    call. ``aembed_query``/``aembed_documents`` are the base class's: they run these in an
    executor, off the event loop.
    """

    def __init__(self, model: ModelLike = DEFAULT_MODEL, **encoder_options: Any) -> None:
        self.encoder = resolve_encoder(model, encoder_options)

    def embed_query(self, query: str) -> dict[int, float]:
        """The query's ``{index: weight}`` vector."""
        if not isinstance(query, str):
            from ..errors import InputTypeError

            raise InputTypeError(f"query must be a str, got {type(query).__name__}")
        return query_rows(self.encoder, [query])[0]

    def embed_documents(self, texts: Sequence[str]) -> list[dict[int, float]]:
        """One ``{index: weight}`` vector per text, in order."""
        return document_rows(self.encoder, texts)


def lite_search_params(
    embedding_function: object, *, dense_metric: str = "L2"
) -> dict[str, Any] | list[dict[str, Any]]:
    """``search_params`` for ``Milvus(...)`` that Milvus Lite 3.x accepts.

    Pass the same ``embedding_function`` (one, or the list) given to ``Milvus``; the result is
    one dict per vector field, in that order. langchain-milvus's default search params for a
    sparse field carry ``drop_ratio_build``, which Lite refuses at every search; a sparse field
    gets ``{"metric_type": "IP", "params": {}}`` instead. A dense field gets ``dense_metric``
    (``"L2"``, langchain-milvus's default index metric; give yours if ``index_params`` set
    another) with no parameters.
    """
    functions = embedding_function if isinstance(embedding_function, list) else [embedding_function]
    params = [
        dict(SPARSE_SEARCH_PARAMS, params={})
        if isinstance(f, BaseSparseEmbedding)
        else {"metric_type": dense_metric, "params": {}}
        for f in functions
    ]
    return params if isinstance(embedding_function, list) else params[0]


__all__ = ["SpladeSparseEmbedding", "lite_search_params"]
