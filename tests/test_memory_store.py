"""MemoryStore: the exact store follows the Store protocol as MilvusStore does."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.sparse import csr_array

from spladekit import InvalidArgumentError, MemoryStore, ModelIdentity, ModelMismatchError, Store
from spladekit.store import open_store


def test_it_is_a_store_and_scores_are_exact_dot_products() -> None:
    store = MemoryStore()
    assert isinstance(store, Store)
    rng = np.random.default_rng(0)
    docs = csr_array(rng.random((30, 50)) * (rng.random((30, 50)) < 0.2))
    queries = csr_array(rng.random((4, 50)) * (rng.random((4, 50)) < 0.3))
    store.upsert([f"d{i}" for i in range(30)], docs, [f"text {i}" for i in range(30)])
    exact = (queries @ docs.T).toarray()
    for q, hits in enumerate(store.search(queries, k=5)):
        order = [i for i in np.argsort(-exact[q], kind="stable")[:5] if exact[q, i] > 0]
        assert [h.id for h in hits] == [f"d{i}" for i in order]
        assert [h.score for h in hits] == pytest.approx([exact[q, i] for i in order], rel=1e-6)
        assert all(h.text == f"text {h.id[1:]}" for h in hits)


def test_queries_scored_chunk_by_chunk_give_the_exact_top_k(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import spladekit.store.memory as memory

    store = MemoryStore()
    rng = np.random.default_rng(1)
    docs = csr_array(rng.random((40, 60)) * (rng.random((40, 60)) < 0.2))
    queries = csr_array(rng.random((25, 60)) * (rng.random((25, 60)) < 0.3))
    store.upsert([f"d{i}" for i in range(40)], docs)
    whole = store.search(queries, k=7)
    monkeypatch.setattr(memory, "SCORE_CHUNK_CELLS", 3 * 40)  # three queries per chunk
    assert store.search(queries, k=7) == whole
    exact = (queries @ docs.T).toarray()
    for q, hits in enumerate(whole):
        order = [i for i in np.argsort(-exact[q], kind="stable")[:7] if exact[q, i] > 0]
        assert [h.id for h in hits] == [f"d{i}" for i in order]


def test_ties_keep_insertion_order_and_a_replaced_document_moves_last() -> None:
    store = MemoryStore()
    store.upsert(["a", "b", "c", "d"], [{1: 1.0}] * 4)
    assert [h.id for h in store.search({1: 2.0}, k=3)[0]] == ["a", "b", "c"]
    store.upsert(["a"], [{1: 1.0}])
    assert [h.id for h in store.search({1: 2.0}, k=4)[0]] == ["b", "c", "d", "a"]
    assert [h.score for h in store.search({1: 2.0}, k=4)[0]] == [2.0] * 4
    # A query over dimensions no document has scores nothing, and is no error.
    far = store.search([{500: 1.0}, {1: 1.0, 900: 3.0}], k=2)
    assert far[0] == [] and [h.id for h in far[1]] == ["b", "c"]


def test_upserts_replace_and_empty_documents_are_kept_but_never_found() -> None:
    store = MemoryStore()
    result = store.upsert(["a", "b", "c"], [{1: 1.0}, {}, {2: 1.0}], ["one", "", "three"])
    assert result.empty_ids == ["b"] and store.count() == 3
    store.upsert(["a"], [{3: 2.0}], ["replaced"], [{"v": 1}])
    [doc] = store.get(["a"])
    assert (doc.text, doc.metadata, doc.empty) == ("replaced", {"v": 1}, False)
    assert store.get(["b"])[0].empty
    assert store.search({1: 1.0})[0] == []
    assert [h.id for h in store.search({3: 1.0, 0: 1.0})[0]] == ["a"]
    assert store.get_vectors(["a", "b", "missing"]) == {"a": {3: 2.0}, "b": {}}
    store.delete(["a", "missing"])
    assert store.existing_ids(["a", "b", "c"]) == {"b", "c"}


def test_filters_and_approximation_are_refused() -> None:
    store = MemoryStore()
    with pytest.raises(InvalidArgumentError, match="does not evaluate Milvus filter"):
        store.search({1: 1.0}, filter='metadata["y"] > 1')
    with pytest.raises(InvalidArgumentError, match="exact: drop_ratio_search must be 0"):
        store.search({1: 1.0}, drop_ratio_search=0.5)


def test_it_records_its_model_and_refuses_another() -> None:
    store = open_store("memory://", model=ModelIdentity("a", "111"))
    store.check_model(ModelIdentity("a-moved", "111"))  # same weights, another name: fine
    with pytest.raises(ModelMismatchError, match=r"'a' .*111.*'b' .*222"):
        store.check_model(ModelIdentity("b", "222"))
    store.check_model(ModelIdentity("b", "222"), allow_other=True)


def test_checking_a_model_records_nothing_recording_does() -> None:
    store = MemoryStore()
    store.check_model(ModelIdentity("a", "111"))
    store.check_model(ModelIdentity("b", "222"))  # nothing recorded yet: both pass
    store.record_model(ModelIdentity("a", "111"))
    store.record_model(ModelIdentity("b", "222"))  # a record stays
    with pytest.raises(ModelMismatchError):
        store.check_model(ModelIdentity("b", "222"))


def test_concurrent_writers_and_readers_lose_nothing() -> None:
    store = MemoryStore()

    def write(first: int) -> None:
        for i in range(first, first + 200):
            store.upsert([f"d{i}"], [{i % 40 + 1: 1.0}])
            store.search({i % 40 + 1: 1.0}, k=3)

    threads = [threading.Thread(target=write, args=(n * 200,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 800
