"""What pymilvus answers, read as spladekit's hits.

A search answers one list per query of raw hits: ``id``, ``distance`` and the ``entity``'s
fields. Reading them:

- ids come back as stored; on a server a ``'`` is stored as U+001E (:mod:`spladekit.store.keys`)
  and mapped back here;
- a document stored under the empty-vector placeholder
  (:func:`~spladekit.store.schema.stored_vector`) has no SPLADE score and is never a SPLADE hit
  (:func:`is_placeholder`);
- a BM25 score is reported positive (:func:`bm25_score`: Milvus Lite 3.2 returns it negated).

The fusion of the hits is :mod:`spladekit.store.fusion`'s, which knows no engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .fusion import hit
from .keys import given_id
from .protocol import Hit
from .schema import EMPTY_FIELD, METADATA_FIELD, TEXT_FIELD

Raw = Mapping[str, Any]
"""One hit as pymilvus returns it: ``id``, ``distance`` and the ``entity``'s fields."""


def raw_hit(raw: Raw, score: float) -> Hit:
    """The hit a pymilvus result stands for, with ``score``."""
    entity = raw.get("entity") or {}
    # No valid id holds U+001E, so mapping it back is safe on Lite too (spladekit.store.keys).
    return hit(given_id(raw["id"], True), score, entity.get(TEXT_FIELD), entity.get(METADATA_FIELD))


def is_placeholder(raw: Raw) -> bool:
    """Whether a pymilvus result is a document stored under the empty-vector placeholder."""
    return bool((raw.get("entity") or {}).get(EMPTY_FIELD))


def bm25_score(distance: float) -> float:
    """A BM25 score as spladekit reports it: positive (Milvus Lite 3.2 returns it negated)."""
    return abs(float(distance))


def splade_hits(raws: Sequence[Raw]) -> list[Hit]:
    """A SPLADE leg's hits: its results without placeholder documents."""
    return [raw_hit(r, float(r["distance"])) for r in raws if not is_placeholder(r)]


def bm25_hits(raws: Sequence[Raw]) -> list[Hit]:
    """A BM25 leg's hits, scores made positive."""
    return [raw_hit(r, bm25_score(r["distance"])) for r in raws]


def hybrid_hits(raws: Sequence[Raw]) -> list[Hit]:
    """A hybrid search's hits, scored by Milvus's ranker."""
    return [raw_hit(r, float(r["distance"])) for r in raws]


__all__ = [
    "Raw",
    "bm25_hits",
    "bm25_score",
    "hybrid_hits",
    "is_placeholder",
    "raw_hit",
    "splade_hits",
]
