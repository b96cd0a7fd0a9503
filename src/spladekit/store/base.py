"""What every store is: the :class:`Store` protocol, its results, and its input checks.

Two stores implement it: :class:`~spladekit.store.milvus.MilvusStore` (a Milvus Lite file or a
Milvus server) and :class:`~spladekit.store.memory.MemoryStore` (exact scipy dot products in
memory, for tests, benchmarks and evaluation). The retriever takes either.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from ..checkpoint.identity import ModelIdentity
from ..errors import InputTypeError, InvalidArgumentError
from ..validation import (
    MAX_ID_BYTES,
    MAX_METADATA_DEPTH,
    check_depth,
    check_unicode,
    choice,
    document_id,
    fraction,
    int_in_range,
    positive_int,
)
from ..vectors import Row, to_milvus_rows

MAX_TEXT_BYTES = 65535
MAX_K = 16384  # Milvus's limit on top-k

SearchMode = Literal["splade", "bm25", "hybrid"]
Fusion = Literal["rrf", "weighted"]
Consistency = Literal["Strong", "Session", "Bounded", "Eventually"]
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)
FUSIONS: tuple[Fusion, ...] = get_args(Fusion)
CONSISTENCY_LEVELS: tuple[Consistency, ...] = get_args(Consistency)
# RRF's constant from Cormack, Clarke and Buettcher (SIGIR 2009), which is also Milvus's
# default: chosen on that principle, not tuned on any collection.
DEFAULT_RRF_K = 60
# Candidates each leg of a hybrid search brings to the fusion, at least.
MIN_CANDIDATES = 100


@dataclass(frozen=True)
class Hit:
    """One search result: document id, score (inner product), text and metadata.

    ``text`` is ``""`` and ``metadata`` is ``{}`` when the search did not fetch them.
    """

    id: str
    score: float
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDocument:
    """A stored document as ``get`` returns it.

    ``empty`` is True when its vector had no positive weight and a placeholder was stored.
    """

    id: str
    text: str
    metadata: dict[str, Any]
    empty: bool


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert wrote: the number of rows, and the ids stored with an empty vector."""

    count: int
    empty_ids: list[str]


