"""spladekit's Haystack components with milvus-haystack, end to end on Milvus Lite; and
Haystack's own TEI sparse embedders against `spladekit serve`.

Spec: ``SpladeSparseDocumentEmbedder`` sets ``sparse_embedding`` on copies of the documents,
``SpladeSparseTextEmbedder`` embeds a query; both serialise with their pipeline. Documents
written to a ``MilvusDocumentStore`` are found by sparse-only retrieval (``run`` and
``run_async``) with the ids and scores spladekit's own search gives, and by hybrid
retrieval (dense vectors from a model of the user's choice) with spladekit's ranking fused with
the dense one. ``HuggingFaceTEISparse*Embedder`` pointed at `spladekit serve` get the vectors
the service's embedding function computes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("milvus_haystack", reason="runs in .venvs/haystack")

from haystack import Document, Pipeline, component
from haystack.dataclasses import SparseEmbedding
from milvus_haystack import MilvusDocumentStore
from milvus_haystack.milvus_embedding_retriever import (
    MilvusHybridRetriever,
    MilvusSparseEmbeddingRetriever,
)
from pymilvus import RRFRanker
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

from spladekit import SpladeEmbeddingFunction, SpladeEncoder
from spladekit.integrations.common import SPARSE_SEARCH_PARAMS
from spladekit.integrations.haystack import (
    SpladeSparseDocumentEmbedder,
    SpladeSparseTextEmbedder,
)

K = 3


@component
class FakeDenseEmbedder:
    """Stands in for the user's dense embedder (deterministic vectors)."""

    @component.output_types(embedding=list[float])
    def run(self, text: str) -> dict[str, list[float]]:
        return {"embedding": fake_dense(text)}


def _documents() -> list[Document]:
    return [Document(id=i, content=t, embedding=fake_dense(t)) for i, t in CORPUS.items()]


def _as_row(embedding: SparseEmbedding) -> dict[int, float]:
    return dict(zip(embedding.indices, embedding.values, strict=True))


def _hits(documents: list[Document]) -> list[tuple[str, float]]:
    return canonical([(doc.id, doc.score) for doc in documents])


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> str:
    return str(tiny_model_dir)


@pytest.fixture
def store(tmp_path: Path, model: str) -> MilvusDocumentStore:
    store = MilvusDocumentStore(
        connection_args={"uri": str(tmp_path / "haystack.db")},
        index_params={"metric_type": "L2", "index_type": "AUTOINDEX", "params": {}},
        search_params={"metric_type": "L2", "params": {}},
        sparse_vector_field="sparse",
        sparse_search_params=SPARSE_SEARCH_PARAMS,
        drop_old=True,
    )
    embedded = SpladeSparseDocumentEmbedder(model).run(_documents())["documents"]
    assert store.write_documents(embedded) == len(CORPUS)
    return store


def test_the_document_embedder_copies_documents_and_uses_the_document_side(model: str) -> None:
    originals = _documents()
    out = SpladeSparseDocumentEmbedder(model).run(originals)["documents"]
    assert all(doc.sparse_embedding is None for doc in originals)
    expected = SpladeEncoder(model).encode_documents(list(CORPUS.values()))
    assert len(out) == len(originals)
    for i, doc in enumerate(out):
        assert doc.id == originals[i].id and doc.content == originals[i].content
        row = expected[[i]]
        assert _as_row(doc.sparse_embedding) == pytest.approx(
            dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        )


def test_the_text_embedder_uses_the_query_side(model: str) -> None:
    embedding = SpladeSparseTextEmbedder(model).run(QUERIES[0])["sparse_embedding"]
    expected = SpladeEncoder(model).encode_queries([QUERIES[0]])
    assert embedding.indices == expected.indices.tolist()
    assert embedding.values == pytest.approx(expected.data.tolist())
    with pytest.raises(TypeError, match="SpladeSparseDocumentEmbedder"):
        SpladeSparseTextEmbedder(model).run(["a list"])  # type: ignore[arg-type]


