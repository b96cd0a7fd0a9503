"""Searching a Milvus collection: SPLADE, Milvus's own BM25, and both fused in one call.

Scores mean the same on every engine: a BM25 score is positive (Milvus Lite 3.2 returns it
negated); a hybrid score is Milvus's fusion: reciprocal rank fusion ``sum 1 / (rrf_k + rank)``
over the legs a document appears in (ranks from 1), or a weighted sum of scores normalised by
arctan (``0.5 + atan(s) / pi`` for SPLADE's inner product, ``2 atan(s) / pi`` for BM25).

One exception to "in one call": a Milvus 2.5 server's WeightedRanker takes BM25 for a distance
(a higher BM25 score lowers the fused score; measured against the 2.5.1 engine), so weighted
fusion on a server runs the two legs and fuses them here with the normalisation above, which
is what Milvus Lite computes in its single call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError, StoreError
from ..vectors import Row
from .base import Hit, SearchOptions
from .connection import pymilvus_module
from .keys import given_id
from .schema import BM25_FIELD, EMPTY_FIELD, METADATA_FIELD, TEXT_FIELD, VECTOR_FIELD

if TYPE_CHECKING:
    from .milvus import MilvusStore

# Queries per search call; nq*k results travel in one response.
SEARCH_CHUNK = 1024
Raw = Mapping[str, Any]


def run(
    store: MilvusStore,
    rows: Sequence[Row] | None,
    texts: Sequence[str] | None,
    k: int,
    opts: SearchOptions,
) -> list[list[Hit]]:
    """Hits per query for the options' mode (rows and texts checked by the caller)."""
    n = len(rows) if rows is not None else len(texts or ())
    results: list[list[Hit]] = [[] for _ in range(n)]
    for start in range(0, n, SEARCH_CHUNK):
        part = range(start, min(n, start + SEARCH_CHUNK))
        chunk_rows = [rows[i] for i in part] if rows is not None else None
        chunk_texts = [texts[i] for i in part] if texts is not None else None
        if opts.mode == "splade":
            found = _splade(store, chunk_rows or [], k, opts)
        elif opts.mode == "bm25":
            found = [_bm25_hits(hits) for hits in _bm25_leg(store, chunk_texts or [], k, opts)]
        else:
            found = _hybrid(store, chunk_rows or [], chunk_texts or [], k, opts)
        for i, hits in zip(part, found, strict=True):
            results[i] = hits
    return results


def _output_fields(opts: SearchOptions) -> list[str]:
    fields = [EMPTY_FIELD]
    if opts.with_text:
        fields.append(TEXT_FIELD)
    if opts.with_metadata:
        fields.append(METADATA_FIELD)
    return fields


def _splade_param(opts: SearchOptions) -> dict[str, Any]:
    return {"metric_type": "IP", "params": {"drop_ratio_search": opts.drop_ratio_search}}


def _filter(opts: SearchOptions) -> dict[str, Any]:
    return {"filter": opts.filter} if opts.filter else {}


def _splade_leg(
    store: MilvusStore, rows: Sequence[Row], limit: int, opts: SearchOptions
) -> list[list[Raw]]:
    asked = [i for i, row in enumerate(rows) if row]  # an empty query matches nothing
    answers: list[list[Raw]] = [[] for _ in rows]
    if asked:
        found = store._call(
            "search", "search", store.collection, data=[rows[i] for i in asked],
            anns_field=VECTOR_FIELD, limit=limit, output_fields=_output_fields(opts),
            search_params=_splade_param(opts), consistency_level="Strong", **_filter(opts),
        )
        for i, hits in zip(asked, found, strict=True):
            answers[i] = list(hits)
    return answers


def _bm25_leg(
    store: MilvusStore, texts: Sequence[str], limit: int, opts: SearchOptions
) -> list[list[Raw]]:
    found = store._call(
        "BM25 search", "search", store.collection, data=list(texts), anns_field=BM25_FIELD,
        limit=limit, output_fields=_output_fields(opts), search_params={"metric_type": "BM25"},
        consistency_level="Strong", **_filter(opts),
    )
    return [list(hits) for hits in found]


def _splade(
    store: MilvusStore, rows: Sequence[Row], k: int, opts: SearchOptions
) -> list[list[Hit]]:
    # Documents stored with a placeholder vector (no SPLADE weight) never count here.
    return [
        [_hit(h, float(h["distance"])) for h in hits if not h["entity"].get(EMPTY_FIELD)]
        for hits in _splade_leg(store, rows, k, opts)
    ]


def _bm25_hits(hits: Sequence[Raw]) -> list[Hit]:
    # Milvus Lite 3.2 returns BM25 scores negated; a BM25 score is never negative.
    return [_hit(h, abs(float(h["distance"]))) for h in hits]


