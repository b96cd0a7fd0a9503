"""Opening a store's collection: create it, or adopt an existing one without changing it.

The rule: spladekit never drops or rewrites a collection. Adopting one that exists is
read-only: its fields must be exactly spladekit's (no other field, no dynamic field), its
index must exist (or, for a collection spladekit created and was interrupted creating, is
added). Opening reads the collection's description once (:func:`open_collection` returns it),
and the store keeps from it what later steps need: its BM25 analyzer and its model record,
which the store checks by the rule of :mod:`spladekit.store.model_record`. The only write to an
existing collection is the model's record (:func:`record_model`), added to the properties of a
collection that has none, where the engine keeps properties; where it cannot, the store goes
on without a record and warns. Opens of one collection from several threads of a process are
serialised; a creation that races another process's is taken as that process's collection.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

from ..checkpoint.identity import ModelIdentity
from ..errors import StoreError
from .connection import MilvusConnection, pymilvus_module
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

_OPENING: dict[tuple[str, str], threading.Lock] = {}
_OPENING_LOCK = threading.Lock()


def _opening_lock(key: str, name: str) -> threading.Lock:
    with _OPENING_LOCK:
        return _OPENING.setdefault((key, name), threading.Lock())


def open_collection(
    conn: MilvusConnection,
    name: str,
    index_type: str | None,
    algo: str | None,
    create: bool,
    model: ModelIdentity | None,
    analyzer: str | None,
) -> tuple[dict[str, Any], str | None]:
    """Adopt collection ``name``, or create it (when ``create``): (its description, read once,
    its BM25 analyzer or None when it has no BM25 field)."""
    with _opening_lock(conn.lock_key, name):
        if conn.call("has_collection", "has_collection", name):
            return adopt(conn, name, index_type, algo, analyzer)
        if not create:
            raise StoreError(
                f"{conn.where} does not exist; index documents into it first, or check the "
                "collection name"
            )
        try:
            _create(conn, name, index_type, algo, model, analyzer)
        except StoreError:
            # Another process may have created it in between: adopt theirs if so.
            if not conn.call("has_collection", "has_collection", name):
                raise
            return adopt(conn, name, index_type, algo, analyzer)
        # What the engine kept of the new collection (its model record, where it keeps one).
        return describe(conn, name), analyzer


def adopt(
    conn: MilvusConnection,
    name: str,
    index_type: str | None,
    algo: str | None,
    analyzer: str | None,
) -> tuple[dict[str, Any], str | None]:
    """Check an existing collection and load it: (its description, its BM25 analyzer or None
    when it has no BM25 field)."""
    described = describe(conn, name)
    check_fields(described, pymilvus_module(), conn.where)
    have = bm25_analyzer(described)
    if analyzer is not None and have is None:
        raise StoreError(
            f"{conn.where} exists without a BM25 field (it was created without "
            "bm25=True), and Milvus cannot add one to it; create a new collection with "
            "bm25=True and index the documents into it"
        )
    if analyzer is not None and analyzer != have:
        raise StoreError(
            f"{conn.where} analyses its text with {have!r}, not "
            f"{analyzer!r}; leave the analyzer out to use the existing one"
        )
    index = describe_index(conn, name)
    if index is None:
        if not created_by_spladekit(described):
            raise StoreError(
                f"{conn.where} has no index on its {VECTOR_FIELD!r} field, and spladekit "
                "does not change collections it did not create; create the index yourself "
                "(SPARSE_INVERTED_INDEX, metric IP), or choose another collection name"
            )
        # Ours, interrupted between creating the collection and its index: finish it.
        _create_index(conn, name, index_type, algo, have is not None)
    elif algo is not None or index_type is not None:
        _check_index(conn, index, index_type, algo)
    state = conn.call("get_load_state", "get_load_state", name)
    if "Loaded" not in str(state.get("state", "")):
        conn.call("load_collection", "load_collection", name)
    return described, have


def _create(
    conn: MilvusConnection,
    name: str,
    index_type: str | None,
    algo: str | None,
    model: ModelIdentity | None,
    analyzer: str | None,
) -> None:
    pymilvus = pymilvus_module()
    schema = build_schema(conn.client, pymilvus, model, analyzer)
    properties = {CREATED_PROPERTY: "1"}
    if model is not None:
        properties[MODEL_PROPERTY] = encode_model(model)
    conn.call(
        "create_collection", "create_collection", name, schema=schema,
        consistency_level="Strong", properties=properties,
    )
    _create_index(conn, name, index_type, algo, analyzer is not None)
    conn.call("load_collection", "load_collection", name)


def _create_index(
    conn: MilvusConnection, name: str, index_type: str | None, algo: str | None, bm25: bool
) -> None:
    # sync=False: pymilvus would otherwise poll the new (empty) index for 0.5 s, through a
    # call Milvus Lite does not implement.
    index = build_index(conn.client, index_type, algo, bm25=bm25)
    try:
        conn.call("create_index", "create_index", name, index, sync=False)
    except StoreError:
        if describe_index(conn, name) is None:  # not a racing creator's index: a real failure
            raise


def describe(conn: MilvusConnection, name: str) -> dict[str, Any]:
    described: dict[str, Any] = conn.call("describe_collection", "describe_collection", name)
    return described


def describe_index(conn: MilvusConnection, name: str) -> dict[str, Any] | None:
    """The vector field's index, or None when it has none."""
    try:
        index = conn.call("describe_index", "describe_index", name, VECTOR_FIELD)
    except StoreError as exc:
        if "not found" in str(exc) or "not exist" in str(exc):
            return None
        raise
    return dict(index) if index else None


