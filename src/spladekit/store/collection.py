"""Opening a store's collection: create it, or adopt an existing one without changing it.

The rule: spladekit never drops or rewrites a collection. Adopting one that exists is
read-only: its fields must be exactly spladekit's (no other field, no dynamic field), its
index must exist (or, for a collection spladekit created and was interrupted creating, is
added), and its recorded model is checked. The only write to an existing collection is the
model's record, added to the properties of a collection that has none, where the engine keeps
properties; where it cannot, the store goes on without a record and warns. Opens of one
collection from several threads of a process are serialised; a creation that races another
process's is taken as that process's collection.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import TYPE_CHECKING, Any

from ..errors import ModelMismatchError, StoreError
from ..fingerprint import earlier_fingerprint
from .base import ModelIdentity
from .connection import pymilvus_module
from .schema import (
    CREATED_PROPERTY,
    MODEL_PROPERTY,
    VECTOR_FIELD,
    bm25_analyzer,
    build_index,
    build_schema,
    check_fields,
    created_by_spladekit,
    encode_model,
    recorded_model,
)

if TYPE_CHECKING:
    from .milvus import MilvusStore

_OPENING: dict[tuple[str, str], threading.Lock] = {}
_OPENING_LOCK = threading.Lock()


def _opening_lock(uri: str, collection: str) -> threading.Lock:
    with _OPENING_LOCK:
        return _OPENING.setdefault((uri, collection), threading.Lock())


def open_collection(
    store: MilvusStore,
    index_type: str | None,
    algo: str | None,
    create: bool,
    model: ModelIdentity | None,
    analyzer: str | None,
) -> None:
    """Adopt the store's collection, or create it (when ``create``)."""
    with _opening_lock(store.lock_key, store.collection):
        if store._call("has_collection", "has_collection", store.collection):
            adopt(store, index_type, algo, analyzer)
            return
        if not create:
            raise StoreError(
                f"{store.where} does not exist; index documents into it first, or check the "
                "collection name"
            )
        try:
            _create(store, index_type, algo, model, analyzer)
        except StoreError:
            # Another process may have created it in between: adopt theirs if so.
            if not store._call("has_collection", "has_collection", store.collection):
                raise
            adopt(store, index_type, algo, analyzer)


def adopt(
    store: MilvusStore, index_type: str | None, algo: str | None, analyzer: str | None
) -> None:
    described = describe(store)
    check_fields(described, pymilvus_module(), store.where)
    store.bm25_analyzer = bm25_analyzer(described)
    if analyzer is not None and store.bm25_analyzer is None:
        raise StoreError(
            f"{store.where} exists without a BM25 field (it was created without "
            "bm25=True), and Milvus cannot add one to it; create a new collection with "
            "bm25=True and index the documents into it"
        )
    if analyzer is not None and analyzer != store.bm25_analyzer:
        raise StoreError(
            f"{store.where} analyses its text with {store.bm25_analyzer!r}, not "
            f"{analyzer!r}; leave the analyzer out to use the existing one"
        )
    index = describe_index(store)
    if index is None:
        if not created_by_spladekit(described):
            raise StoreError(
                f"{store.where} has no index on its {VECTOR_FIELD!r} field, and spladekit "
                "does not change collections it did not create; create the index yourself "
                "(SPARSE_INVERTED_INDEX, metric IP), or choose another collection name"
            )
        # Ours, interrupted between creating the collection and its index: finish it.
        _create_index(store, index_type, algo, store.bm25_analyzer is not None)
    elif algo is not None or index_type is not None:
        _check_index(store, index, index_type, algo)
    state = store._call("get_load_state", "get_load_state", store.collection)
    if "Loaded" not in str(state.get("state", "")):
        store._call("load_collection", "load_collection", store.collection)


def _create(
    store: MilvusStore,
    index_type: str | None,
    algo: str | None,
    model: ModelIdentity | None,
    analyzer: str | None,
) -> None:
    pymilvus = pymilvus_module()
    schema = build_schema(store.client, pymilvus, model, analyzer)
    properties = {CREATED_PROPERTY: "1"}
    if model is not None:
        properties[MODEL_PROPERTY] = encode_model(model)
    store._call(
        "create_collection", "create_collection", store.collection, schema=schema,
        consistency_level="Strong", properties=properties,
    )
    store.bm25_analyzer = analyzer
    _create_index(store, index_type, algo, analyzer is not None)
    store._call("load_collection", "load_collection", store.collection)


def _create_index(store: MilvusStore, index_type: str | None, algo: str | None, bm25: bool) -> None:
    # sync=False: pymilvus would otherwise poll the new (empty) index for 0.5 s, through a
    # call Milvus Lite does not implement.
    index = build_index(store.client, index_type, algo, bm25=bm25)
    try:
        store._call("create_index", "create_index", store.collection, index, sync=False)
    except StoreError:
        if describe_index(store) is None:  # not a racing creator's index: a real failure
            raise


def describe(store: MilvusStore) -> dict[str, Any]:
    described: dict[str, Any] = store._call(
        "describe_collection", "describe_collection", store.collection
    )
    return described


def describe_index(store: MilvusStore) -> dict[str, Any] | None:
    """The vector field's index, or None when it has none."""
    try:
        index = store._call("describe_index", "describe_index", store.collection, VECTOR_FIELD)
    except StoreError as exc:
        if "not found" in str(exc) or "not exist" in str(exc):
            return None
        raise
    return dict(index) if index else None


def _check_index(
    store: MilvusStore, index: dict[str, Any], index_type: str | None, algo: str | None
) -> None:
    have_type = index.get("index_type")
    have_algo = index.get("inverted_index_algo")  # Milvus Lite does not report it
    for name, want, have in (
        ("index_type", index_type, have_type),
        ("inverted_index_algo", algo, have_algo),
    ):
        if want is not None and have is not None and want != have:
            raise StoreError(
                f"{store.where} already exists with {name}={have}, not {want}; leave the "
                "option out to use the existing index, or choose another collection name"
            )


def check_model(store: MilvusStore, model: ModelIdentity, allow_other: bool) -> None:
    """Refuse a collection recorded with another model (unless ``allow_other``); record the
    model where the collection has no record and the engine keeps properties."""
    recorded = recorded_model(describe(store))
    if recorded is not None and recorded.fingerprint == earlier_fingerprint(model.fingerprint):
        # Recorded by an earlier version, whose fingerprint sampled the same weights: the
        # same model. Record the full fingerprint where the engine keeps properties.
        with contextlib.suppress(StoreError):
            store._call(
                "alter_collection_properties", "alter_collection_properties",
                store.collection, properties={MODEL_PROPERTY: encode_model(model)},
            )
        return
    if recorded is not None:
        if recorded.fingerprint != model.fingerprint and not allow_other:
            raise ModelMismatchError(
                f"{store.where} was built with model {recorded.describe()}, not "
                f"{model.describe()}; vectors of two models do not mix. Use the same "
                "model, another collection, or allow_other_model=True to mix anyway"
            )
        return
    try:
        store._call(
            "alter_collection_properties", "alter_collection_properties", store.collection,
            properties={MODEL_PROPERTY: encode_model(model)},
        )
        if recorded_model(describe(store)) is not None:
            return
        reason = "the engine did not keep the property"
    except StoreError as exc:
        reason = str(exc)
    warnings.warn(
        f"{store.where} has no record of the model that built it, and recording "
        f"{model.describe()} failed ({reason}); going on without a record, so vectors of "
        "another model would not be noticed. Index into a new collection to get one",
        stacklevel=4,
    )


__all__ = ["adopt", "check_model", "describe", "describe_index", "open_collection"]