def _hybrid(
    store: MilvusStore, rows: Sequence[Row], texts: Sequence[str], k: int, opts: SearchOptions
) -> list[list[Hit]]:
    limit = opts.candidates_for(k)
    if opts.fusion == "weighted" and not store.is_lite:
        splade = _splade_leg(store, rows, limit, opts)
        bm25 = _bm25_leg(store, texts, limit, opts)
        return [_fuse_weighted(s, b, opts.weights, k) for s, b in zip(splade, bm25, strict=True)]
    results: list[list[Hit]] = [[] for _ in rows]
    full = [i for i, row in enumerate(rows) if row]
    if full:
        pymilvus = pymilvus_module()
        requests = [
            pymilvus.AnnSearchRequest(
                data=[rows[i] for i in full], anns_field=VECTOR_FIELD,
                param=_splade_param(opts), limit=limit, expr=opts.filter or None,
            ),
            pymilvus.AnnSearchRequest(
                data=[texts[i] for i in full], anns_field=BM25_FIELD,
                param={"metric_type": "BM25"}, limit=limit, expr=opts.filter or None,
            ),
        ]
        ranker = (
            pymilvus.RRFRanker(opts.rrf_k)
            if opts.fusion == "rrf"
            else pymilvus.WeightedRanker(*opts.weights, norm_score=True)
        )
        found = store._call(
            "hybrid search", "hybrid_search", store.collection, reqs=requests, ranker=ranker,
            limit=k, output_fields=_output_fields(opts), consistency_level="Strong",
        )
        for i, hits in zip(full, found, strict=True):
            results[i] = [_hit(h, float(h["distance"])) for h in hits]
    empty = [i for i, row in enumerate(rows) if not row]
    if empty:
        # A query without SPLADE weights has one leg: fuse it alone, as Milvus would.
        single = _bm25_leg(store, [texts[i] for i in empty], limit, opts)
        for i, hits in zip(empty, single, strict=True):
            results[i] = _fuse_single_bm25(hits, opts, k)
    return results


def _fuse_single_bm25(hits: Sequence[Raw], opts: SearchOptions, k: int) -> list[Hit]:
    if opts.fusion == "rrf":
        return [_hit(h, 1.0 / (opts.rrf_k + rank)) for rank, h in enumerate(hits[:k], 1)]
    return _fuse_weighted([], hits, opts.weights, k)


def norm_ip(score: float) -> float:
    """Milvus's normalisation of an inner product for weighted fusion."""
    return 0.5 + math.atan(score) / math.pi


def norm_bm25(score: float) -> float:
    """Milvus's normalisation of a (positive) BM25 score for weighted fusion."""
    return 2.0 * math.atan(abs(score)) / math.pi


def _fuse_weighted(
    splade: Sequence[Raw], bm25: Sequence[Raw], weights: tuple[float, float], k: int
) -> list[Hit]:
    scores: dict[str, float] = {}
    seen: dict[str, Raw] = {}
    legs: list[tuple[float, Sequence[Raw], Callable[[float], float]]] = [
        (weights[0], splade, norm_ip),
        (weights[1], bm25, norm_bm25),
    ]
    for weight, hits, norm in legs:
        for h in hits:
            doc_id = str(h["id"])
            scores[doc_id] = scores.get(doc_id, 0.0) + weight * norm(float(h["distance"]))
            seen.setdefault(doc_id, h)
    ranked = sorted(scores.items(), key=lambda item: -item[1])[:k]
    return [_hit(seen[doc_id], score) for doc_id, score in ranked]


def _hit(raw: Raw, score: float) -> Hit:
    entity = raw.get("entity") or {}
    return Hit(
        id=given_id(raw["id"], True),  # no valid id holds U+001E: safe on Lite too
        score=score,
        text=str(entity.get(TEXT_FIELD) or ""),
        metadata=dict(entity.get(METADATA_FIELD) or {}),
    )


def check_mode(store: MilvusStore, opts: SearchOptions, has_rows: bool, has_texts: bool) -> None:
    """Refuse a mode the collection or the call cannot serve, saying how to get it."""
    if opts.mode != "splade" and store.bm25_analyzer is None:
        raise StoreError(
            f"{store.where} has no BM25 field, so it cannot search in mode {opts.mode!r}; "
            "create a collection with bm25=True and index the documents into it"
        )
    if opts.mode != "bm25" and not has_rows:
        raise InvalidArgumentError(
            f"mode {opts.mode!r} needs the queries' SPLADE vectors; pass vectors"
        )
    if opts.mode != "splade" and not has_texts:
        raise InvalidArgumentError(
            f"mode {opts.mode!r} needs the queries' words for BM25; pass texts"
        )
    if opts.drop_ratio_search > 0 and store.is_lite:
        raise StoreError(
            f"Milvus Lite searches exactly and does not support drop_ratio_search > 0 (got "
            f"{opts.drop_ratio_search}); use 0, or a Milvus server (uri http://host:19530)"
        )


__all__ = ["SEARCH_CHUNK", "check_mode", "norm_bm25", "norm_ip", "run"]
