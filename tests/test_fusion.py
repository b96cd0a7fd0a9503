"""Fusion and ranking as plain functions: RRF, Milvus's weighted fusion; and Milvus's answers
read as hits (BM25's sign, placeholders).

No engine here: every expected figure is computed by hand from the definitions. That the
engines agree with these functions is tests/test_hybrid.py's part.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from spladekit import Hit
from spladekit.store import fusion, milvus_results, requests
from spladekit.store.protocol import SearchOptions


def hits(*pairs: tuple[str, float]) -> list[Hit]:
    return [Hit(doc_id, score) for doc_id, score in pairs]


def test_top_k_takes_positive_scores_best_first_and_ties_in_order() -> None:
    scores = np.array([0.5, 0.0, 2.0, 0.5, -1.0, 2.0, 0.1])
    assert fusion.top_k(scores, 10).tolist() == [2, 5, 0, 3, 6]  # no 0, no negative
    assert fusion.top_k(scores, 3).tolist() == [2, 5, 0]  # the tie at 0.5: position 0 first
    assert fusion.top_k(scores, 1).tolist() == [2]
    assert fusion.top_k(np.zeros(4), 2).tolist() == []
    assert fusion.top_k(np.array([]), 2).tolist() == []


def test_top_k_keeps_position_order_among_many_ties() -> None:
    scores = np.array([1.0] * 50 + [3.0] + [1.0] * 50)
    assert fusion.top_k(scores, 4).tolist() == [50, 0, 1, 2]


def test_rrf_sums_reciprocal_ranks_over_the_legs() -> None:
    splade = hits(("a", 9.0), ("b", 5.0), ("c", 1.0))
    bm25 = hits(("c", 30.0), ("d", 20.0))
    fused = fusion.rrf([splade, bm25], k=10, rrf_k=60)
    expected = {
        "a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62,
    }
    assert [h.id for h in fused] == ["c", "a", "b", "d"]  # b and d tie: b was found first
    assert {h.id: h.score for h in fused} == pytest.approx(expected)
    assert [h.id for h in fusion.rrf([splade, bm25], k=2, rrf_k=60)] == ["c", "a"]
    # The constant matters: with rrf_k=1, rank 1 alone beats ranks 2 and 3 together.
    small = fusion.rrf([hits(("x", 1.0), ("y", 1.0)), hits(("z", 1.0), ("y", 1.0))], 3, 1)
    assert {h.id: h.score for h in small} == pytest.approx({"x": 1 / 2, "z": 1 / 2, "y": 2 / 3})


def test_weighted_fusion_normalises_each_leg_by_arctan_as_milvus_does() -> None:
    splade = hits(("a", 2.0), ("b", 0.5))
    bm25 = hits(("b", 7.0), ("c", 1.0))
    weights = (0.7, 0.3)
    fused = fusion.weighted(splade, bm25, weights, k=10)

    def ip(s: float) -> float:
        return 0.5 + math.atan(s) / math.pi

    def bm(s: float) -> float:
        return 2 * math.atan(s) / math.pi

    expected = {
        "a": 0.7 * ip(2.0),
        "b": 0.7 * ip(0.5) + 0.3 * bm(7.0),
        "c": 0.3 * bm(1.0),
    }
    assert {h.id: h.score for h in fused} == pytest.approx(expected)
    assert [h.id for h in fused] == sorted(expected, key=lambda d: -expected[d])
    assert fusion.norm_ip(0.0) == 0.5 and fusion.norm_bm25(0.0) == 0.0
    # A negated BM25 score (Milvus Lite 3.2) normalises as the positive one.
    assert fusion.norm_bm25(-7.0) == pytest.approx(bm(7.0))


def test_fuse_follows_the_options_and_fuses_a_lone_leg() -> None:
    bm25 = hits(("p", 4.0), ("q", 2.0))
    rrf = fusion.fuse([], bm25, SearchOptions(rrf_k=10), k=5)
    assert [h.id for h in rrf] == ["p", "q"]
    assert [h.score for h in rrf] == pytest.approx([1 / 11, 1 / 12])
    weighted = fusion.fuse([], bm25, SearchOptions(fusion="weighted", weights=(1.0, 1.0)), k=1)
    assert [(h.id, h.score) for h in weighted] == [("p", pytest.approx(2 * math.atan(4) / math.pi))]


def test_fused_hits_keep_the_text_and_metadata_found_first() -> None:
    splade = [Hit("a", 1.0, "from splade", {"leg": 1})]
    bm25 = [Hit("a", 3.0, "from bm25", {"leg": 2}), Hit("b", 1.0)]
    [first, second] = fusion.rrf([splade, bm25], 5, 60)
    assert (first.id, first.text, first.metadata) == ("a", "from splade", {"leg": 1})
    assert (second.id, second.text, second.metadata) == ("b", "", {})


def test_milvus_answers_become_hits_placeholders_dropped_bm25_made_positive() -> None:
    raws = [
        {"id": "a", "distance": 1.5, "entity": {"text": "A", "metadata": {"y": 1}, "empty": False}},
        {"id": "e", "distance": 1e-6, "entity": {"text": "", "metadata": {}, "empty": True}},
        {"id": "it\x1es", "distance": 0.5, "entity": {"empty": False}},  # a quote, as stored
    ]
    assert milvus_results.is_placeholder(raws[1]) and not milvus_results.is_placeholder(raws[0])
    splade = milvus_results.splade_hits(raws)
    assert splade == [Hit("a", 1.5, "A", {"y": 1}), Hit("it's", 0.5, "", {})]
    bm25 = milvus_results.bm25_hits([{"id": "b", "distance": -3.25, "entity": {}}])
    assert bm25 == [Hit("b", 3.25)]
    assert milvus_results.bm25_score(-2.0) == milvus_results.bm25_score(2.0) == 2.0


def test_search_requests_carry_the_consistency_filter_and_fields() -> None:
    opts = SearchOptions(filter='metadata["y"] > 1', with_text=False)
    splade = requests.splade_search([{1: 1.0}], 7, opts, requests.documents_only(opts.filter))
    assert splade["consistency_level"] == "Bounded"  # the default for searches
    assert splade["filter"] == '(metadata["y"] > 1) and empty == false'
    assert splade["output_fields"] == ["empty", "metadata"] and splade["limit"] == 7
    bm25 = requests.bm25_search(["words"], 3, opts.replace(consistency="Strong"))
    assert bm25["consistency_level"] == "Strong" and bm25["filter"] == 'metadata["y"] > 1'
    assert "filter" not in requests.bm25_search(["words"], 3, SearchOptions())
    assert requests.documents_only(None) == "empty == false"


def test_a_consistency_level_milvus_does_not_have_is_refused() -> None:
    from spladekit import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="consistency must be one of Strong"):
        SearchOptions(consistency="strong")  # type: ignore[arg-type]
