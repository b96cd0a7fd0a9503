"""What every store is: the :class:`Store` protocol and the plain data it takes and returns
(:class:`SearchOptions`, :class:`Hit`, :class:`StoredDocument`, :class:`UpsertResult`).

Two stores implement it: :class:`~spladekit.store.milvus.MilvusStore` (a Milvus Lite file or a
Milvus server) and :class:`~spladekit.store.memory.MemoryStore` (exact scipy dot products in
memory, for tests, benchmarks and evaluation). The retriever takes either. The checks of what
the stores are given are :mod:`spladekit.store.input_checks`'.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from ..checkpoint.identity import ModelIdentity
from ..errors import InputTypeError, InvalidArgumentError
from ..validation import check_unicode, choice, flag, fraction, int_in_range, positive_int

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
            flag(name, getattr(self, name))
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
    """A collection of SPLADE vectors with their ids, texts and metadata.

    ``search_modes``: the :data:`SEARCH_MODES` it serves (``bm25`` and ``hybrid`` need a BM25
    field; a store without one serves ``splade`` only).
    """

    @property
    def search_modes(self) -> tuple[SearchMode, ...]: ...

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

    def adopt_model(self, model: ModelIdentity, *, allow_other_model: bool = False) -> None:
        """Take ``model``'s vectors, by the rule every store follows
        (:func:`spladekit.store.model_record.adoption`): a collection without a record records
        ``model``; one recorded with ``model`` (or with the fingerprint an earlier version gave
        the same weights, which is replaced by the full one) takes it; one recorded with
        another model refuses it with a ``ModelMismatchError`` naming both, unless
        ``allow_other_model`` (the record stays)."""
        ...

    def flush(self) -> None:
        """Make writes fast to search (where the engine needs it)."""
        ...

    def close(self) -> None:
        """Release what the store holds. Safe to call twice."""
        ...


__all__ = [
    "CONSISTENCY_LEVELS",
    "DEFAULT_RRF_K",
    "FUSIONS",
    "MAX_K",
    "MIN_CANDIDATES",
    "SEARCH_MODES",
    "Consistency",
    "Fusion",
    "Hit",
    "ModelIdentity",
    "SearchMode",
    "SearchOptions",
    "Store",
    "StoredDocument",
    "UpsertResult",
]