def test_components_serialise_with_their_pipeline(model: str) -> None:
    pipeline = Pipeline()
    options = {"batch_size": 4}
    pipeline.add_component("embedder", SpladeSparseTextEmbedder(model, encoder_options=options))
    # Haystack loads classes only from modules on its allowlist: name spladekit's.
    restored = Pipeline.loads(pipeline.dumps(), allowed_modules=["spladekit.integrations.haystack"])
    embedder = restored.get_component("embedder")
    assert isinstance(embedder, SpladeSparseTextEmbedder)
    assert embedder.to_dict() == pipeline.get_component("embedder").to_dict()
    assert embedder.to_dict()["init_parameters"]["encoder_options"] == options
    doc = SpladeSparseDocumentEmbedder.from_dict(SpladeSparseDocumentEmbedder(model).to_dict())
    assert isinstance(doc, SpladeSparseDocumentEmbedder)
    with pytest.raises(ValueError, match="cannot be serialised"):
        SpladeSparseTextEmbedder(SpladeEncoder(model)).to_dict()


def _sparse_pipeline(store: MilvusDocumentStore, model: str) -> Pipeline:
    pipeline = Pipeline()
    pipeline.add_component("embedder", SpladeSparseTextEmbedder(model))
    pipeline.add_component("retriever", MilvusSparseEmbeddingRetriever(store, top_k=4))
    pipeline.connect("embedder.sparse_embedding", "retriever.query_sparse_embedding")
    return pipeline


def test_sparse_retrieval_equals_spladekit(
    store: MilvusDocumentStore, model: str, splade_search: SpladeSearch
) -> None:
    pipeline = _sparse_pipeline(store, model)
    for query in QUERIES:
        documents = pipeline.run({"embedder": {"text": query}})["retriever"]["documents"]
        assert _hits(documents) == splade_search(query, 4)


def test_async_run_sparse_retrieval_equals_spladekit(
    store: MilvusDocumentStore, model: str, splade_search: SpladeSearch
) -> None:
    pipeline = _sparse_pipeline(store, model)

    async def search_all() -> list[Any]:
        return [await pipeline.run_async({"embedder": {"text": q}}) for q in QUERIES]

    for query, result in zip(QUERIES, asyncio.run(search_all()), strict=True):
        assert _hits(result["retriever"]["documents"]) == splade_search(query, 4)


def test_hybrid_retrieval_fuses_spladekits_ranking_with_the_dense_one(
    store: MilvusDocumentStore, model: str, splade_search: SpladeSearch
) -> None:
    pipeline = Pipeline()
    pipeline.add_component("sparse", SpladeSparseTextEmbedder(model))
    pipeline.add_component("dense", FakeDenseEmbedder())
    pipeline.add_component(
        "retriever", MilvusHybridRetriever(store, top_k=K, reranker=RRFRanker(RRF_K))
    )
    pipeline.connect("sparse.sparse_embedding", "retriever.query_sparse_embedding")
    pipeline.connect("dense.embedding", "retriever.query_embedding")
    for query in QUERIES:
        result = pipeline.run({"sparse": {"text": query}, "dense": {"text": query}})
        sparse_ids = [doc_id for doc_id, _ in splade_search(query, K)]
        expected = rrf([dense_ranking(query, "L2"), sparse_ids], K, K)
        assert _hits(result["retriever"]["documents"]) == expected


# -- Haystack's own TEI embedders against spladekit serve -------------------------------------


@pytest.fixture(scope="module")
def service(model: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from support.serve_process import ServeProcess

    process = ServeProcess(["--model", model], tmp_path_factory.mktemp("tei")).start()
    try:
        process.wait_ready()
        yield process.url
    finally:
        process.stop()


def test_haystacks_tei_sparse_embedders_work_against_spladekit_serve(
    service: str, model: str
) -> None:
    from haystack_integrations.components.embedders.huggingface_api import (
        HuggingFaceTEISparseDocumentEmbedder,
        HuggingFaceTEISparseTextEmbedder,
    )

    reference = SpladeEmbeddingFunction(model)  # what the service runs, on its plain route
    text = HuggingFaceTEISparseTextEmbedder(api_base_url=service).run(QUERIES[0])
    expected = reference([QUERIES[0]])
    assert text["sparse_embedding"].indices == expected.indices.tolist()
    assert text["sparse_embedding"].values == pytest.approx(expected.data.tolist(), rel=1e-5)
    documents = HuggingFaceTEISparseDocumentEmbedder(api_base_url=service).run(_documents())
    vectors = reference(list(CORPUS.values()))
    assert len(documents["documents"]) == len(CORPUS)
    for i, doc in enumerate(documents["documents"]):
        assert doc.sparse_embedding.indices == vectors[[i]].indices.tolist()
