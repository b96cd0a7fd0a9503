"""spladekit's sparse embedding function in llama-index's MilvusVectorStore, end to end.

Spec: ``SpladeSparseEmbeddingFunction`` is the store's ``BaseSparseEmbeddingFunction``; a store
built with it indexes a corpus (dense vectors from a model of the user's choice, sparse ones
from spladekit) and answers hybrid searches, sync and async, on Milvus Lite with the ranking
spladekit's own search gives fused with the dense one. Its ``sparse`` mode hard-codes
``drop_ratio_search=0.2``: Milvus Lite 3.x refuses it (pinned here, documented in the README),
and on a Milvus server it equals spladekit's search with the same ``drop_ratio_search``. This
environment has pymilvus 2.x (llama-index needs it), so spladekit's MilvusStore is checked here
too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("llama_index.vector_stores.milvus", reason="runs in .venvs/llamaindex")

from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.vector_stores.milvus import MilvusVectorStore
from llama_index.vector_stores.milvus.utils import BaseSparseEmbeddingFunction
from shared import (
    CORPUS,
    DENSE_DIM,
    QUERIES,
    RRF_K,
    SpladeSearch,
    canonical,
    dense_ranking,
    fake_dense,
    rrf,
)

from spladekit import MilvusStore, Retriever, SpladeEmbeddingFunction, SpladeEncoder
from spladekit.integrations.llamaindex import SpladeSparseEmbeddingFunction

K = 3


@pytest.fixture(scope="module")
def sparse(tiny_model_dir: Path) -> SpladeSparseEmbeddingFunction:
    return SpladeSparseEmbeddingFunction(tiny_model_dir)


def _nodes() -> list[TextNode]:
    return [TextNode(id_=i, text=t, embedding=fake_dense(t)) for i, t in CORPUS.items()]


def _store(uri: str, sparse: SpladeSparseEmbeddingFunction, **kwargs: object) -> MilvusVectorStore:
    store = MilvusVectorStore(
        uri=uri,
        dim=DENSE_DIM,
        similarity_metric="IP",
        enable_sparse=True,
        sparse_embedding_function=sparse,
        hybrid_ranker="RRFRanker",
        hybrid_ranker_params={"k": RRF_K},
        overwrite=True,
        **kwargs,
    )
    store.add(_nodes())
    return store


def _query(text: str, mode: str) -> VectorStoreQuery:
    return VectorStoreQuery(
        query_str=text,
        query_embedding=fake_dense(text),
        similarity_top_k=K,
        mode=VectorStoreQueryMode(mode),
    )


def _hits(result: VectorStoreQueryResult) -> list[tuple[str, float]]:
    return canonical(list(zip(result.ids or [], result.similarities or [], strict=True)))


def _expected_hybrid(query: str, splade_search: SpladeSearch) -> list[tuple[str, float]]:
    # Each leg brings similarity_top_k hits to the fusion.
    sparse_ids = [doc_id for doc_id, _ in splade_search(query, K)]
    return rrf([dense_ranking(query, "IP"), sparse_ids], K, K)


def test_is_the_stores_sparse_function_and_returns_dict_rows(
    sparse: SpladeSparseEmbeddingFunction, tiny_model_dir: Path
) -> None:
    assert isinstance(sparse, BaseSparseEmbeddingFunction)
    queries = sparse.encode_queries(["a cat on a mat", "rain"])
    expected = SpladeEncoder(tiny_model_dir).encode_queries(["a cat on a mat", "rain"])
    rows = [expected[[i]] for i in range(2)]
    assert queries == [
        dict(zip(row.indices.tolist(), row.data.tolist(), strict=True)) for row in rows
    ]
    documents = asyncio.run(sparse.async_encode_documents(["one", "two"]))
    assert documents == sparse.encode_documents(["one", "two"])


def test_hybrid_search_on_lite_fuses_spladekits_ranking(
    tmp_path: Path, sparse: SpladeSparseEmbeddingFunction, splade_search: SpladeSearch
) -> None:
    store = _store(str(tmp_path / "llama.db"), sparse)
    for query in QUERIES:
        got = _hits(store.query(_query(query, "hybrid")))
        assert got == _expected_hybrid(query, splade_search)


def test_async_hybrid_search_on_lite(
    tmp_path: Path, sparse: SpladeSparseEmbeddingFunction, splade_search: SpladeSearch
) -> None:
    store = _store(str(tmp_path / "llama.db"), sparse, use_async_client=True)

    async def search_all() -> list[VectorStoreQueryResult]:
        return [await store.aquery(_query(q, "hybrid")) for q in QUERIES]

    for query, result in zip(QUERIES, asyncio.run(search_all()), strict=True):
        assert _hits(result) == _expected_hybrid(query, splade_search)


def test_sparse_mode_is_refused_by_lite_because_of_its_fixed_drop_ratio(
    tmp_path: Path, sparse: SpladeSparseEmbeddingFunction
) -> None:
    store = _store(str(tmp_path / "llama.db"), sparse)
    with pytest.raises(Exception, match="drop_ratio_search"):
        store.query(_query(QUERIES[0], "sparse"))


@pytest.mark.server
def test_sparse_mode_on_a_server_equals_spladekits_search_with_that_drop_ratio(
    milvus_server_uri: str, collection_name: str, sparse: SpladeSparseEmbeddingFunction
) -> None:
    store = _store(milvus_server_uri, sparse, collection_name=collection_name)
    own_store = MilvusStore(milvus_server_uri, collection=collection_name + "_sk")
    own = Retriever(sparse.encoder, own_store)
    own.index(list(CORPUS.items()))
    for query in QUERIES:
        got = _hits(store.query(_query(query, "sparse")))
        hits = own.search(query, K, drop_ratio_search=0.2)
        assert got == canonical([(hit.id, hit.score) for hit in hits])


def test_spladekits_milvus_store_works_with_pymilvus_2(
    tmp_path: Path, tiny_model_dir: Path, splade_search: SpladeSearch
) -> None:
    import pymilvus

    assert pymilvus.__version__.startswith("2.")
    retriever = Retriever(
        SpladeEmbeddingFunction(str(tiny_model_dir)), MilvusStore(str(tmp_path / "own.db"))
    )
    retriever.index(list(CORPUS.items()))
    for query in QUERIES:
        got = canonical([(hit.id, hit.score) for hit in retriever.search(query, 4)])
        assert got == splade_search(query, 4)
