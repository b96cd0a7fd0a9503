"""Stores: where vectors live. A small protocol, Milvus behind it, an exact in-memory one beside it.

- :mod:`~spladekit.store.config`: :class:`StoreConfig`, the store settings declared once;
- :mod:`~spladekit.store.protocol`: the :class:`Store` protocol, its results and search options;
- :mod:`~spladekit.store.input_checks`: the checks of what a store is given (ids, texts,
  metadata, the documents of an upsert), the same in every store;
- :mod:`~spladekit.store.model_record`: the rule by which every store takes a model's vectors;
- :mod:`~spladekit.store.milvus`: :class:`MilvusStore` (a Milvus Lite file or a server URI),
  which builds the search requests and runs them;
- :mod:`~spladekit.store.milvus_results`: pymilvus's answers read as hits (BM25's sign,
  placeholder documents, ids as stored);
- :mod:`~spladekit.store.fusion`: ranking, RRF and weighted fusion, as plain functions both
  stores use;
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

from collections.abc import Callable
from typing import Any

from .config import MEMORY_URI, StoreConfig
from .protocol import (
    SEARCH_MODES,
    Hit,
    ModelIdentity,
    SearchOptions,
    Store,
    StoredDocument,
    UpsertResult,
)


def open_store(
    uri: str | StoreConfig, *, create: bool = True, model: ModelIdentity | None = None,
    **settings: Any,
) -> Store:
    """A :class:`MemoryStore` for ``memory://``, else a :class:`MilvusStore` on ``uri``.

    ``uri`` is a :class:`StoreConfig`, or a URI with the config's settings as keywords
    (``collection=``, ``token=``, ``bm25=``...). ``model`` is adopted by the store
    (:meth:`Store.adopt_model`, with the config's ``allow_other_model``); ``create=False``
    refuses a missing collection. A memory store uses only ``allow_other_model`` of the
    settings (it has one collection and no index to tune).
    """
    config = StoreConfig.build(uri, settings)
    opener = next((open_ for accepts, open_ in _OPENERS if accepts(config.uri)), _milvus)
    return opener(config, create, model)


def _memory(config: StoreConfig, create: bool, model: ModelIdentity | None) -> Store:
    from .memory import MemoryStore

    store = MemoryStore()
    if model is not None:
        store.adopt_model(model, allow_other_model=config.allow_other_model)
    return store


def _milvus(config: StoreConfig, create: bool, model: ModelIdentity | None) -> Store:
    from .milvus import MilvusStore

    return MilvusStore(config, create=create, model=model)


# The stores a URI can open, as data: the first whose test accepts the URI opens it; Milvus
# (Lite for a file, else a server) takes every other URI.
_OPENERS: tuple[
    tuple[Callable[[str], bool], Callable[[StoreConfig, bool, ModelIdentity | None], Store]], ...
] = ((lambda uri: uri == MEMORY_URI, _memory),)


__all__ = [
    "MEMORY_URI",
    "SEARCH_MODES",
    "Hit",
    "ModelIdentity",
    "SearchOptions",
    "Store",
    "StoreConfig",
    "StoredDocument",
    "UpsertResult",
    "open_store",
]
