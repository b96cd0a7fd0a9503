"""SpladeEmbeddingFunction: the pymilvus-compatible face of :class:`SpladeEncoder`.

Replace ``from pymilvus.model.sparse import SpladeEmbeddingFunction`` with
``from spladekit import SpladeEmbeddingFunction``; the constructor and methods are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .checkpoint.identity import ModelIdentity
from .checkpoint.known import DEFAULT_MODEL
from .encoder import SpladeEncoder
from .options import Progress
from .profiles import EncodingProfile, ProfileName
from .reference_base import ReferenceBase, adopt_reference_base
from .validation import optional_positive_int, string
from .vectors import SparseVectors


class ReferenceModel:
    """What the reference's ``ef.model`` offers publicly: its tokenizer, device and batch size
    (read from the encoder when asked)."""

    def __init__(self, encoder: SpladeEncoder) -> None:
        self._encoder = encoder

    @property
    def tokenizer(self) -> Any:
        """The model's Hugging Face tokenizer."""
        return self._encoder.tokenizer

    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda:0``...)."""
        return self._encoder.device

    @property
    def batch_size(self) -> int:
        """Texts per batch."""
        return int(self._encoder.config.batch_size)


class SpladeEmbeddingFunction(ReferenceBase):
    """Drop-in for ``pymilvus.model.sparse.SpladeEmbeddingFunction``.

    When pymilvus-model is installed this is a subclass of its
    ``pymilvus.model.base.BaseEmbeddingFunction`` (from the moment that module is imported:
    spladekit never imports it). The reference's public attributes exist with its meaning:
    ``model_name``, ``device``, ``query_instruction``, ``doc_instruction``,
    ``k_tokens_query``, ``k_tokens_document``, ``dim`` and ``model`` (its ``tokenizer``,
    ``device`` and ``batch_size``).

    The positional parameters are the reference's. ``**kwargs`` take spladekit's encoder
    options (:class:`~spladekit.options.EncoderConfig`: ``query_max_length``,
    ``document_max_length``, ``threshold``, ``backend``, ``precision``, ``long_documents``...)
    and model loading arguments (``revision``, ``token``, ``cache_dir``, ``local_files_only``,
    ``dtype``/``torch_dtype``...); the hub ones reach the tokenizer too.

    Where the model's folder names prompts (sentence-transformers' ``prompts``), an empty
    ``query_instruction``/``doc_instruction`` means the folder's prompt, as
    sentence-transformers' ``encode_query``/``encode_document`` apply it; queries run the
    model's query route (an inference-free lookup, or a query encoder of its own).
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
        **kwargs: Any,
    ) -> None:
        self.model_name = model_name
        string("query_instruction", query_instruction)
        string("doc_instruction", doc_instruction)
        self.k_tokens_query = optional_positive_int("k_tokens_query", k_tokens_query)
        self.k_tokens_document = optional_positive_int("k_tokens_document", k_tokens_document)
        self.encoder = SpladeEncoder(model_name, batch_size=batch_size, device=device, **kwargs)
        # The instructions in force: the caller's, else the folder's prompts (the profiles'
        # rule).
        profiles = self.encoder.profiles(
            query_instruction=query_instruction, doc_instruction=doc_instruction
        )
        self.query_instruction = profiles["query"].instruction
        self.doc_instruction = profiles["document"].instruction

    @property
    def profiles(self) -> dict[ProfileName, EncodingProfile]:
        """How ``__call__`` (``plain``), queries and documents are encoded, from the
        attributes in force (:func:`~spladekit.profiles.encoding_profiles`)."""
        return self.encoder.profiles(
            query_instruction=self.query_instruction,
            doc_instruction=self.doc_instruction,
            k_tokens_query=self.k_tokens_query,
            k_tokens_document=self.k_tokens_document,
        )

    def __call__(self, texts: Sequence[str]) -> SparseVectors:
        """Encode with neither instruction nor top-k, at the documents' max length."""
        return self._encode(texts, "plain", None, "texts")

    def encode_documents(
        self, documents: Sequence[str], *, progress: Progress | None = None
    ) -> SparseVectors:
        """Encode documents: ``doc_instruction`` prepended, top ``k_tokens_document`` kept."""
        return self._encode(documents, "document", progress, "documents")

    def encode_queries(
        self, queries: Sequence[str], *, progress: Progress | None = None
    ) -> SparseVectors:
        """Encode queries on the query route: ``query_instruction`` prepended, top
        ``k_tokens_query`` kept."""
        return self._encode(queries, "query", progress, "queries")

    def _encode(
        self, texts: Sequence[str], name: ProfileName, progress: Progress | None, what: str
    ) -> SparseVectors:
        # The texts are checked once, by the encoder, and named as the caller passed them.
        return self.encoder.encode_profile(
            texts, self.profiles[name], progress=progress, what=what
        ).vectors

    @property
    def device(self) -> str:
        """Where the model runs, as given (``cpu``, ``cuda``, ``cuda:0``)."""
        return self.encoder.device

    @property
    def model(self) -> ReferenceModel:
        """The reference's ``model`` object: its tokenizer, device and batch size."""
        return ReferenceModel(self.encoder)

    @property
    def model_identity(self) -> ModelIdentity:
        """Which model makes these vectors (name and weights fingerprint)."""
        return self.encoder.model_identity

    @property
    def dim(self) -> int:
        """The vocabulary size: the width of every vector."""
        return self.encoder.dim

    def decode(self, vectors: object, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        """(token, weight) pairs per row, heaviest first."""
        return self.encoder.decode(vectors, top_k)


adopt_reference_base(SpladeEmbeddingFunction)

__all__ = ["ReferenceModel", "SpladeEmbeddingFunction"]
