"""Retriever: index by text and search by text, through the real small model and real Milvus."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.sparse import csr_array, vstack

from spladekit import InputTypeError, SpladeEncoder
from spladekit.corpus import Record
from spladekit.retrieval import Retriever
from spladekit.store.milvus import MilvusStore

QUERIES = ["microRNA expression and mortality", "stem cells in the heart", "air pollution"]


class CachedEncoder:
    """The real encoder, remembering each text's vector so that tests encode a text once."""

    def __init__(self, encoder: SpladeEncoder) -> None:
        self.encoder = encoder
        self.rows: dict[tuple[str, str], csr_array] = {}

    def _encode(self, kind: str, texts: Sequence[str]) -> csr_array:
        new = list(dict.fromkeys(t for t in texts if (kind, t) not in self.rows))
        if new:
            method = getattr(self.encoder, f"encode_{kind}")
            fresh = method(new)
            for i, text in enumerate(new):
                self.rows[(kind, text)] = fresh[[i]]
        if not texts:
            return csr_array((0, self.encoder.dim), dtype=np.float32)
        return csr_array(vstack([self.rows[(kind, t)] for t in texts], format="csr"))

    def encode_documents(self, texts: Sequence[str], *, progress: Any = None) -> csr_array:
        vectors = self._encode("documents", texts)
        if progress is not None:
            progress(len(texts))
        return vectors

    def encode_queries(self, texts: Sequence[str], *, progress: Any = None) -> csr_array:
        return self._encode("queries", texts)


class CountingEncoder:
    """Counts the documents it is asked to encode; optionally blanks some of them."""

    def __init__(self, encoder: CachedEncoder, blank: Sequence[str] = ()) -> None:
        self.encoder = encoder
        self.blank = set(blank)
        self.documents: list[str] = []

    def encode_documents(self, texts: Sequence[str], *, progress: Any = None) -> csr_array:
        self.documents.extend(texts)
        vectors = self.encoder.encode_documents(texts, progress=progress)
        if self.blank:
            # A text pruned to nothing (e.g. by a high threshold) gives an all-zero row.
            keep = np.array([0.0 if t in self.blank else 1.0 for t in texts], dtype=np.float32)
            vectors = csr_array(vectors.multiply(keep[:, None]))
            vectors.eliminate_zeros()
        return vectors

    def encode_queries(self, texts: Sequence[str], *, progress: Any = None) -> csr_array:
        return self.encoder.encode_queries(texts, progress=progress)


@pytest.fixture(scope="module")
def encoder(tiny_encoder: SpladeEncoder) -> CachedEncoder:
    return CachedEncoder(tiny_encoder)


@pytest.fixture(scope="module")
def records(scifact_dir: Path) -> list[Record]:
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(next(handle)) for _ in range(30)]
    return [
        Record(str(r["_id"]), f"{r['title']} {r['text'][:200]}", {"n": i})
        for i, r in enumerate(rows)
    ]


@pytest.fixture
def store(milvus_uri: str, collection_name: str) -> Iterator[MilvusStore]:
    with MilvusStore(milvus_uri, collection=collection_name) as opened:
        yield opened
        opened.drop()


def test_index_then_search_by_text_ranks_like_exact_scores(
    store: MilvusStore, tiny_encoder: SpladeEncoder, encoder: CachedEncoder, records: list[Record]
) -> None:
    retriever = Retriever(tiny_encoder, store)  # the SpladeEncoder itself
    report = retriever.index([(r.id, r.text, r.metadata) for r in records], chunk_size=8)
    assert (report.seen, report.encoded, report.skipped, report.empty) == (30, 30, 0, 0)
    assert store.count() == 30

    docs = encoder.encode_documents([r.text for r in records])
    query = encoder.encode_queries([QUERIES[0]])
    scores = (query @ docs.T).toarray()[0]
    expected = [records[i].id for i in np.argsort(-scores, kind="stable")[:5]]
    hits = retriever.search(QUERIES[0], k=5)
    assert [h.id for h in hits] == expected
    by_id = {r.id: r for r in records}
    for hit in hits:
        assert hit.text == by_id[hit.id].text and hit.metadata == by_id[hit.id].metadata
        assert hit.score == pytest.approx(scores[[r.id for r in records].index(hit.id)], rel=1e-5)