def _check_index(
    conn: MilvusConnection, index: dict[str, Any], index_type: str | None, algo: str | None
) -> None:
    have_type = index.get("index_type")
    have_algo = index.get("inverted_index_algo")  # Milvus Lite does not report it
    for option, want, have in (
        ("index_type", index_type, have_type),
        ("inverted_index_algo", algo, have_algo),
    ):
        if want is not None and have is not None and want != have:
            raise StoreError(
                f"{conn.where} already exists with {option}={have}, not {want}; leave the "
                "option out to use the existing index, or choose another collection name"
            )


def record_model(
    conn: MilvusConnection,
    name: str,
    recorded: ModelIdentity | None,
    model: ModelIdentity,
    *,
    stacklevel: int,
) -> ModelIdentity | None:
    """Write ``model``'s record into the properties of a collection that records ``recorded``,
    where the engine keeps them; the record the collection holds afterwards.

    A ``recorded`` model is an earlier version's fingerprint of the same weights, which the
    full one replaces where the engine allows (else the earlier one stays, and still names the
    model). Without one, a record that cannot be added is said in a warning (at
    ``stacklevel``, as :func:`warnings.warn` counts from here), and the store goes on without
    a record.
    """
    properties = {MODEL_PROPERTY: encode_model(model)}
    if recorded is not None:
        try:
            conn.call(
                "alter_collection_properties", "alter_collection_properties", name,
                properties=properties,
            )
        except StoreError:
            return recorded
        return model
    try:
        conn.call(
            "alter_collection_properties", "alter_collection_properties", name,
            properties=properties,
        )
        recorded = recorded_model(describe(conn, name))
        if recorded is not None:
            return recorded
        reason = "the engine did not keep the property"
    except StoreError as exc:
        reason = str(exc)
    warnings.warn(
        f"{conn.where} has no record of the model that built it, and recording "
        f"{model.describe()} failed ({reason}); going on without a record, so vectors of "
        "another model would not be noticed. Index into a new collection to get one",
        stacklevel=stacklevel,  # the warning points at the code that opened the store
    )
    return None


__all__ = [
    "adopt",
    "describe",
    "describe_index",
    "open_collection",
    "record_model",
]
