"""SpladeEmbeddingFunction: the pymilvus-compatible face of :class:`SpladeEncoder`.

Replace ``from pymilvus.model.sparse import SpladeEmbeddingFunction`` with
``from spladekit import SpladeEmbeddingFunction``; the constructor and methods are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scipy.sparse import csr_array

from .encoder import Progress, SpladeEncoder, check_texts
from .errors import InputTypeError
from .models import DEFAULT_MODEL


class SpladeEmbeddingFunction:
    """Drop-in for ``pymilvus.model.sparse.SpladeEmbeddingFunction``.

    ``**kwargs`` go to model loading (``revision``, ``token``, ``cache_dir``,
    ``local_files_only``, ``dtype``/``torch_dtype``...); the hub ones reach the tokenizer too.
    The keyword-only arguments are spladekit's additions.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        batch_size: int = 32,
        query_instruction: str = "",
        doc_instruction: str = "",
        device: str = "cpu",
        k_tokens_query: int | None = None,
        k_tokens_document: int | None = None,
        *,
        query_max_length: int | None = None,
        document_max_length: int | None = None,
        threshold: float = 0.0,
        backend: str | None = None,
        precision: str = "fp32",
        long_documents: str = "truncate",
        **kwargs: Any,
    ) -> None:
        for name, value in (
            ("query_instruction", query_instruction),
            ("doc_instruction", doc_instruction),
        ):
            if not isinstance(value, str):
                raise InputTypeError(f"{name} must be a str, got {type(value).__name__}")
        for name, k in (
            ("k_tokens_query", k_tokens_query),
            ("k_tokens_document", k_tokens_document),
        ):
            if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
                raise InputTypeError(f"{name} must be a positive int or None, got {k!r}")
        self.model_name = model_name
        self.query_instruction = query_instruction
        self.doc_instruction = doc_instruction
        self.k_tokens_query = k_tokens_query
        self.k_tokens_document = k_tokens_document
        self.encoder = SpladeEncoder(
            model_name,
            device=device,
            batch_size=batch_size,
            query_max_length=query_max_length,
            document_max_length=document_max_length,
            threshold=threshold,
            backend=backend,
            precision=precision,
            long_documents=long_documents,
            **kwargs,
        )

    def __call__(self, texts: Sequence[str]) -> csr_array:
        """Encode with neither instruction nor top-k, at the documents' max length."""
        return self.encoder.encode(check_texts(texts), max_length=self.encoder.document_max_length)

    def encode_documents(
        self, documents: Sequence[str], *, progress: Progress | None = None
    ) -> csr_array:
        """Encode documents: ``doc_instruction`` prepended, top ``k_tokens_document`` kept."""
        return self.encoder.encode(
            check_texts(documents, "documents"),
            max_length=self.encoder.document_max_length,
            top_k=self.k_tokens_document,
            prefix=self.doc_instruction,
            progress=progress,
        )

    def encode_queries(
        self, queries: Sequence[str], *, progress: Progress | None = None
    ) -> csr_array:
        """Encode queries: ``query_instruction`` prepended, top ``k_tokens_query`` kept."""
        return self.encoder.encode(
            check_texts(queries, "queries"),
            max_length=self.encoder.query_max_length,
            top_k=self.k_tokens_query,
            prefix=self.query_instruction,
            progress=progress,
        )

    @property
    def dim(self) -> int:
        """The vocabulary size: the width of every vector."""
        return self.encoder.dim

    def decode(self, vectors: object, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        """(token, weight) pairs per row, heaviest first."""
        return self.encoder.decode(vectors, top_k)


__all__ = ["SpladeEmbeddingFunction"]