def test_search_many_sends_one_milvus_call(
    store: MilvusStore, encoder: CachedEncoder, records: list[Record],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    retriever = Retriever(encoder, store)
    retriever.index(records)
    one_by_one = [retriever.search(q, k=3) for q in QUERIES]
    calls: list[int] = []
    real_search = store.client.search

    def counting_search(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real_search(*args, **kwargs)

    monkeypatch.setattr(store.client, "search", counting_search)
    together = retriever.search_many(QUERIES, k=3)
    assert len(calls) == 1
    assert [[h.id for h in row] for row in together] == [[h.id for h in row] for row in one_by_one]


def test_reindexing_encodes_only_missing_documents(
    store: MilvusStore, encoder: CachedEncoder, records: list[Record]
) -> None:
    first = CountingEncoder(encoder)
    Retriever(first, store).index(records[:12], chunk_size=5)
    assert len(first.documents) == 12

    second = CountingEncoder(encoder)
    report = Retriever(second, store).index(records, chunk_size=5)
    assert (report.encoded, report.skipped) == (18, 12)
    assert second.documents == [r.text for r in records[12:]]
    assert store.count() == 30
    assert store.existing_ids([r.id for r in records]) == {r.id for r in records}

    third = CountingEncoder(encoder)
    again = Retriever(third, store).index(records, chunk_size=5, skip_existing=False)
    assert (again.encoded, again.skipped, store.count()) == (30, 0, 30)


def test_repeated_ids_in_the_input_are_stored_once(
    store: MilvusStore, encoder: CachedEncoder
) -> None:
    items = [("a", "first text"), ("b", "other text"), ("a", "second text"), ("a", "third")]
    report = Retriever(encoder, store).index(items, chunk_size=2)
    assert (report.seen, report.encoded, report.skipped) == (4, 2, 2)
    assert store.count() == 2
    assert store.get(["a"])[0].text == "first text"


def test_documents_with_empty_vectors_are_kept_not_returned(
    store: MilvusStore, encoder: CachedEncoder, records: list[Record]
) -> None:
    blank = records[3].text
    blanking = CountingEncoder(encoder, blank=[blank])
    report = Retriever(blanking, store).index(records[:10], chunk_size=4)
    assert (report.encoded, report.empty) == (10, 1)
    assert store.count() == 10
    [doc] = store.get([records[3].id])
    assert doc.empty and doc.text == blank
    # Searching with the document's own text finds the others, never the empty one.
    hits = Retriever(blanking, store).search(blank, k=10)
    assert hits and records[3].id not in {h.id for h in hits}


def test_bad_inputs_are_reported(store: MilvusStore, encoder: CachedEncoder) -> None:
    retriever = Retriever(encoder, store)
    with pytest.raises(InputTypeError, match="record 1: expected a spladekit Record"):
        retriever.index([("a", "text"), "just a string"])  # type: ignore[list-item]
    with pytest.raises(InputTypeError, match="use search_many"):
        retriever.search(["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="queries must be a list of str"):
        retriever.search_many("one query")
    with pytest.raises(InputTypeError, match="encoder must have encode_documents"):
        Retriever(object(), store)  # type: ignore[arg-type]
    assert retriever.search_many([]) == []


def test_embedding_function_works_as_the_encoder(
    tmp_path: Path, tiny_model_dir: Path, records: list[Record]
) -> None:
    from spladekit import SpladeEmbeddingFunction

    function = SpladeEmbeddingFunction(str(tiny_model_dir))
    with MilvusStore(str(tmp_path / "ef.db")) as store:
        retriever = Retriever(function, store)
        assert retriever.index(records[:6]).encoded == 6
        hits = retriever.search(records[2].text, k=1)
        assert [h.id for h in hits] == [records[2].id]
