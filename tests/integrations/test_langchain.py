"""spladekit's sparse embedding in LangChain's Milvus store, end to end on Milvus Lite.

Spec: ``SpladeSparseEmbedding`` is a ``langchain_milvus`` sparse embedding; a store built with
it (and ``lite_search_params``) indexes a corpus and answers sparse-only, hybrid (with a dense
embedding of the user's choice) and async searches, with the ids and scores spladekit's own
search gives on the same corpus.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_milvus", reason="runs in .venvs/langchain")

from langchain_core.embeddings import Embeddings
from langchain_milvus import Milvus
from langchain_milvus.utils.sparse import BaseSparseEmbedding
from pymilvus import Function, FunctionType
from shared import (
    CORPUS,
    QUERIES,
    RRF_K,
    SpladeSearch,
    canonical,
    dense_ranking,
    fake_dense,
    rrf,
)

from spladekit import SpladeEncoder
from spladekit.integrations.langchain import (
    SpladeSparseEmbedding,
    lite_search_params,
)

# RRF fusion, as langchain-milvus takes a ranker: a Milvus rerank function.
RRF = Function(
    name="rrf",
    input_field_names=[],
    function_type=FunctionType.RERANK,
    params={"reranker": "rrf", "k": RRF_K},
)


class FakeDense(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [fake_dense(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return fake_dense(text)


@pytest.fixture(scope="module")
def sparse(tiny_model_dir: Path) -> SpladeSparseEmbedding:
    return SpladeSparseEmbedding(tiny_model_dir)


def _store(tmp_path: Path, embedding: Any, vector_field: Any) -> Milvus:
    store = Milvus(
        embedding_function=embedding,
        connection_args={"uri": str(tmp_path / "langchain.db")},
        vector_field=vector_field,
        search_params=lite_search_params(embedding),
        auto_id=False,
    )
    store.add_texts(list(CORPUS.values()), ids=list(CORPUS))
    return store


def _hits(results: list[tuple[Any, float]]) -> list[tuple[str, float]]:
    return canonical([(doc.metadata["pk"], score) for doc, score in results])


def test_is_a_langchain_sparse_embedding_giving_dict_rows(
    sparse: SpladeSparseEmbedding, tiny_model_dir: Path
) -> None:
    assert isinstance(sparse, BaseSparseEmbedding)
    encoder = SpladeEncoder(tiny_model_dir)
    query = sparse.embed_query("a cat on a mat")
    expected = encoder.encode_queries(["a cat on a mat"])
    assert query == dict(zip(expected.indices.tolist(), expected.data.tolist(), strict=True))
    rows = sparse.embed_documents(["one text", "another text"])
    assert len(rows) == 2 and all(isinstance(row, dict) and row for row in rows)


def test_takes_an_existing_encoder_but_not_options_with_it(tiny_model_dir: Path) -> None:
    encoder = SpladeEncoder(tiny_model_dir)
    assert SpladeSparseEmbedding(encoder).encoder is encoder
    with pytest.raises(ValueError, match="batch_size"):
        SpladeSparseEmbedding(encoder, batch_size=4)


def test_sparse_only_search_equals_spladekit(
    tmp_path: Path, sparse: SpladeSparseEmbedding, splade_search: SpladeSearch
) -> None:
    store = _store(tmp_path, sparse, "sparse")
    for query in QUERIES:
        got = _hits(store.similarity_search_with_score(query, k=4))
        assert got == splade_search(query, 4)


def test_async_search_equals_spladekit(
    tmp_path: Path, sparse: SpladeSparseEmbedding, splade_search: SpladeSearch
) -> None:
    store = _store(tmp_path, sparse, "sparse")

    async def search_all() -> list[list[tuple[Any, float]]]:
        return [await store.asimilarity_search_with_score(q, k=4) for q in QUERIES]

    for query, results in zip(QUERIES, asyncio.run(search_all()), strict=True):
        assert _hits(results) == splade_search(query, 4)


def test_hybrid_search_fuses_spladekits_ranking_with_the_dense_one(
    tmp_path: Path, sparse: SpladeSparseEmbedding, splade_search: SpladeSearch
) -> None:
    functions = [FakeDense(), sparse]
    store = _store(tmp_path, functions, ["dense", "sparse"])
    legs = 10  # fetch_k: how many hits each leg brings
    for query in QUERIES:
        got = store.similarity_search_with_score(
            query, k=3, fetch_k=legs, reranker=RRF
        )
        sparse_ids = [doc_id for doc_id, _ in splade_search(query, legs)]
        expected = rrf([dense_ranking(query, "L2"), sparse_ids], legs, 3)
        assert _hits(got) == expected


def test_lite_search_params_match_the_fields_in_order(sparse: SpladeSparseEmbedding) -> None:
    assert lite_search_params(sparse) == {"metric_type": "IP", "params": {}}
    assert lite_search_params([FakeDense(), sparse], dense_metric="COSINE") == [
        {"metric_type": "COSINE", "params": {}},
        {"metric_type": "IP", "params": {}},
    ]
