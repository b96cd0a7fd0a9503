"""Ranking and fusion as plain functions: what a search returns, computed without an engine.

Scores mean the same on every engine:

- a SPLADE score is the inner product of the query's and the document's vectors; a document
  stored under the empty-vector placeholder (:func:`~spladekit.store.schema.stored_vector`) has
  no SPLADE score and is never a SPLADE hit;
- a BM25 score is positive, larger is better (what Milvus answers is made so by
  :mod:`spladekit.store.milvus_results`);
- a hybrid score is Milvus's fusion of the two legs: reciprocal rank fusion
  ``sum 1 / (rrf_k + rank)`` over the legs a document appears in, ranks from 1 (:func:`rrf`), or
  a weighted sum of scores normalised by arctan, ``0.5 + atan(s) / pi`` for SPLADE's inner
  product and ``2 atan(s) / pi`` for BM25 (:func:`weighted`).

Rankings are best first, only positive scores count, and ties keep the order in which the
documents were found (:func:`top_k`). :class:`~spladekit.store.milvus.MilvusStore` and
:class:`~spladekit.store.memory.MemoryStore` rank and build their hits with these functions;
turning pymilvus's answers into hits is :mod:`spladekit.store.milvus_results`'.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .protocol import Hit, SearchOptions


def top_k(scores: NDArray[np.floating[Any]], k: int) -> NDArray[np.intp]:
    """Positions of the ``k`` largest positive ``scores``, best first; ties keep position order."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        # Everything at least as large as the k-th largest, then the exact order among them.
        kth = np.partition(scores[positive], len(positive) - k)[len(positive) - k]
        positive = positive[scores[positive] >= kth]
    order = np.argsort(-scores[positive], kind="stable")[:k]
    result: NDArray[np.intp] = positive[order]
    return result


def hit(
    doc_id: str, score: float, text: str | None = None, metadata: Mapping[str, Any] | None = None
) -> Hit:
    """A hit; no text is ``""`` and no metadata ``{}`` (what a search that did not fetch them
    returns)."""
    return Hit(doc_id, float(score), str(text or ""), dict(metadata or {}))


def norm_ip(score: float) -> float:
    """Milvus's normalisation of an inner product for weighted fusion."""
    return 0.5 + math.atan(score) / math.pi


def norm_bm25(score: float) -> float:
    """Milvus's normalisation of a BM25 score for weighted fusion (of its magnitude: a negated
    score, as Milvus Lite 3.2 answers, normalises as the positive one)."""
    return 2.0 * math.atan(abs(float(score))) / math.pi


def _ranked(scores: dict[str, float], first: Mapping[str, Hit], k: int) -> list[Hit]:
    ids = list(scores)
    values = np.fromiter(scores.values(), dtype=np.float64, count=len(ids))
    return [
        hit(ids[i], values[i], first[ids[i]].text, first[ids[i]].metadata)
        for i in top_k(values, k)
    ]


def _fuse(
    legs: Sequence[tuple[Sequence[Hit], Callable[[int, Hit], float]]], k: int
) -> list[Hit]:
    scores: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits, share in legs:
        for rank, h in enumerate(hits, start=1):
            scores[h.id] = scores.get(h.id, 0.0) + share(rank, h)
            first.setdefault(h.id, h)
    return _ranked(scores, first, k)


def rrf(legs: Sequence[Sequence[Hit]], k: int, rrf_k: int) -> list[Hit]:
    """Reciprocal rank fusion of ranked legs: ``sum 1 / (rrf_k + rank)``, the ``k`` best."""
    return _fuse([(leg, lambda rank, _: 1.0 / (rrf_k + rank)) for leg in legs], k)


def weighted(
    splade: Sequence[Hit], bm25: Sequence[Hit], weights: tuple[float, float], k: int
) -> list[Hit]:
    """Weighted fusion of a SPLADE and a BM25 leg over Milvus's arctan-normalised scores."""
    return _fuse(
        [
            (splade, lambda _, h: weights[0] * norm_ip(h.score)),
            (bm25, lambda _, h: weights[1] * norm_bm25(h.score)),
        ],
        k,
    )


def fuse(splade: Sequence[Hit], bm25: Sequence[Hit], opts: SearchOptions, k: int) -> list[Hit]:
    """The hybrid hits of two legs, by the options' fusion."""
    if opts.fusion == "rrf":
        return rrf([splade, bm25], k, opts.rrf_k)
    return weighted(splade, bm25, opts.weights, k)


__all__ = [
    "fuse",
    "hit",
    "norm_bm25",
    "norm_ip",
    "rrf",
    "top_k",
    "weighted",
]
