"""The store's settings declared once, one model rule in every store, one read per start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from spladekit import (
    InputTypeError,
    InvalidArgumentError,
    MemoryStore,
    ModelIdentity,
    ModelMismatchError,
    StoreConfig,
)
from spladekit.checkpoint import fingerprint
from spladekit.retrieval import Retriever
from spladekit.store import open_store
from spladekit.store.milvus import MilvusStore


def test_settings_are_checked_once_with_named_errors() -> None:
    assert StoreConfig("memory://").uri == "memory://"
    with pytest.raises(InvalidArgumentError, match="DAAT_MAXSCORE, DAAT_WAND, TAAT_NAIVE"):
        StoreConfig(inverted_index_algo="FAST")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="pass bm25=True with it"):
        StoreConfig(analyzer="standard")
    with pytest.raises(InputTypeError, match="collection must be a non-empty str"):
        StoreConfig(collection="")
    with pytest.raises(InvalidArgumentError, match=r"ending in \.db"):
        StoreConfig("store.sqlite")
    with pytest.raises(InputTypeError, match=r"unknown store setting.*index_algo"):
        open_store("memory://", index_algo="DAAT_WAND")
    assert "secret" not in repr(StoreConfig(token="secret"))


def test_a_config_and_its_keywords_open_the_same_collection(tmp_path: Path) -> None:
    config = StoreConfig(str(tmp_path / "c.db"), "docs", bm25=True)
    with MilvusStore(config) as store:
        store.upsert(["a"], [{1: 1.0}], ["a text"])
        assert store.bm25_analyzer == "standard"
    with MilvusStore(str(tmp_path / "c.db"), collection="docs", create=False) as store:
        assert store.count() == 1 and store.config.where == config.where


def _weights(tmp_path: Path) -> ModelIdentity:
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(bytes(range(256)) * 1024)
    return ModelIdentity("m", fingerprint.files_fingerprint([weights]))


def test_every_store_accepts_the_earlier_fingerprint_of_the_same_weights(tmp_path: Path) -> None:
    current = _weights(tmp_path)
    earlier = fingerprint.earlier_fingerprint(current.fingerprint)
    assert earlier is not None and earlier != current.fingerprint
    memory = MemoryStore()
    memory.adopt_model(ModelIdentity("m", earlier))
    memory.adopt_model(current)  # the same weights: taken, and the full fingerprint recorded
    memory.check_model(current)
    with pytest.raises(ModelMismatchError, match="was built with model"):
        memory.adopt_model(ModelIdentity("other", "0" * 16))
    uri = str(tmp_path / "old.db")
    MilvusStore(uri, collection="c", model=ModelIdentity("m", earlier)).close()
    with MilvusStore(uri, collection="c", model=current) as store:
        assert store.recorded_model() == current


def test_a_start_up_describes_its_collection_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pymilvus

    described: list[str] = []
    describe = pymilvus.MilvusClient.describe_collection

    def counted(self: object, name: str, *args: object, **kwargs: object) -> object:
        described.append(name)
        return describe(self, name, *args, **kwargs)

    monkeypatch.setattr(pymilvus.MilvusClient, "describe_collection", counted)
    model = ModelIdentity("m", "1" * 16)

    class Encoder:
        model_identity = model

        def encode_documents(self, texts: object) -> None: ...

        def encode_queries(self, texts: object) -> None: ...

    config = StoreConfig(str(tmp_path / "once.db"), "docs")
    for create in (True, False):  # a new collection, then the existing one
        described.clear()
        store = open_store(config, model=model, create=create)
        Retriever(Encoder(), store)  # type: ignore[arg-type]
        store.close()
        assert described == ["docs"]
