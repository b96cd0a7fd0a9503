"""Fine-tune data: pairs from labels, JSONL or the corpus; every bad case named by file and line;
negatives mined through Milvus Lite never include a positive or its near-duplicate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spladekit import InvalidArgumentError, MilvusStore, Retriever
from spladekit.finetune import MiningConfig, load_labelled, self_supervised
from spladekit.finetune.data import Pair, hold_out
from spladekit.finetune.mining import mine_negatives
from spladekit.finetune.selfsup import without_title
from support.finetune import write_beir

LONG = "cells divide when the signal arrives and the membrane potential changes quickly"


def _corpus() -> list[dict[str, str]]:
    return [
        {"_id": "d1", "title": "Insulin signalling", "text": "Insulin binds its receptor. " + LONG},
        {"_id": "d2", "title": "Bone density",
         "text": "Calcium intake raises bone density. " + LONG},
        {"_id": "d3", "title": "", "text": "Vitamin D deficiency is common in winter. " + LONG},
    ]


def test_beir_labels_give_one_pair_per_judged_document_and_dev_from_dev_tsv(tmp_path: Path):
    folder = write_beir(
        tmp_path / "b", _corpus(), {"q1": "does insulin bind", "q2": "bone and calcium"},
        {"train": [("q1", "d1", 1), ("q1", "d3", 1)], "dev": [("q2", "d2", 2)]},
    )
    data = load_labelled(folder)
    assert [(p.query_id, p.positive_ids) for p in data.train] == [
        ("q1", ("d1", "d3")), ("q1", ("d1", "d3"))
    ]
    assert data.train[0].positive.startswith("Insulin signalling Insulin binds")
    assert [p.query_id for p in data.dev] == ["q2"]
    assert data.dev_rule.startswith("qrels/dev.tsv")
    assert data.rule == "labels: qrels/train.tsv"
    assert len(data.digest) == 64


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("ungraded", r"train.tsv: query 'q1' has no judged relevant document"),
        ("missing_doc", r"train.tsv: query 'q1' judges document 'd9', which .*corpus.jsonl lacks"),
        ("missing_query", r"train.tsv: query 'q7' .*queries.jsonl lacks it"),
        ("empty_query", r"queries.jsonl line 1 \(query 'q1'\): 'text' is empty"),
        ("empty_doc", r"corpus.jsonl line 4 \(document 'd4'\): empty title and text"),
        ("bad_json", r"queries.jsonl line 2: not valid JSON"),
    ],
)
def test_bad_beir_data_is_named_by_file_and_line(tmp_path: Path, case: str, expected: str):
    corpus = [*_corpus(), {"_id": "d4", "title": "", "text": " "}]
    queries = {"q1": "does insulin bind"}
    rows = [("q1", "d1", 1)]
    if case == "ungraded":
        rows = [("q1", "d1", 0)]
    elif case == "missing_doc":
        rows = [("q1", "d9", 1)]
    elif case == "missing_query":
        rows = [("q7", "d1", 1)]
    elif case == "empty_query":
        queries = {"q1": "  "}
    elif case == "empty_doc":
        rows = [("q1", "d4", 1)]
    folder = write_beir(tmp_path / case, corpus, queries, {"train": rows})
    if case == "bad_json":
        with open(folder / "queries.jsonl", "a") as handle:
            handle.write("{not json\n")
    with pytest.raises(InvalidArgumentError, match=expected):
        load_labelled(folder)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"query": "a question", "positive": ""}', r"pairs.jsonl line 2: 'positive' is empty"),
        ('{"positive": "an answer"}',
         r"pairs.jsonl line 2: 'query' must be a string, got NoneType"),
        ('{"query": "q", "positive": "p", "negatives": "n"}',
         r"pairs.jsonl line 2: 'negatives' must be a list of strings, got str"),
        ('{"query": "q", "positive": "p", "negatives": ["n", ""]}',
         r"pairs.jsonl line 2: negatives\[1\] must be a non-empty string"),
        ('["q", "p"]', r"pairs.jsonl line 2: expected a JSON object, got list"),
    ],
)
def test_bad_jsonl_pairs_are_named_by_file_and_line(tmp_path: Path, line: str, expected: str):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"query": "first", "positive": "fine"}\n' + line + "\n")
    with pytest.raises(InvalidArgumentError, match=expected):
        load_labelled(path)


def test_jsonl_pairs_keep_their_negatives(tmp_path: Path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"query": "q", "positive": "p", "negatives": ["n1", "n2"]}) + "\n")
    data = load_labelled(path)
    assert data.train == [Pair("q", "p", "line 1", (), ("n1", "n2"))]
    assert data.corpus is None


def test_bad_data_is_one_line_on_the_command_line(tmp_path: Path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"query": "q", "positive": "p"}\n{"query": "", "positive": "p"}\n')
    done = subprocess.run(
        [sys.executable, "-m", "spladekit.cli", "finetune", str(path), "--out",
         str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {path} line 2: 'query' is empty; every text needs words to learn"
    ]
    assert not (tmp_path / "out").exists()


def test_without_labels_titles_become_queries_and_leave_the_body(tmp_path: Path):
    folder = write_beir(tmp_path / "b", _corpus(), {})
    data = self_supervised(folder, seed=1)
    by_id = {p.positive_ids[0]: p for p in data.train}
    assert by_id["d1"].query == "Insulin signalling"
    assert "Insulin signalling" not in by_id["d1"].positive
    # d3 has no title: one of its sentences is the query, the rest the positive.
    assert by_id["d3"].query_id == "span:d3"
    assert by_id["d3"].query not in by_id["d3"].positive
    assert data.counts["title_pairs"] == 2 and data.counts["span_pairs"] == 1
    assert data.rule == (
        "self-supervised: title -> body (2 pairs), span -> rest (inverse cloze) (1 pairs)"
    )


def test_without_title_removes_a_repeated_title():
    assert without_title("Bone density", "Bone density. Calcium helps.") == "Calcium helps."
    assert without_title("Bone", "Calcium and Bone loss") == "Calcium and  loss"
    assert without_title("", "Calcium helps.") == "Calcium helps."


def test_self_supervised_samples_at_most_max_pairs_with_a_seed(tmp_path: Path):
    corpus = [{"_id": f"d{i}", "title": f"title {i}", "text": LONG} for i in range(50)]
    folder = write_beir(tmp_path / "b", corpus, {})
    first = self_supervised(folder, max_pairs=10, seed=5)
    again = self_supervised(folder, max_pairs=10, seed=5)
    assert len(first.train) == 10 and first.train == again.train
    assert first.counts["documents"] == 50


def test_held_out_dev_keeps_each_query_on_one_side(tmp_path: Path):
    corpus = [{"_id": f"d{i}", "title": "", "text": LONG} for i in range(40)]
    queries = {f"q{i}": f"question {i}" for i in range(20)}
    rows = [(f"q{i}", f"d{2 * i + j}", 1) for i in range(20) for j in range(2)]
    data = hold_out(load_labelled(write_beir(tmp_path / "b", corpus, queries, {"train": rows})),
                    0.25, seed=3)
    train_q = {p.query_id for p in data.train}
    dev_q = {p.query_id for p in data.dev}
    assert len(dev_q) == 5 and not train_q & dev_q and len(train_q | dev_q) == 20
    assert data.dev_rule == "held out from train: 5 of 20 queries (seed 3)"


def test_mining_config_refuses_windows_that_cannot_work():
    with pytest.raises(InvalidArgumentError, match="1 <= FIRST <= LAST"):
        MiningConfig(window=(20, 10))
    with pytest.raises(InvalidArgumentError, match="holds 2 ranks, fewer than the 3 negatives"):
        MiningConfig(negatives=3, window=(5, 6))


@pytest.mark.slow
def test_mining_through_milvus_lite_never_takes_a_positive_or_its_near_duplicate(
    tmp_path: Path, tiny_encoder, scifact_dir: Path  # type: ignore[no-untyped-def]
):
    docs = [json.loads(line) for line in
            (scifact_dir / "corpus.jsonl").read_text().splitlines()[:120]]
    texts = {d["_id"]: f"{d['title']} {d['text']}" for d in docs}
    # A near-copy of d0 under another id: it must not be mined as a negative for d0's pair.
    copy_id = "copy-of-" + docs[0]["_id"]
    texts[copy_id] = texts[docs[0]["_id"]] + " (preprint)"
    store = MilvusStore(str(tmp_path / "m.db"), collection="c", bm25=True,
                        model=tiny_encoder.model_identity)
    retriever = Retriever(tiny_encoder, store)
    retriever.index(list(texts.items()))
    pairs = [
        Pair(docs[i]["title"], texts[docs[i]["_id"]], f"q{i}", (docs[i]["_id"],))
        for i in range(12)
    ]
    mined, report = mine_negatives(pairs, retriever, MiningConfig(negatives=3, window=(1, 20)),
                                   has_bm25=True)
    store.close()
    assert report.mode == "hybrid" and report.pairs == 12
    # Ranks from 1: each pair's own document is found and excluded.
    assert report.excluded_positives >= 10
    assert report.excluded_near_duplicates >= 1
    for pair in mined:
        assert len(pair.negatives) == 3
        assert pair.positive not in pair.negatives
        assert texts[copy_id] not in pair.negatives if pair.query_id == "q0" else True
        assert all(neg in texts.values() for neg in pair.negatives)


def test_the_budget_controller_doubles_a_side_only_while_it_is_over_budget():
    from spladekit.finetune.budget import ControllerState, SparsityBudget, adjust, dev_score

    budget = SparsityBudget(document=200.0, query=40.0)
    state = adjust(ControllerState(), budget, document=250.0, query=30.0)
    assert (state.document_multiplier, state.query_multiplier) == (2.0, 1.0)
    state = adjust(state, budget, document=210.0, query=45.0)
    assert (state.document_multiplier, state.query_multiplier) == (4.0, 2.0)
    # Within budget: the weights stay where they are (never below the starting weight).
    state = adjust(state, budget, document=150.0, query=20.0)
    assert (state.document_multiplier, state.query_multiplier, state.checks) == (4.0, 2.0, 3)
    assert ControllerState.from_dict(state.to_dict()) == state
    # A checkpoint over budget ranks below every checkpoint within it.
    assert dev_score(0.70, budget, 201.0, 30.0) < dev_score(0.10, budget, 199.0, 30.0)
    assert SparsityBudget(document=100.0, query=None).met(99.0, 500.0)
    with pytest.raises(InvalidArgumentError, match="document budget must be a positive number"):
        SparsityBudget(document=0.0, query=None)