@dataclass(frozen=True)
class SearchOptions:
    """How a search runs, beyond the query and ``k``; declared once for stores, retriever, CLI.

    - ``filter``: a Milvus boolean expression on the stored fields, for example
      ``'metadata["year"] >= 2020'``;
    - ``drop_ratio_search`` (Milvus server only): ignore that fraction of each query's
      smallest weights, faster and approximate;
    - ``with_text`` / ``with_metadata``: fetch them with the hits;
    - ``mode``: ``splade`` (the default), ``bm25`` (Milvus's own BM25 over the stored text; the
      collection needs its BM25 field), or ``hybrid``: both, fused by ``fusion``;
    - ``fusion``: ``rrf`` (reciprocal rank fusion, ``sum 1 / (rrf_k + rank)``) or ``weighted``
      (``weights`` for SPLADE and BM25 over scores normalised by arctan, as Milvus does);
    - ``candidates``: hits each leg of a hybrid search contributes (default ``max(k, 100)``);
    - ``consistency``: Milvus's consistency level for the search. ``Bounded`` (the default)
      may miss writes of the last few seconds on a Milvus server and costs no wait;
      ``Strong`` sees every write acknowledged before the search (what a search that must
      find what was just indexed asks for); ``Session`` sees this process's own writes;
      ``Eventually`` waits for nothing. Milvus Lite and the in-memory store always see every
      write. Reads by id (``get``, ``existing_ids``, ``count``) are always ``Strong``.
    """

    filter: str | None = None
    drop_ratio_search: float = 0.0
    with_text: bool = True
    with_metadata: bool = True
    mode: SearchMode = "splade"
    fusion: Fusion = "rrf"
    rrf_k: int = DEFAULT_RRF_K
    weights: tuple[float, float] = (0.5, 0.5)
    candidates: int | None = None
    consistency: Consistency = "Bounded"

    def __post_init__(self) -> None:
        if self.filter is not None:
            if not isinstance(self.filter, str):
                raise InputTypeError(
                    f"filter must be a str (a Milvus expression), got {type(self.filter).__name__}"
                )
            check_unicode("filter", self.filter)
        object.__setattr__(
            self, "drop_ratio_search", fraction("drop_ratio_search", self.drop_ratio_search)
        )
        for name in ("with_text", "with_metadata"):
            if not isinstance(getattr(self, name), bool):
                raise InputTypeError(f"{name} must be a bool, got {getattr(self, name)!r}")
        choice("mode", self.mode, SEARCH_MODES)
        choice("fusion", self.fusion, FUSIONS)
        choice("consistency", self.consistency, CONSISTENCY_LEVELS)
        positive_int("rrf_k", self.rrf_k)
        if self.candidates is not None:
            int_in_range("candidates", self.candidates, 1, MAX_K)
        weights = self.weights
        if not (
            isinstance(weights, (tuple, list))
            and len(weights) == 2
            and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)
        ):
            raise InputTypeError(f"weights must be two numbers (SPLADE, BM25), got {weights!r}")
        total = float(weights[0]) + float(weights[1])
        if min(weights) < 0 or not total > 0 or not math.isfinite(total):
            # A fused score is at most the weights' sum: a finite sum keeps every score finite.
            raise InvalidArgumentError(
                f"weights must be >= 0 with a positive, finite sum, got {tuple(weights)!r}"
            )
        object.__setattr__(self, "weights", (float(weights[0]), float(weights[1])))

    def replace(self, **changes: Any) -> SearchOptions:
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def candidates_for(self, k: int) -> int:
        """Hits each leg of a hybrid search brings to the fusion."""
        return self.candidates if self.candidates is not None else max(k, MIN_CANDIDATES)

    @classmethod
    def build(cls, options: SearchOptions | None, changes: Mapping[str, Any]) -> SearchOptions:
        """``options`` (or the defaults) with keyword ``changes``; unknown names are refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise InputTypeError(
                f"unknown search option(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}"
            )
        return dataclasses.replace(options or cls(), **changes)


@runtime_checkable
class Store(Protocol):
    """A collection of SPLADE vectors with their ids, texts and metadata."""

    def upsert(
        self,
        ids: Sequence[str],
        vectors: object,
        texts: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> UpsertResult:
        """Store documents, replacing any stored under the same ids."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already stored."""
        ...

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents with these ids, in the order given; missing ids are left out."""
        ...

    def get_vectors(self, ids: Sequence[str]) -> dict[str, dict[int, float]]:
        """The stored vectors of these ids ({} for an empty document); missing ids left out."""
        ...

    def count(self) -> int:
        """Number of stored documents (empty ones included)."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Delete the documents with these ids (ids not stored are ignored)."""
        ...

    def search(
        self,
        vectors: object,
        k: int = 10,
        *,
        texts: Sequence[str] | None = None,
        options: SearchOptions | None = None,
        **changes: Any,
    ) -> list[list[Hit]]:
        """The ``k`` best documents for each query, best first.

        ``vectors`` (one SPLADE row per query) serve the ``splade`` and ``hybrid`` modes,
        ``texts`` (the queries' words) the ``bm25`` and ``hybrid`` ones.
        """
        ...

    def check_model(self, model: ModelIdentity, *, allow_other: bool = False) -> None:
        """Refuse a collection recorded with another model, unless ``allow_other``; reads
        only (a collection without a record passes)."""
        ...

    def record_model(self, model: ModelIdentity) -> None:
        """Record the model of a collection that has no record yet (a record stays)."""
        ...

    def flush(self) -> None:
        """Make writes fast to search (where the engine needs it)."""
        ...

    def close(self) -> None:
        """Release what the store holds. Safe to call twice."""
        ...


# -- input checks shared by every store ------------------------------------------------------------


def check_k(k: object) -> int:
    return int_in_range("k", k, 1, MAX_K)


