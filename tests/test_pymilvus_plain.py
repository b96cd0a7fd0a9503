"""The output of spladekit goes into plain pymilvus as it is, as the Milvus docs' example does.

The Milvus page that spladekit replaces encodes with ``SpladeEmbeddingFunction``, prints
``list(docs_embeddings)[0].shape`` as ``(1, 30522)``, inserts the rows with
``client.insert(coll, [{"sparse": e, ...} for e in docs_embeddings])`` and searches with
``client.search(coll, data=query_embeddings, ...)``. With a plain csr_array both pymilvus calls
fail; spladekit's SparseVectors make them work unchanged, on Milvus Lite and on a server.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

from spladekit import SpladeEmbeddingFunction

DOCS = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
QUERIES = ["When was artificial intelligence founded", "Where was Alan Turing born?"]


def test_the_seed_example_prints_what_the_milvus_docs_print(tiny_model_dir: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # The Milvus docs' example, as printed there, with the test model's folder as the name.
        splade_ef = SpladeEmbeddingFunction(model_name=str(tiny_model_dir), device="cpu")
        docs_embeddings = splade_ef.encode_documents(DOCS)
        print("Embeddings:", docs_embeddings)
        print("Sparse dim:", splade_ef.dim, list(docs_embeddings)[0].shape)  # noqa: RUF015
        query_embeddings = splade_ef.encode_queries(QUERIES)
        print("Embeddings:", query_embeddings)
        print("Sparse dim:", splade_ef.dim, list(query_embeddings)[0].shape)  # noqa: RUF015
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("Sparse dim:")] == [
        "Sparse dim: 30522 (1, 30522)",
        "Sparse dim: 30522 (1, 30522)",
    ]
    assert len(docs_embeddings) == 3 and len(query_embeddings) == 2


@pytest.fixture
def plain_client(milvus_uri: str, collection_name: str):  # type: ignore[no-untyped-def]
    """A bare pymilvus client and collection, as the Milvus docs create them."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(uri=milvus_uri, dedicated=True)
    schema = client.create_schema(auto_id=True, enable_dynamic_field=True)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    index = client.prepare_index_params()
    index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    client.create_collection(collection_name, schema=schema, index_params=index)
    yield client
    client.drop_collection(collection_name)
    client.close()
    if milvus_uri.endswith(".db"):
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(str(Path(milvus_uri).resolve()))


def test_plain_pymilvus_takes_the_rows_and_the_query_matrix(
    plain_client, collection_name: str, tiny_model_dir: Path  # type: ignore[no-untyped-def]
) -> None:
    splade_ef = SpladeEmbeddingFunction(model_name=str(tiny_model_dir))
    docs_embeddings = splade_ef.encode_documents(DOCS)
    query_embeddings = splade_ef.encode_queries(QUERIES)
    inserted = plain_client.insert(
        collection_name,
        [{"sparse": e, "text": t} for e, t in zip(docs_embeddings, DOCS, strict=True)],
    )
    assert inserted["insert_count"] == 3
    results = plain_client.search(
        collection_name, data=query_embeddings, anns_field="sparse", limit=3,
        search_params={"metric_type": "IP"}, output_fields=["text"],
    )
    exact = (query_embeddings @ docs_embeddings.T).toarray()
    assert len(results) == 2
    for q, hits in enumerate(results):
        got = [(h["entity"]["text"], h["distance"]) for h in hits]
        order = np.argsort(-exact[q], kind="stable")
        assert [t for t, _ in got] == [DOCS[i] for i in order if exact[q, i] > 0]
        for text, distance in got:
            assert distance == pytest.approx(exact[q, DOCS.index(text)], rel=1e-5)
    # The relevant document comes first for each query, as in the docs.
    assert results[0][0]["entity"]["text"] == DOCS[0]
    assert results[1][0]["entity"]["text"] == DOCS[2]
