"""Small BEIR folders for the fine-tune tests: a seeded slice of SciFact, or hand-made ones."""

from __future__ import annotations

import json
import random
from pathlib import Path


def write_beir(
    folder: Path,
    corpus: list[dict[str, str]],
    queries: dict[str, str],
    qrels: dict[str, list[tuple[str, str, int]]] | None = None,
) -> Path:
    """Write corpus.jsonl, queries.jsonl and qrels/<split>.tsv (with BEIR's header line)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items())
    )
    (folder / "qrels").mkdir(exist_ok=True)
    for split, rows in (qrels or {}).items():
        body = "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows)
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + body)
    return folder


def read_tsv(path: Path) -> list[tuple[str, str, int]]:
    rows = []
    for line in path.read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        rows.append((q, d, int(g)))
    return rows


def scifact_slice(
    scifact: Path, folder: Path, *, train_queries: int, test_queries: int, extra_docs: int,
    seed: int = 3,
) -> Path:
    """A seeded slice of SciFact: some train and test queries, their judged documents and
    ``extra_docs`` other documents; the split files keep BEIR's layout."""
    rng = random.Random(seed)
    train = read_tsv(scifact / "qrels" / "train.tsv")
    test = read_tsv(scifact / "qrels" / "test.tsv")
    train_q = sorted({q for q, _, _ in train})
    test_q = sorted({q for q, _, _ in test})
    keep_train = set(rng.sample(train_q, train_queries))
    keep_test = set(rng.sample(test_q, test_queries))
    train_rows = [r for r in train if r[0] in keep_train]
    test_rows = [r for r in test if r[0] in keep_test]
    judged = {d for _, d, _ in train_rows + test_rows}
    docs = [json.loads(line) for line in (scifact / "corpus.jsonl").read_text().splitlines()]
    others = [d for d in docs if d["_id"] not in judged]
    corpus = [d for d in docs if d["_id"] in judged] + rng.sample(others, extra_docs)
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (scifact / "queries.jsonl").read_text().splitlines())
        if q["_id"] in keep_train | keep_test
    }
    return write_beir(
        folder, corpus, queries,
        {"train": train_rows, "test": test_rows},
    )