def check_ids(ids: object, *, unique: bool = True) -> list[str]:
    """A list of document ids: 1..512 UTF-8 bytes, no control characters."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InputTypeError(f"ids must be a list of str, got {type(ids).__name__}")
    seen: dict[str, int] = {}
    for i, doc_id in enumerate(ids):
        if not isinstance(doc_id, str):
            raise InputTypeError(
                f"ids must be a list of str, got {type(doc_id).__name__} at position {i}"
            )
        check_unicode(f"ids[{i}]", doc_id)
        document_id(doc_id, f"id at position {i}")
        if unique and doc_id in seen:
            raise InvalidArgumentError(
                f"ids must be unique within one call; {doc_id!r} is at positions "
                f"{seen[doc_id]} and {i}"
            )
        seen.setdefault(doc_id, i)
    return list(ids)


def check_texts(texts: object, n: int) -> list[str]:
    """One valid Unicode text per id ("" for all when ``texts`` is None)."""
    if texts is None:
        return [""] * n
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputTypeError(f"texts must be a list of str or None, got {type(texts).__name__}")
    if len(texts) != n:
        raise InvalidArgumentError(f"got {n} ids but {len(texts)} texts; give one text per id")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(
                f"texts must be a list of str, got {type(text).__name__} at position {i}"
            )
        check_unicode(f"texts[{i}]", text)
    return list(texts)


def check_metadata(metadata: object, n: int) -> list[dict[str, Any]]:
    """One JSON-serialisable dict (or None) per id."""
    if metadata is None:
        return [{} for _ in range(n)]
    if not isinstance(metadata, Sequence) or isinstance(metadata, (str, Mapping)):
        raise InputTypeError(
            f"metadata must be a list with one dict (or None) per id, got {type(metadata).__name__}"
        )
    if len(metadata) != n:
        raise InvalidArgumentError(f"got {n} ids but {len(metadata)} metadata entries")
    out: list[dict[str, Any]] = []
    for i, meta in enumerate(metadata):
        if meta is None:
            out.append({})
            continue
        if not isinstance(meta, Mapping):
            raise InputTypeError(
                f"metadata at position {i} must be a dict or None, got {type(meta).__name__}"
            )
        check_depth(meta, f"metadata at position {i}")
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"metadata at position {i} is not JSON-serialisable: {exc}"
            ) from exc
        out.append(dict(meta))
    return out


@dataclass(frozen=True)
class NewDocument:
    """One document of an upsert, checked: id, vector row ({} when empty), text, metadata."""

    id: str
    row: Row
    text: str
    metadata: dict[str, Any]


def check_upsert(
    ids: object, vectors: object, texts: object, metadata: object
) -> list[NewDocument]:
    """The documents of an upsert, every argument checked against the others."""
    id_list = check_ids(ids)
    rows = to_milvus_rows(vectors)
    if len(rows) != len(id_list):
        raise InvalidArgumentError(
            f"got {len(id_list)} ids but {len(rows)} vectors; give one vector per id"
        )
    text_list = check_texts(texts, len(id_list))
    meta_list = check_metadata(metadata, len(id_list))
    return [
        NewDocument(*parts) for parts in zip(id_list, rows, text_list, meta_list, strict=True)
    ]


def fit_text(text: str) -> str:
    """The text cut at a character boundary to what a VARCHAR field holds."""
    data = text.encode("utf-8")
    if len(data) <= MAX_TEXT_BYTES:
        return text
    return data[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")


__all__ = [
    "CONSISTENCY_LEVELS",
    "DEFAULT_RRF_K",
    "FUSIONS",
    "MAX_ID_BYTES",
    "MAX_K",
    "MAX_METADATA_DEPTH",
    "MAX_TEXT_BYTES",
    "SEARCH_MODES",
    "Consistency",
    "Fusion",
    "Hit",
    "ModelIdentity",
    "NewDocument",
    "SearchMode",
    "SearchOptions",
    "Store",
    "StoredDocument",
    "UpsertResult",
    "check_depth",
    "check_ids",
    "check_k",
    "check_metadata",
    "check_texts",
    "check_upsert",
    "fit_text",
]
