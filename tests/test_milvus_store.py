"""MilvusStore against real Milvus: a Milvus Lite file and a real Milvus server process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.sparse import csr_array

from spladekit import Hit, InputTypeError, InvalidArgumentError, MemoryStore, StoreError
from spladekit.store.milvus import EMPTY_PLACEHOLDER_WEIGHT, MilvusStore
from spladekit.vectors import to_milvus_rows

DIM = 30522


@pytest.fixture
def store(milvus_uri: str, collection_name: str) -> Iterator[MilvusStore]:
    with MilvusStore(milvus_uri, collection=collection_name) as opened:
        yield opened
        opened.drop()


def random_vectors(n: int, nnz: int, seed: int, span: int = 3000) -> csr_array:
    """Non-negative float32 rows with ``nnz`` weights drawn from the first ``span`` dimensions."""
    rng = np.random.default_rng(seed)
    indptr = np.arange(0, (n + 1) * nnz, nnz)
    indices = np.concatenate([np.sort(rng.choice(span, nnz, replace=False)) for _ in range(n)])
    values = rng.uniform(0.01, 3.0, n * nnz).astype(np.float32)
    return csr_array((values, indices, indptr), shape=(n, DIM))


def assert_matches_exact(
    hits: list[list[Hit]], queries: csr_array, docs: csr_array, ids: list[str], k: int
) -> None:
    """Milvus's hits equal the exact ones (spladekit's MemoryStore: scipy dot products)."""
    exact = MemoryStore()
    exact.upsert(ids, docs)
    expected = exact.search(queries, k)
    assert len(hits) == queries.shape[0] == len(expected)
    for row, want in zip(hits, expected, strict=True):
        assert [h.id for h in row] == [h.id for h in want]
        for got, exact_hit in zip(row, want, strict=True):
            assert got.score == pytest.approx(exact_hit.score, rel=1e-5)


def test_round_trip_2d_csr_matches_exact_dot_products(store: MilvusStore) -> None:
    docs = random_vectors(300, 40, seed=1)
    ids = [f"doc-{i}" for i in range(300)]
    result = store.upsert(ids, docs, [f"text {i}" for i in range(300)])
    assert result.count == 300 and result.empty_ids == []
    assert store.count() == 300
    queries = random_vectors(12, 15, seed=2)
    hits = store.search(queries, k=10)  # a 2-D csr_array straight in: pymilvus alone fails here
    assert_matches_exact(hits, queries, docs, ids, 10)
    assert hits[0][0].text == f"text {ids.index(hits[0][0].id)}"


def test_real_encoder_output_round_trip(
    store: MilvusStore, tiny_encoder: object, scifact_dir: Path
) -> None:
    import json

    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(next(handle)) for _ in range(40)]
    texts = [f"{r['title']} {r['text'][:300]}" for r in rows]
    ids = [str(r["_id"]) for r in rows]
    docs = tiny_encoder.encode_documents(texts)  # type: ignore[attr-defined]
    store.upsert(ids, docs, texts)
    queries = tiny_encoder.encode_queries(  # type: ignore[attr-defined]
        ["microRNA expression and mortality", "stem cells in the heart", "air pollution"]
    )
    assert_matches_exact(store.search(queries, k=5), queries, docs, ids, 5)


def test_accepts_dict_rows_single_rows_and_pairs(store: MilvusStore) -> None:
    matrix = random_vectors(4, 5, seed=3, span=50)
    dict_rows = to_milvus_rows(matrix)
    store.upsert(["d0", "d1"], dict_rows[:2])  # list of {index: weight}
    store.upsert(["d2"], matrix[[2]])  # a 1 x V row
    store.upsert(["d3"], matrix[3])  # a 1-D row, as iterating a csr_array gives
    # Rows beyond the first 50 dimensions, which the random rows use.
    store.upsert(["d4"], {57: 0.5, 59: 1.5})  # one dict
    store.upsert(["d5"], [[(57, 1.0), (61, 2.0)]])  # one row as (index, weight) pairs
    store.upsert(["d6"], np.eye(1, 70, 61, dtype=np.float32)[0])  # a dense 1-D row
    assert store.count() == 7
    for i in range(4):
        for query in (matrix[[i]], matrix[i], dict_rows[i]):
            hits = store.search(query, k=1)
            assert len(hits) == 1 and hits[0][0].id == f"d{i}"
    assert [h.id for h in store.search({61: 1.0}, k=5)[0]] == ["d5", "d6"]
    assert [h.id for h in store.search([[(57, 1.0)]], k=5)[0]] == ["d5", "d4"]


def test_upsert_replaces_documents_by_id(store: MilvusStore) -> None:
    store.upsert(["a", "b"], [{1: 1.0}, {2: 1.0}], ["first", "b"])
    store.upsert(["a"], [{3: 1.0}], ["second"], [{"v": 2}])
    assert store.count() == 2
    [doc] = store.get(["a"])
    assert (doc.text, doc.metadata) == ("second", {"v": 2})
    assert store.search({1: 1.0})[0] == []
    assert [h.id for h in store.search({3: 1.0})[0]] == ["a"]


def test_empty_vectors_are_stored_flagged_and_never_returned(store: MilvusStore) -> None:
    rows = csr_array(np.array([[0, 1.0, 0, 0], [0, 0, 0, 0], [0, 0, 2.0, 0]], dtype=np.float32))
    result = store.upsert(["full", "empty", "other"], rows, ["a", "", "c"], [None, {"k": 1}, None])
    assert result.empty_ids == ["empty"]
    more = store.upsert(["dict-empty", "zeros"], [{}, {5: 0.0}], ["d", "z"])
    assert more.empty_ids == ["dict-empty", "zeros"]
    assert store.count() == 5
    stored = {d.id: d for d in store.get(["full", "empty", "dict-empty", "zeros"])}
    assert stored["empty"].empty and stored["empty"].metadata == {"k": 1}
    assert stored["zeros"].text == "z" and not stored["full"].empty
    # Even a query that weighs the placeholder's dimension does not see empty documents.
    hits = store.search([{0: 1.0, 1: 1.0}, {0: 1.0}], k=10)
    assert [h.id for h in hits[0]] == ["full"]
    assert hits[1] == []
    # What Milvus holds for an empty document is the documented placeholder vector.
    [raw] = store.client.query(
        store.collection, filter='id == "empty"', output_fields=["vector"]
    )
    assert raw["vector"] == {0: pytest.approx(EMPTY_PLACEHOLDER_WEIGHT)}


@pytest.mark.parametrize(
    ("vectors", "message"),
    [
        (csr_array(np.array([[1.0, 0], [0, np.nan]], dtype=np.float32)), "row 1 has weight nan"),
        (csr_array(np.array([[1.0, -2.0], [0, 1.0]], dtype=np.float32)), "row 0 has weight -2.0"),
        ([{1: 1.0}, {2: float("inf")}], "row 1 has weight inf"),
        ([{1: 1.0}, {2: -0.5}], "row 1 has weight -0.5"),
        ([{1: 1.0}, {-3: 0.5}], "index -3 is outside"),
        ([{1: 1.0}, "text"], "row 1: expected a dict"),
    ],
)
def test_invalid_vectors_are_rejected_before_writing(
    store: MilvusStore, vectors: object, message: str
) -> None:
    with pytest.raises((InvalidArgumentError, InputTypeError), match=message):
        store.upsert(["x", "y"], vectors)
    assert store.count() == 0


def test_ids_are_validated(store: MilvusStore) -> None:
    with pytest.raises(InvalidArgumentError, match="unique within one call"):
        store.upsert(["a", "a"], [{1: 1.0}, {2: 1.0}])
    with pytest.raises(InvalidArgumentError, match="2 ids but 1 vectors"):
        store.upsert(["a", "b"], [{1: 1.0}])
    with pytest.raises(InputTypeError, match="ids must be a list of str"):
        store.upsert("ab", [{1: 1.0}, {2: 1.0}])
    with pytest.raises(InvalidArgumentError, match="control characters"):
        store.upsert(["a\nb"], [{1: 1.0}])
    assert store.count() == 0


def test_ids_with_quotes_and_backslashes(store: MilvusStore) -> None:
    ids = ['say "hi"', "back\\slash", "it's", "ünïcødé"]
    store.upsert(ids, [{1: 1.0}] * 4)
    assert store.existing_ids([*ids, "absent"]) == set(ids)
    store.delete([ids[0], ids[1]])
    assert store.existing_ids(ids) == set(ids[2:])


def test_metadata_round_trip_and_filter(store: MilvusStore) -> None:
    store.upsert(
        ["old", "new"], [{1: 1.0}, {1: 2.0}], ["o", "n"], [{"year": 2001}, {"year": 2021}]
    )
    [[hit]] = store.search({1: 1.0}, k=5, filter='metadata["year"] < 2010')
    assert (hit.id, hit.metadata, hit.text) == ("old", {"year": 2001}, "o")
    [hits] = store.search({1: 1.0}, k=5, with_text=False, with_metadata=False)
    assert [(h.id, h.text, h.metadata) for h in hits] == [("new", "", {}), ("old", "", {})]


def test_searches_are_bounded_and_reads_of_what_was_written_are_strong(
    store: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.upsert(["a"], [{1: 1.0}], ["x"])
    levels: list[tuple[str, object]] = []
    for name in ("search", "query"):
        real = getattr(store.client, name)

        def spy(*args: object, _real: Any = real, _name: str = name, **kwargs: object) -> Any:
            levels.append((_name, kwargs.get("consistency_level")))
            return _real(*args, **kwargs)

        monkeypatch.setattr(store.client, name, spy)
    assert [h.id for h in store.search({1: 1.0})[0]] == ["a"]
    assert [h.id for h in store.search({1: 1.0}, consistency="Strong")[0]] == ["a"]
    assert store.count() == 1 and store.existing_ids(["a", "b"]) == {"a"}
    assert store.get(["a"])[0].text == "x" and store.get_vectors(["a"]) == {"a": {1: 1.0}}
    assert levels == [("search", "Bounded"), ("search", "Strong")] + [("query", "Strong")] * 4


def test_server_only_features_fail_clearly_on_lite(milvus_uri: str, collection_name: str) -> None:
    lite = milvus_uri.endswith(".db")
    with MilvusStore(milvus_uri, collection=collection_name) as store:
        store.upsert(["a"], [{1: 1.0, 2: 0.1}])
        if lite:
            with pytest.raises(StoreError, match=r"Milvus Lite .* drop_ratio_search"):
                store.search({1: 1.0, 2: 1.0}, drop_ratio_search=0.2)
        else:
            assert [h.id for h in store.search({1: 1.0, 2: 1.0}, drop_ratio_search=0.2)[0]] == ["a"]
        store.drop()
    wand = f"{collection_name}_wand"
    if lite:
        with pytest.raises(StoreError, match="Milvus Lite supports only the SPARSE_INVERTED_INDEX"):
            MilvusStore(milvus_uri, collection=wand, index_type="SPARSE_WAND")
    else:
        with MilvusStore(milvus_uri, collection=wand, index_type="SPARSE_WAND") as store:
            store.upsert(["a"], [{1: 1.0}])
            assert store.search({1: 1.0})[0][0].id == "a"
            store.drop()


@pytest.mark.parametrize("algo", ["DAAT_WAND", "TAAT_NAIVE"])
def test_index_algorithm_is_selectable(milvus_uri: str, collection_name: str, algo: str) -> None:
    docs = random_vectors(50, 10, seed=4, span=200)
    ids = [str(i) for i in range(50)]
    with MilvusStore(milvus_uri, collection=collection_name, inverted_index_algo=algo) as store:
        store.upsert(ids, docs)
        queries = random_vectors(3, 5, seed=5, span=200)
        assert_matches_exact(store.search(queries, k=5), queries, docs, ids, 5)
        described = store.client.describe_index(collection_name, "vector")
        if not milvus_uri.endswith(".db"):  # Milvus Lite does not report the algorithm
            assert described["inverted_index_algo"] == algo
        store.drop()


def test_bad_options_are_rejected(milvus_uri: str, collection_name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="DAAT_MAXSCORE, DAAT_WAND, TAAT_NAIVE"):
        MilvusStore(milvus_uri, collection=collection_name, inverted_index_algo="FAST")
    with MilvusStore(milvus_uri, collection=collection_name) as store:
        with pytest.raises(InvalidArgumentError, match="k must be an int from 1 to 16384"):
            store.search({1: 1.0}, k=0)
        with pytest.raises(InvalidArgumentError, match=r"drop_ratio_search must be in \[0, 1\)"):
            store.search({1: 1.0}, drop_ratio_search=1.0)
        store.drop()


def test_missing_collection_without_create(milvus_uri: str, collection_name: str) -> None:
    with pytest.raises(StoreError, match=r"does not exist|no Milvus Lite file"):
        MilvusStore(milvus_uri, collection=collection_name, create=False)


def test_foreign_collection_is_refused(milvus_uri: str, collection_name: str) -> None:
    from pymilvus import DataType

    with MilvusStore(milvus_uri, collection=f"{collection_name}_own") as store:
        client = store.client
        schema = client.create_schema(auto_id=True)
        schema.add_field("pk", DataType.INT64, is_primary=True)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=4)
        index = client.prepare_index_params()
        index.add_index(field_name="dense", index_type="FLAT", metric_type="IP")
        client.create_collection(collection_name, schema=schema, index_params=index)
        with pytest.raises(StoreError, match="not created by spladekit"):
            MilvusStore(milvus_uri, collection=collection_name)
        client.drop_collection(collection_name)
        store.drop()


def test_lite_file_in_use_by_another_process(tmp_path: Path) -> None:
    uri = str(tmp_path / "busy.db")
    code = (
        "import sys\n"
        "from spladekit import StoreError\n"
        "from spladekit.store.milvus import MilvusStore\n"
        "try:\n"
        f"    MilvusStore({uri!r})\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    with MilvusStore(uri) as store:
        store.upsert(["a"], [{1: 1.0}])
        busy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert busy.returncode == 3, busy.stderr
    assert "in use by another process" in busy.stdout
    # Closing the store released the file: another process can open it now.
    count = f"from spladekit.store.milvus import MilvusStore\nprint(MilvusStore({uri!r}).count())\n"
    free = subprocess.run([sys.executable, "-c", count], capture_output=True, text=True)
    assert (free.returncode, free.stdout.strip()) == (0, "1"), free.stderr


def test_uri_must_be_a_lite_file_or_a_server_address(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"ending in \.db .* http://localhost:19530"):
        MilvusStore(str(tmp_path / "store.sqlite"))
    with pytest.raises(StoreError, match=r"could not connect to Milvus at .http://127\.0\.0\.1:9."):
        MilvusStore("http://127.0.0.1:9", timeout=2)
