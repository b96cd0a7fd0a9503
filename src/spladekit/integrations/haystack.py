"""Haystack components that embed with SPLADE: text (queries) and documents.

::

    from haystack import Pipeline
    from milvus_haystack import MilvusDocumentStore
    from milvus_haystack.milvus_embedding_retriever import MilvusSparseEmbeddingRetriever
    from spladekit.integrations.haystack import SpladeSparseTextEmbedder

    query = Pipeline()
    embedder = SpladeSparseTextEmbedder("naver/splade-cocondenser-ensembledistil")
    query.add_component("embedder", embedder)
    query.add_component("retriever", MilvusSparseEmbeddingRetriever(document_store=store))
    query.connect("embedder.sparse_embedding", "retriever.query_sparse_embedding")

Install with ``pip install "spladekit[haystack]"``. Haystack's own
``HuggingFaceTEISparseTextEmbedder`` / ``...DocumentEmbedder`` also work unchanged against
``spladekit serve`` (its ``/embed_sparse`` is TEI's).
"""

# No ``from __future__ import annotations``: Haystack reads ``run``'s annotations as types.

import asyncio
import dataclasses
import os
from typing import Any

from ..errors import InputTypeError, InvalidArgumentError
from ..retrieval import DocumentEncoder
from ..vectors import Row
from .common import DEFAULT_MODEL, document_rows, missing_framework, query_rows, resolve_encoder

try:
    from haystack import Document, component, default_from_dict, default_to_dict
    from haystack.dataclasses import SparseEmbedding
except ImportError as error:  # pragma: no cover - exercised without the extra installed
    raise missing_framework("haystack", "haystack-ai", error) from error


def _sparse_embedding(row: Row) -> SparseEmbedding:
    indices = sorted(row)
    return SparseEmbedding(indices=indices, values=[float(row[i]) for i in indices])


class _SpladeComponent:
    """What both components share: the model, loaded on ``warm_up``, and serialisation."""

    def __init__(
        self,
        model: Any = DEFAULT_MODEL,
        *,
        encoder_options: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> None:
        options = dict(encoder_options or {})
        if url is not None:
            if not isinstance(url, str):
                raise InputTypeError(f"url must be a str, got {type(url).__name__}")
            from ..client import SpladeClient

            model = SpladeClient(url, **options)
            options = {}
        self._model = model
        self._options = options
        self._url = url
        self._encoder: DocumentEncoder | None = None
        if not isinstance(model, (str, os.PathLike)):
            self._encoder = resolve_encoder(model, options)

    def warm_up(self) -> None:
        """Load the model (Haystack calls this before a pipeline runs; ``run`` does too)."""
        _ = self.encoder

    @property
    def encoder(self) -> DocumentEncoder:
        """The encoder in use (loaded on first use)."""
        if self._encoder is None:
            self._encoder = resolve_encoder(self._model, self._options)
        return self._encoder

    def to_dict(self) -> dict[str, Any]:
        """The component as a pipeline file records it."""
        if self._url is not None:
            return default_to_dict(self, model=DEFAULT_MODEL, encoder_options=None, url=self._url)
        if not isinstance(self._model, (str, os.PathLike)):
            raise InvalidArgumentError(
                f"{type(self).__name__} built from an existing {type(self._model).__name__} "
                "cannot be serialised (its options are not known): build it with a model name, "
                "encoder_options and/or url to put it in a pipeline file"
            )
        return default_to_dict(
            self, model=os.fspath(self._model), encoder_options=self._options or None, url=None
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The component from :meth:`to_dict`'s form."""
        return default_from_dict(cls, data)


@component
class SpladeSparseTextEmbedder(_SpladeComponent):
    """Embeds one text (a query) into a Haystack ``SparseEmbedding``, with the encoder's query
    side (``encode_queries``).

    ``model``: a model name or folder (``encoder_options`` as for
    :class:`~spladekit.SpladeEncoder`), or an existing ``SpladeEncoder``,
    ``SpladeEmbeddingFunction`` or ``SpladeClient``; ``url``: encode on a ``spladekit serve``
    service instead (``encoder_options`` then go to :class:`~spladekit.SpladeClient`).
    """

    @component.output_types(sparse_embedding=SparseEmbedding)  # type: ignore[untyped-decorator]
    def run(self, text: str) -> dict[str, SparseEmbedding]:
        """``{"sparse_embedding": SparseEmbedding}`` of ``text``."""
        if not isinstance(text, str):
            raise InputTypeError(
                f"{type(self).__name__} takes a str, got {type(text).__name__}; to embed "
                "Documents use SpladeSparseDocumentEmbedder"
            )
        return {"sparse_embedding": _sparse_embedding(query_rows(self.encoder, [text])[0])}

    @component.output_types(sparse_embedding=SparseEmbedding)  # type: ignore[untyped-decorator]
    async def run_async(self, text: str) -> dict[str, SparseEmbedding]:
        """:meth:`run` in a worker thread, for ``Pipeline.run_async``."""
        return await asyncio.to_thread(self.run, text)


@component
class SpladeSparseDocumentEmbedder(_SpladeComponent):
    """Sets ``sparse_embedding`` on copies of Documents (the inputs are left as they were),
    with the encoder's document side (``encode_documents``), all the documents in one call.

    Options as for :class:`SpladeSparseTextEmbedder`. A document without content is embedded
    as an empty text; one that encodes to no weight gets a placeholder vector Milvus accepts.
    """

    @component.output_types(documents=list[Document])  # type: ignore[untyped-decorator]
    def run(self, documents: list[Document]) -> dict[str, list[Document]]:
        """``{"documents": [...]}``: the documents, each copied with its sparse embedding."""
        if isinstance(documents, (str, Document)) or not isinstance(documents, list):
            raise InputTypeError(
                f"{type(self).__name__} takes a list of Documents, got "
                f"{type(documents).__name__}; to embed a str use SpladeSparseTextEmbedder"
            )
        for i, doc in enumerate(documents):
            if not isinstance(doc, Document):
                raise InputTypeError(
                    f"documents must be Documents, got {type(doc).__name__} at position {i}"
                )
        rows = document_rows(self.encoder, [doc.content or "" for doc in documents])
        return {
            "documents": [
                dataclasses.replace(doc, sparse_embedding=_sparse_embedding(row))
                for doc, row in zip(documents, rows, strict=True)
            ]
        }

    @component.output_types(documents=list[Document])  # type: ignore[untyped-decorator]
    async def run_async(self, documents: list[Document]) -> dict[str, list[Document]]:
        """:meth:`run` in a worker thread, for ``Pipeline.run_async``."""
        return await asyncio.to_thread(self.run, documents)


__all__ = ["SpladeSparseDocumentEmbedder", "SpladeSparseTextEmbedder"]
