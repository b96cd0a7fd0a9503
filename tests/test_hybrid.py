"""Hybrid search: SPLADE and Milvus's own BM25 fused in one call, on Milvus Lite and a server.

The hybrid ranking must equal the fusion computed by hand from the two legs (each leg searched
on its own), for reciprocal rank fusion and for weighted fusion, a filter must apply to both
legs, and BM25 scores must mean the same on both engines (positive, larger is better).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from spladekit import Hit, InvalidArgumentError, MemoryStore, Retriever, SpladeEncoder, StoreError
from spladekit.store.milvus import MilvusStore

DOCS = [
    ("a", "The quick brown fox jumps over the lazy dog.", {"year": 2001}),
    ("b", "Foxes are small omnivorous mammals of the dog family.", {"year": 2015}),
    ("c", "A lazy afternoon: the dog sleeps in the sun all day.", {"year": 2019}),
    ("d", "Quantum physics describes black holes and the early universe.", {"year": 2020}),
    ("e", "Graphene conducts heat and electricity better than copper.", {"year": 2008}),
    ("f", "Dogs were domesticated from wolves thousands of years ago.", {"year": 2012}),
    ("g", "The red fox hunts rodents at dawn and dusk.", {"year": 2022}),
    ("h", "", {"year": 1999}),
]
QUERIES = ["fox and dog", "physics of black holes", "domesticated wolves"]


@pytest.fixture
def store(
    milvus_uri: str, collection_name: str, tiny_encoder: SpladeEncoder
) -> Iterator[MilvusStore]:
    with MilvusStore(milvus_uri, collection=collection_name, bm25=True) as opened:
        Retriever(tiny_encoder, opened).index(DOCS, chunk_size=3)
        yield opened
        opened.drop()


def legs(
    store: MilvusStore, encoder: SpladeEncoder, query: str, depth: int, **options: Any
) -> tuple[list[Hit], list[Hit]]:
    vector = encoder.encode_queries([query])
    splade = store.search(vector, depth, texts=[query], mode="splade", **options)[0]
    bm25 = store.search(None, depth, texts=[query], mode="bm25", **options)[0]
    return splade, bm25


def rrf_by_hand(
    splade: Sequence[Hit], bm25: Sequence[Hit], k: int, c: int = 60
) -> dict[str, float]:
    scores: dict[str, float] = {}
    for hits in (splade, bm25):
        for rank, hit in enumerate(hits, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + 1.0 / (c + rank)
    return dict(sorted(scores.items(), key=lambda item: -item[1])[:k])


def weighted_by_hand(
    splade: Sequence[Hit], bm25: Sequence[Hit], weights: tuple[float, float], k: int
) -> dict[str, float]:
    scores: dict[str, float] = {}
    # Milvus's normalisation: 0.5 + atan(s)/pi for inner products, 2 atan(s)/pi for BM25.
    for hit in splade:
        share = weights[0] * (0.5 + math.atan(hit.score) / math.pi)
        scores[hit.id] = scores.get(hit.id, 0.0) + share
    for hit in bm25:
        share = weights[1] * 2 * math.atan(hit.score) / math.pi
        scores[hit.id] = scores.get(hit.id, 0.0) + share
    return dict(sorted(scores.items(), key=lambda item: -item[1])[:k])


def assert_same_ranking(hits: Sequence[Hit], expected: dict[str, float]) -> None:
    got = {h.id: h.score for h in hits}
    assert set(got) == set(expected), (got, expected)
    for doc_id, score in expected.items():
        assert got[doc_id] == pytest.approx(score, abs=1e-5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("query", QUERIES)
def test_rrf_hybrid_equals_the_fusion_of_its_two_legs(
    store: MilvusStore, tiny_encoder: SpladeEncoder, query: str
) -> None:
    splade, bm25 = legs(store, tiny_encoder, query, depth=100)
    assert splade and bm25
    hits = Retriever(tiny_encoder, store).search(query, k=5, mode="hybrid")
    assert_same_ranking(hits, rrf_by_hand(splade, bm25, 5))


def test_rrf_constant_and_weighted_fusion_follow_the_options(
    store: MilvusStore, tiny_encoder: SpladeEncoder
) -> None:
    query = QUERIES[0]
    splade, bm25 = legs(store, tiny_encoder, query, depth=100)
    retriever = Retriever(tiny_encoder, store)
    assert_same_ranking(
        retriever.search(query, k=4, mode="hybrid", rrf_k=10), rrf_by_hand(splade, bm25, 4, c=10)
    )
    for weights in ((0.5, 0.5), (0.8, 0.2)):
        hits = retriever.search(query, k=4, mode="hybrid", fusion="weighted", weights=weights)
        assert_same_ranking(hits, weighted_by_hand(splade, bm25, weights, 4))


def test_a_filter_applies_to_both_legs(store: MilvusStore, tiny_encoder: SpladeEncoder) -> None:
    query, expr = QUERIES[0], 'metadata["year"] >= 2012'
    splade, bm25 = legs(store, tiny_encoder, query, depth=100, filter=expr)
    allowed = {doc_id for doc_id, _, meta in DOCS if meta["year"] >= 2012}
    assert splade and bm25  # a subset check of empty legs would pass whatever the filter did
    assert {h.id for h in splade} <= allowed and {h.id for h in bm25} <= allowed
    unfiltered = legs(store, tiny_encoder, query, depth=100)
    assert any(h.id not in allowed for leg in unfiltered for h in leg)  # the filter did work
    hits = Retriever(tiny_encoder, store).search(query, k=5, mode="hybrid", filter=expr)
    assert hits and {h.id for h in hits} <= allowed
    assert_same_ranking(hits, rrf_by_hand(splade, bm25, 5))


@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
def test_placeholder_documents_never_count_in_the_splade_leg(
    milvus_uri: str, collection_name: str, fusion: str
) -> None:
    # "empty" has no SPLADE weight (stored under the placeholder, which a query weighing
    # dimension 0 would match) but its words match; "blank" matches nothing at all.
    with MilvusStore(milvus_uri, collection=collection_name, bm25=True) as store:
        store.upsert(
            ["full", "empty", "blank"], [{5: 1.0}, {}, {}],
            ["zebra crossing", "zebra stripes", "nothing here"],
        )
        query, words = {0: 1.0, 5: 1.0}, ["zebra"]
        [splade] = store.search(query, 10, mode="splade")
        [bm25] = store.search(None, 10, texts=words, mode="bm25")
        assert [h.id for h in splade] == ["full"]
        assert {h.id for h in bm25} == {"full", "empty"}
        options: dict[str, Any] = {"mode": "hybrid", "fusion": fusion}
        if fusion == "weighted":
            options["weights"] = (0.5, 0.5)
        [hits] = store.search(query, 10, texts=words, **options)
        assert {h.id for h in hits} == {"full", "empty"}  # "blank" is no hit
        expected = (
            rrf_by_hand(splade, bm25, 10)
            if fusion == "rrf"
            else weighted_by_hand(splade, bm25, (0.5, 0.5), 10)
        )
        assert_same_ranking(hits, expected)
        store.drop()


def test_bm25_scores_are_positive_and_rank_exact_word_matches(
    store: MilvusStore, tiny_encoder: SpladeEncoder
) -> None:
    hits = Retriever(tiny_encoder, store).search("quantum physics", k=3, mode="bm25")
    assert hits[0].id == "d" and all(h.score > 0 for h in hits)
    assert hits[0].text.startswith("Quantum physics") and hits[0].metadata == {"year": 2020}


def test_bm25_alone_encodes_no_query(store: MilvusStore, tiny_encoder: SpladeEncoder) -> None:
    class NoQueries:
        model_identity = tiny_encoder.model_identity

        def encode_documents(self, texts: Sequence[str], *, progress: Any = None) -> Any:
            return tiny_encoder.encode_documents(texts)

        def encode_queries(self, texts: Sequence[str], *, progress: Any = None) -> Any:
            raise AssertionError("BM25 search encoded a query")

    hits = Retriever(NoQueries(), store).search("red fox rodents", k=2, mode="bm25")
    assert hits[0].id == "g"


def test_the_default_analyzer_fits_the_engine(store: MilvusStore) -> None:
    # Lite has no English analyzer; a server stems and drops stop words.
    assert store.bm25_analyzer == ("standard" if store.is_lite else "english")


def test_the_server_stems_words(milvus_server_uri: str, collection_name: str) -> None:
    with MilvusStore(milvus_server_uri, collection=collection_name, bm25=True) as store:
        store.upsert(["x"], [{1: 1.0}], ["Foxes jumped over the fences"])
        hits = store.search(None, 5, texts=["fox jumping fence"], mode="bm25")[0]
        assert [h.id for h in hits] == ["x"]
        store.drop()


def test_lite_refuses_an_analyzer_it_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="Milvus Lite's BM25 supports the analyzers standard"):
        MilvusStore(str(tmp_path / "a.db"), bm25=True, analyzer="english")


def test_a_collection_without_bm25_says_how_to_get_it(
    milvus_uri: str, collection_name: str, tiny_encoder: SpladeEncoder
) -> None:
    with MilvusStore(milvus_uri, collection=collection_name) as store:
        retriever = Retriever(tiny_encoder, store)
        retriever.index(DOCS[:2])
        for mode in ("bm25", "hybrid"):
            with pytest.raises(StoreError, match=r"has no BM25 field.*bm25=True"):
                retriever.search("fox", mode=mode)
        with pytest.raises(StoreError, match="Milvus cannot add one"):
            MilvusStore(milvus_uri, collection=collection_name, bm25=True)
        store.drop()


def test_memory_store_and_bad_options_are_refused_clearly(tiny_encoder: SpladeEncoder) -> None:
    retriever = Retriever(tiny_encoder, MemoryStore())
    with pytest.raises(InvalidArgumentError, match="in-memory store has no BM25"):
        retriever.search("fox", mode="hybrid")
    with pytest.raises(InvalidArgumentError, match="mode must be one of splade, bm25, hybrid"):
        retriever.search("fox", mode="dense")
    with pytest.raises(InvalidArgumentError, match="weights must be >= 0"):
        retriever.search("fox", mode="hybrid", fusion="weighted", weights=(-1.0, 1.0))
