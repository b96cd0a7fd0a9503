"""The corpus, queries and fusion arithmetic the framework tests share (no framework here)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

CORPUS = {
    "cats": "The cat sat on the warm mat and purred at the dog.",
    "dogs": "Dogs chase cats across the garden when the gate is open.",
    "milvus": "Milvus stores vectors and searches them by similarity.",
    "splade": "SPLADE turns a text into sparse weights over the vocabulary.",
    "bread": "Bake the bread in a hot oven until the crust is brown.",
    "rain": "Heavy rain flooded the streets of the old town overnight.",
    "chess": "The chess player moved her knight to trap the queen.",
    "vectors": "Sparse vectors keep only the terms that matter for retrieval.",
}
QUERIES = ["a cat on a mat", "sparse vector retrieval", "baking bread in an oven"]
RRF_K = 60
DENSE_DIM = 8


def fake_dense(text: str) -> list[float]:
    """A deterministic dense embedding (unit-length letter counts): a stand-in for a real model."""
    counts = [float(text.lower().count(c)) + 0.5 for c in "aeinorst"]
    norm = math.sqrt(sum(c * c for c in counts))
    return [c / norm for c in counts]


def dense_ranking(query: str, metric: str) -> list[str]:
    """Corpus ids by the fake dense embedding, best first (exact search, as Milvus Lite does)."""
    q = fake_dense(query)

    def distance(doc_id: str) -> float:
        d = fake_dense(CORPUS[doc_id])
        if metric == "L2":
            return sum((a - b) ** 2 for a, b in zip(q, d, strict=True))
        return -sum(a * b for a, b in zip(q, d, strict=True))  # IP / COSINE on unit vectors

    return sorted(CORPUS, key=distance)


def rrf(rankings: Sequence[Sequence[str]], limit: int, k: int) -> list[tuple[str, float]]:
    """Reciprocal rank fusion as Milvus's RRFRanker computes it: legs cut to ``limit``."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking[:limit], start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (RRF_K + rank)
    return canonical(list(scores.items()))[:k]


def canonical(hits: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """Hits best first, ties by id, scores to 5 significant digits (float32 on both sides)."""
    rounded = [(doc_id, float(f"{score:.5g}")) for doc_id, score in hits]
    return sorted(rounded, key=lambda hit: (-hit[1], hit[0]))


SpladeSearch = Callable[[str, int], list[tuple[str, float]]]
