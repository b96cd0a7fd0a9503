"""Ranking metrics checked by hand, BEIR loading, and the BM25 baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from spladekit import InvalidArgumentError
from spladekit.corpus import Record
from spladekit.evaluation import bm25_rank, load_beir, ranking_metrics, read_qrels


def test_metrics_match_a_hand_computed_case() -> None:
    qrels = {
        "q1": {"d1": 1, "d2": 1, "d5": 0},
        "q2": {"d7": 1},
        "q3": {"d9": 1},  # judged but never answered: scores 0
    }
    ranking = {
        "q1": ["d3", "d1", "d4", "d2", "d5"],
        # The only relevant document at rank 11: inside the top 100, outside the top 10.
        "q2": [f"x{i}" for i in range(10)] + ["d7"],
    }
    metrics = ranking_metrics(ranking, qrels)

    # q1: relevant at ranks 2 and 4; ideal ranking puts them at 1 and 2.
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3)
    ndcg = [dcg / ideal, 0.0, 0.0]
    mrr = [1 / 2, 0.0, 0.0]  # q2's 1/11 does not count: MRR is cut at 10
    recall = [1.0, 1.0, 0.0]
    assert metrics["nDCG@10"] == pytest.approx(sum(ndcg) / 3)
    assert metrics["MRR@10"] == pytest.approx(sum(mrr) / 3)
    assert metrics["Recall@100"] == pytest.approx(sum(recall) / 3)


def test_rank_order_is_kept_and_recall_is_cut_at_100() -> None:
    qrels = {"q": {"late": 1, "early": 1}}
    ranking = {"q": ["early"] + [f"x{i}" for i in range(99)] + ["late"]}
    metrics = ranking_metrics(ranking, qrels)
    assert metrics["MRR@10"] == 1.0
    assert metrics["Recall@100"] == 0.5


def write_beir(folder: Path) -> None:
    (folder / "qrels").mkdir(parents=True)
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "Cats purr and sleep all day long."},
        {"_id": "d2", "title": "", "text": "Volcanoes erupt molten lava and ash."},
        {"_id": "d3", "title": "Dogs", "text": "Dogs bark at the mail carrier."},
    ]
    queries = [
        {"_id": "q1", "text": "why do volcanoes erupt lava"},
        {"_id": "q2", "text": "sleeping cats"},
        {"_id": "q3", "text": "unjudged query"},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td2\t1\nq2\td1\t2\nq2\td3\t0\n"
    )


def test_load_beir_reads_corpus_judged_queries_and_qrels(tmp_path: Path) -> None:
    write_beir(tmp_path)
    dataset = load_beir(tmp_path)
    assert [r.id for r in dataset.corpus] == ["d1", "d2", "d3"]
    assert dataset.corpus[0].text == "Cats Cats purr and sleep all day long."
    assert dataset.queries == {"q1": "why do volcanoes erupt lava", "q2": "sleeping cats"}
    assert dataset.qrels == {"q1": {"d2": 1}, "q2": {"d1": 2, "d3": 0}}
    assert read_qrels(tmp_path / "qrels" / "test.tsv")["q2"]["d1"] == 2


def test_load_beir_names_what_is_missing(tmp_path: Path) -> None:
    write_beir(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"qrels/dev.tsv is missing"):
        load_beir(tmp_path, split="dev")
    (tmp_path / "qrels" / "test.tsv").write_text("q9\td1\t1\n")
    with pytest.raises(InvalidArgumentError, match=r"queries\.jsonl lacks"):
        load_beir(tmp_path)


def test_bm25_ranks_the_matching_document_first(tmp_path: Path) -> None:
    write_beir(tmp_path)
    dataset = load_beir(tmp_path)
    ranking = bm25_rank(dataset.corpus, dataset.queries, k=10)
    assert ranking["q1"][0] == "d2"
    assert ranking["q2"][0] == "d1"
    assert "d3" not in ranking["q1"]  # documents without a shared term score 0 and are left out
    assert ranking_metrics(ranking, dataset.qrels)["MRR@10"] == 1.0


def test_bm25_with_an_empty_corpus() -> None:
    assert bm25_rank([], {"q": "anything"}) == {"q": []}
    assert bm25_rank([Record("d", "words here")], {"q": "the"}, k=5) == {"q": []}


def test_a_query_is_never_its_own_hit() -> None:
    # BEIR's rule (ArguAna, Quora: queries are documents too): the query's own id is left out
    # before scoring, so the relevant document behind it moves up to rank 1.
    qrels = {"q1": {"d2": 1}}
    metrics = ranking_metrics({"q1": ["q1", "d2"]}, qrels)
    assert metrics["MRR@10"] == 1.0 and metrics["nDCG@10"] == pytest.approx(1.0)
    # Eleven hits: with the query's own id first, the relevant one is still in the top 10.
    ranking = {"q1": ["q1"] + [f"x{i}" for i in range(9)] + ["d2"]}
    assert ranking_metrics(ranking, qrels)["MRR@10"] == pytest.approx(1 / 10)


def test_bm25_leaves_the_querys_own_id_out_and_still_gives_k() -> None:
    corpus = [
        Record("q1", "volcanoes erupt lava"),
        Record("d1", "volcanoes erupt molten lava"),
        Record("d2", "lava flows from volcanoes"),
    ]
    ranking = bm25_rank(corpus, {"q1": "volcanoes erupt lava"}, k=2)
    assert ranking == {"q1": ["d1", "d2"]}


def test_a_retrievers_ranking_leaves_the_querys_own_id_out(tiny_encoder: object) -> None:
    from spladekit import MemoryStore, Retriever
    from spladekit.evaluation import BeirDataset, run_queries
    from spladekit.store import SearchOptions

    corpus = [
        Record("q1", "volcanoes erupt lava"),
        Record("d1", "volcanoes erupt molten lava"),
        Record("d2", "lava flows from volcanoes"),
    ]
    retriever = Retriever(tiny_encoder, MemoryStore())  # type: ignore[arg-type]
    retriever.index(corpus)
    dataset = BeirDataset("own", corpus, {"q1": "volcanoes erupt lava"}, {"q1": {"d1": 1}})
    ranking, _ = run_queries(retriever, dataset, 2, SearchOptions())
    assert ranking["q1"] and "q1" not in ranking["q1"] and len(ranking["q1"]) == 2
    assert retriever.search("volcanoes erupt lava", k=1)[0].id == "q1"  # it is its best match
