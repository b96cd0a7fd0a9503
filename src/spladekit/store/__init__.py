"""Stores: where vectors live. A small protocol, Milvus behind it, an exact in-memory one beside it.

- :mod:`~spladekit.store.base`: the :class:`Store` protocol, results, search options, checks;
- :mod:`~spladekit.store.milvus`: :class:`MilvusStore` (a Milvus Lite file or a server URI),
  which builds the search requests and runs them;
- :mod:`~spladekit.store.fusion`: ranking, RRF and weighted fusion, BM25's sign and hit building,
  as plain functions both stores use;
- :mod:`~spladekit.store.connection`: the Milvus client a :class:`MilvusStore` holds, errors
  translated;
- :mod:`~spladekit.store.schema`: the collection's fields, the empty-vector placeholder rule and
  the recorded model;
- :mod:`~spladekit.store.collection`: creating a collection, or adopting one without changing it;
- :mod:`~spladekit.store.keys`: ids as Milvus stores them, and the expressions that find them;
- :mod:`~spladekit.store.lite`: Milvus Lite's one-process lock, damage check, write lock and
  refusal after disk errors;
- :mod:`~spladekit.store.memory`: :class:`MemoryStore`, exact, for tests and evaluation.
"""

from __future__ import annotations

from typing import Any

from .base import Hit, ModelIdentity, SearchOptions, Store, StoredDocument, UpsertResult

MEMORY_URI = "memory://"


def open_store(uri: str, **kwargs: Any) -> Store:
    """A :class:`MemoryStore` for ``memory://``, else a :class:`MilvusStore` on ``uri``.

    ``kwargs`` are :class:`MilvusStore`'s; a memory store takes only ``model`` and
    ``allow_other_model`` of them (it has one collection and no index to tune).
    """
    if uri == MEMORY_URI:
        from .memory import MemoryStore

        store = MemoryStore()
        model = kwargs.get("model")
        if model is not None:
            store.check_model(model, allow_other=bool(kwargs.get("allow_other_model")))
            store.record_model(model)
        return store
    from .milvus import MilvusStore

    return MilvusStore(uri, **kwargs)


__all__ = [
    "MEMORY_URI",
    "Hit",
    "ModelIdentity",
    "SearchOptions",
    "Store",
    "StoredDocument",
    "UpsertResult",
    "open_store",
]
