"""Bad queries, records and models for the Retriever: each named, nothing lost or mixed.

Empty and blank queries are refused (blank documents are kept), a record with a lone surrogate
is named by its position and id, a collection refuses another model's vectors unless told
otherwise, and two retrievers indexing one store at once lose nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spladekit import (
    InvalidArgumentError,
    MemoryStore,
    ModelMismatchError,
    Retriever,
    SpladeEncoder,
)
from spladekit.store.milvus import MilvusStore
from support.bad_inputs import SURROGATE

# -- empty and blank ----------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", "\n\t "])
def test_empty_or_blank_queries_are_refused(
    tiny_encoder: SpladeEncoder, query: str, tmp_path: Path
) -> None:
    retriever = Retriever(tiny_encoder, MemoryStore())
    with pytest.raises(InvalidArgumentError, match=r"query is (empty|blank)") as info:
        retriever.search(query)
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidArgumentError, match="query 1 is"):
        retriever.search_many(["fine", query])


def test_blank_documents_are_kept_not_dropped(tiny_encoder: SpladeEncoder) -> None:
    store = MemoryStore()
    report = Retriever(tiny_encoder, store).index(
        [("blank", "   "), ("empty", ""), ("a", "graphene")]
    )
    assert report.encoded == 3 and store.count() == 3


# -- surrogates ---------------------------------------------------------------------------------


def test_indexing_names_the_record_with_a_surrogate(tiny_encoder: SpladeEncoder) -> None:
    store = MemoryStore()
    with pytest.raises(InvalidArgumentError, match=r"record 1 \(id 'b'\) text contains"):
        Retriever(tiny_encoder, store).index([("a", "ok"), ("b", SURROGATE)])


# -- wrong models -------------------------------------------------------------------------------


@pytest.mark.parametrize("uri_kind", ["lite", pytest.param("server", marks=pytest.mark.server)])
def test_a_collection_refuses_another_models_vectors(
    uri_kind: str,
    tmp_path: Path,
    tiny_encoder: SpladeEncoder,
    other_model_dir: Path,
    collection_name: str,
    request: pytest.FixtureRequest,
) -> None:
    uri = str(tmp_path / "m.db") if uri_kind == "lite" else request.getfixturevalue(
        "milvus_server_uri"
    )
    # The Milvus 2.5 server cannot alter a collection's properties, and spladekit no longer
    # drops and re-creates a collection to record its model: there the record is made when
    # the collection is created.
    model = tiny_encoder.model_identity if uri_kind == "server" else None
    with MilvusStore(uri, collection=collection_name, model=model) as store:
        Retriever(tiny_encoder, store).index([("a", "graphene conducts heat")])
    other = SpladeEncoder(other_model_dir)
    assert other.model_identity.fingerprint != tiny_encoder.model_identity.fingerprint
    with MilvusStore(uri, collection=collection_name) as store:
        with pytest.raises(ModelMismatchError) as info:
            Retriever(other, store)
        message = str(info.value)
        assert tiny_encoder.model_identity.fingerprint in message
        assert other.model_identity.fingerprint in message and "splade-tiny-other" in message
        # The explicit override mixes them anyway.
        assert Retriever(other, store, allow_other_model=True).search("graphene")
    with MilvusStore(uri, collection=collection_name, model=tiny_encoder.model_identity) as store:
        assert store.recorded_model() == tiny_encoder.model_identity
        store.drop()


# -- concurrency --------------------------------------------------------------------------------


def test_two_retrievers_indexing_one_memory_store_lose_nothing(tiny_encoder: SpladeEncoder) -> None:
    import threading

    store = MemoryStore()
    records = [(f"d{i}", f"document number {i} about cells") for i in range(40)]

    def index(part: list[tuple[str, str]]) -> None:
        Retriever(tiny_encoder, store).index(part, chunk_size=7)

    threads = [threading.Thread(target=index, args=(records[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 40
    assert store.existing_ids([r[0] for r in records]) == {r[0] for r in records}
