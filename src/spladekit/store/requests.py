"""What each search asks Milvus: the arguments of its search calls, built from the options.

Plain functions, no calls: :class:`~spladekit.store.milvus.MilvusStore` runs what they build and
reads the answers with :mod:`spladekit.store.milvus_results`. Each search runs at the options'
``consistency``; the SPLADE leg of a hybrid search leaves placeholder documents out by
expression (BM25 may still find them by their words).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InvalidArgumentError, StoreError
from ..vectors import Row
from .connection import pymilvus_module
from .protocol import SearchOptions
from .schema import (
    BM25_FIELD,
    EMPTY_FIELD,
    METADATA_FIELD,
    SPARSE_METRIC,
    TEXT_FIELD,
    VECTOR_FIELD,
)

BM25_PARAM: dict[str, Any] = {"metric_type": "BM25"}


def output_fields(opts: SearchOptions) -> list[str]:
    """The fields a search brings back with its hits (``empty`` always)."""
    fields = [EMPTY_FIELD]
    if opts.with_text:
        fields.append(TEXT_FIELD)
    if opts.with_metadata:
        fields.append(METADATA_FIELD)
    return fields


def splade_param(opts: SearchOptions) -> dict[str, Any]:
    return {"metric_type": SPARSE_METRIC, "params": {"drop_ratio_search": opts.drop_ratio_search}}


def documents_only(expr: str | None) -> str:
    """``expr`` (a user's filter, or none) and "not a placeholder document"."""
    own = f"{EMPTY_FIELD} == false"
    return f"({expr}) and {own}" if expr else own


def _search(
    field: str, data: list[Any], limit: int, param: dict[str, Any], opts: SearchOptions,
    expr: str | None,
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "data": data, "anns_field": field, "limit": limit, "output_fields": output_fields(opts),
        "search_params": param, "consistency_level": opts.consistency,
    }
    if expr:
        args["filter"] = expr
    return args


def splade_search(
    rows: Sequence[Row], limit: int, opts: SearchOptions, expr: str | None
) -> dict[str, Any]:
    """``client.search`` arguments for SPLADE rows (none empty), filtered by ``expr``."""
    return _search(VECTOR_FIELD, list(rows), limit, splade_param(opts), opts, expr)


def bm25_search(texts: Sequence[str], limit: int, opts: SearchOptions) -> dict[str, Any]:
    """``client.search`` arguments for BM25 over the stored text, filtered by the options."""
    return _search(BM25_FIELD, list(texts), limit, BM25_PARAM, opts, opts.filter)


def hybrid_search(
    rows: Sequence[Row], texts: Sequence[str], k: int, opts: SearchOptions
) -> dict[str, Any]:
    """``client.hybrid_search`` arguments: both legs (``opts.candidates_for(k)`` hits each,
    filtered), fused by Milvus's ranker for the options' fusion."""
    pymilvus = pymilvus_module()
    limit = opts.candidates_for(k)
    requests = [
        pymilvus.AnnSearchRequest(
            data=list(rows), anns_field=VECTOR_FIELD, param=splade_param(opts), limit=limit,
            expr=documents_only(opts.filter),
        ),
        pymilvus.AnnSearchRequest(
            data=list(texts), anns_field=BM25_FIELD, param=BM25_PARAM, limit=limit,
            expr=opts.filter or None,
        ),
    ]
    ranker = (
        pymilvus.RRFRanker(opts.rrf_k)
        if opts.fusion == "rrf"
        else pymilvus.WeightedRanker(*opts.weights, norm_score=True)
    )
    return {
        "reqs": requests, "ranker": ranker, "limit": k, "output_fields": output_fields(opts),
        "consistency_level": opts.consistency,
    }


def check_mode(
    opts: SearchOptions, *, where: str, has_bm25: bool, is_lite: bool, has_rows: bool,
    has_texts: bool,
) -> None:
    """Refuse a mode the collection or the call cannot serve, saying how to get it."""
    if opts.mode != "splade" and not has_bm25:
        raise StoreError(
            f"{where} has no BM25 field, so it cannot search in mode {opts.mode!r}; "
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
    if opts.drop_ratio_search > 0 and is_lite:
        raise StoreError(
            f"Milvus Lite searches exactly and does not support drop_ratio_search > 0 (got "
            f"{opts.drop_ratio_search}); use 0, or a Milvus server (uri http://host:19530)"
        )


__all__ = [
    "bm25_search",
    "check_mode",
    "documents_only",
    "hybrid_search",
    "output_fields",
    "splade_param",
    "splade_search",
]
