"""MilvusStore: a Milvus collection of SPLADE vectors with their ids, texts and metadata.

One class for both kinds of Milvus:

- a Milvus Lite file (``uri="spladekit.db"``, the default): milvus-lite 3.x runs in-process and
  searches exactly; one process at a time may open a file (:mod:`spladekit.store.lite`);
- a Milvus server or cluster (``uri="http://host:19530"``, optional ``token``).

Vectors go in and come out in every form :func:`spladekit.vectors.to_milvus_rows` accepts.

Empty vectors: Milvus Lite refuses a vector without a positive weight, and an empty text, or one
pruned to nothing, encodes to one. Such a document is still stored, with its text and metadata,
under a placeholder vector (``{0: EMPTY_PLACEHOLDER_WEIGHT}``: dimension 0 is BERT's [PAD],
which queries do not weigh) and ``empty=True``. Its true score against any query is 0, so
``search`` never reports it; ``get`` and ``count`` do. The same policy holds on a server (which
would accept an empty vector), so both behave alike.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import InputTypeError, InvalidArgumentError, StoreError
from ..validation import choice, query_text
from ..vectors import to_milvus_rows
from . import collection as adoption
from . import keys, lite, search
from .base import (
    Hit,
    ModelIdentity,
    SearchOptions,
    StoredDocument,
    UpsertResult,
    check_ids,
    check_k,
    check_upsert,
    fit_text,
)
from .connection import DEFAULT_URI, MilvusConnection, check_uri, one_line, pymilvus_module
from .schema import (
    EMPTY_FIELD,
    ID_FIELD,
    INDEX_ALGOS,
    INDEX_TYPES,
    LITE_INDEX_TYPES,
    METADATA_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    choose_analyzer,
    recorded_model,
)

DEFAULT_COLLECTION = "spladekit"
EMPTY_PLACEHOLDER_WEIGHT = 1e-6

# Rows per insert/upsert call and ids per existence query: bounded gRPC messages.
WRITE_CHUNK = 1000
ID_QUERY_CHUNK = 1000
# Ids per page when reading every stored id.
ID_ITERATOR_BATCH = 10000


class MilvusStore(MilvusConnection):
    """A Milvus collection of SPLADE vectors, created on first use.

    ``index_type`` (``SPARSE_INVERTED_INDEX``, or ``SPARSE_WAND`` on a server) and
    ``inverted_index_algo`` (``DAAT_MAXSCORE`` default, ``DAAT_WAND``, ``TAAT_NAIVE``; Milvus
    Lite searches exactly whichever is named) apply when the collection is created; ``None``
    means the default then, and whatever the existing collection has otherwise. ``model``
    records the encoder that fills a new collection and is checked against an existing one
    (see :meth:`check_model`). With ``create=False`` a missing collection (or Lite file) is an
    error instead.
    """

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        token: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        index_type: str | None = None,
        inverted_index_algo: str | None = None,
        create: bool = True,
        timeout: float | None = None,
        model: ModelIdentity | None = None,
        allow_other_model: bool = False,
        bm25: bool = False,
        analyzer: str | None = None,
    ) -> None:
        if not isinstance(collection, str) or not collection:
            raise InputTypeError(f"collection must be a non-empty str, got {collection!r}")
        if index_type is not None:
            choice("index_type", index_type, INDEX_TYPES)
        if inverted_index_algo is not None:
            choice("inverted_index_algo", inverted_index_algo, INDEX_ALGOS)
        check_uri(uri)
        self.collection = collection
        if lite.is_lite_uri(uri) and index_type is not None and index_type not in LITE_INDEX_TYPES:
            raise StoreError(
                f"Milvus Lite supports only the SPARSE_INVERTED_INDEX index, not {index_type}; "
                "use a Milvus server (uri http://host:19530) for SPARSE_WAND"
            )
        if lite.is_lite_uri(uri) and not create and not os.path.exists(uri):
            raise StoreError(
                f"no Milvus Lite file at {uri!r}; index documents into it first, or check the uri"
            )
        super().__init__(
            uri, token=token, timeout=timeout, where=f"collection {collection!r} at {uri!r}"
        )
        self.bm25_analyzer: str | None = None
        try:
            wanted = choose_analyzer(self.is_lite, bm25, analyzer)
            adoption.open_collection(
                self, index_type, inverted_index_algo, create, model, wanted
            )
            if model is not None:
                self.check_model(model, allow_other=allow_other_model)
        except BaseException:
            self.close()
            raise

    # -- schema and model ------------------------------------------------------------------

    @property
    def lock_key(self) -> str:
        """What identifies this store's engine in this process (the Lite file, or the URI)."""
        return self._lite_path or self.uri

    def recorded_model(self) -> ModelIdentity | None:
        """The model recorded when the collection was created (None for older collections)."""
        return recorded_model(adoption.describe(self))

    def check_model(self, model: ModelIdentity, *, allow_other: bool = False) -> None:
        """Refuse a collection built with another model unless ``allow_other``.

        A collection without a record gets this model recorded in its properties, where the
        engine keeps them; where it cannot, a warning says so and the store goes on without a
        record. A collection is never dropped or re-created (see
        :mod:`spladekit.store.collection`).
        """
        adoption.check_model(self, model, allow_other)

    # -- writing ---------------------------------------------------------------------------

    def upsert(
        self,
        ids: Sequence[str],
        vectors: object,
        texts: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> UpsertResult:
        """Store documents, replacing any stored under the same ids.

        ``vectors`` has one row per id, in any accepted form (see the module docstring).
        Weights must be finite and non-negative; zeros are dropped; a row with no positive
        weight is stored as an empty document (placeholder vector, ``empty=True``). Writing the
        same ids again is idempotent: Milvus keeps one row per id. Texts longer than 65535
        UTF-8 bytes are stored cut at a character boundary (the vector is not affected).
        """
        records: list[dict[str, Any]] = []
        empty_ids: list[str] = []
        for doc in check_upsert(ids, vectors, texts, metadata):
            if not doc.row:
                empty_ids.append(doc.id)
            records.append(
                {
                    ID_FIELD: keys.stored_id(doc.id, not self.is_lite),
                    VECTOR_FIELD: doc.row or {0: EMPTY_PLACEHOLDER_WEIGHT},
                    TEXT_FIELD: fit_text(doc.text),
                    METADATA_FIELD: doc.metadata,
                    EMPTY_FIELD: not doc.row,
                }
            )
        for start in range(0, len(records), WRITE_CHUNK):
            self._write(records[start : start + WRITE_CHUNK])
        return UpsertResult(len(records), empty_ids)

    def _write(self, records: list[dict[str, Any]]) -> None:
        # One upsert call: the engine replaces each id's row (on a server, ids holding a
        # quote are stored encoded, see spladekit.store.keys, which its upsert can replace).
        self._write_call("upsert", "upsert", self.collection, records)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete the documents with these ids (ids not stored are ignored)."""
        id_list = check_ids(ids, unique=False)
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            self._write_call("delete", "delete", self.collection, filter=self._filter(chunk))

    def flush(self) -> None:
        """Seal what was written into segments (faster searches on Milvus Lite).

        Durability does not depend on it. On a Milvus server each write is in the server's
        log once the call returns. On Milvus Lite each write is in the file's write-ahead log
        once the call returns; a write that fails with a disk error (full, I/O, read-only)
        makes the store refuse later writes until the file is opened again, so nothing is
        acknowledged that the log could lose. On Lite, flushes and writes from threads
        sharing a file run one at a time.
        """
        self._write_call("flush", "flush", self.collection)

    def drop(self) -> None:
        """Delete the whole collection."""
        self._call("drop_collection", "drop_collection", self.collection)

    # -- reading ---------------------------------------------------------------------------

    def count(self) -> int:
        """Number of stored documents (empty ones included)."""
        result = self._call(
            "count", "query", self.collection, filter="", output_fields=["count(*)"],
            consistency_level="Strong",
        )
        return int(result[0]["count(*)"]) if result else 0

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already stored."""
        id_list = check_ids(ids, unique=False)
        found: set[str] = set()
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            result = self._call(
                "query", "query", self.collection, filter=self._filter(chunk),
                output_fields=[ID_FIELD], limit=len(chunk), consistency_level="Strong",
            )
            found.update(keys.given_id(r[ID_FIELD], not self.is_lite) for r in result)
        return found

    def iter_ids(self, batch_size: int = ID_ITERATOR_BATCH) -> Iterator[list[str]]:
        """Every stored id, in batches of up to ``batch_size`` (in no particular order)."""
        pymilvus = pymilvus_module()
        iterator = self._call(
            "query_iterator", "query_iterator", self.collection, batch_size=batch_size,
            filter="", output_fields=[ID_FIELD],
        )
        try:
            while True:
                try:
                    rows = iterator.next()
                except pymilvus.exceptions.MilvusException as exc:
                    raise StoreError(
                        f"Milvus query_iterator failed for {self.where}: {one_line(exc.message)}"
                    ) from exc
                if not rows:
                    return
                yield [keys.given_id(r[ID_FIELD], not self.is_lite) for r in rows]
        finally:
            with contextlib.suppress(Exception):  # closing must not mask an earlier error
                iterator.close()

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents with these ids, in the order given; missing ids are left out."""
        id_list = check_ids(ids, unique=False)
        by_id: dict[str, StoredDocument] = {}
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            result = self._call(
                "query", "query", self.collection, filter=self._filter(chunk),
                output_fields=[ID_FIELD, TEXT_FIELD, METADATA_FIELD, EMPTY_FIELD],
                limit=len(chunk), consistency_level="Strong",
            )
            for r in result:
                doc = StoredDocument(
                    keys.given_id(r[ID_FIELD], not self.is_lite), str(r.get(TEXT_FIELD) or ""),
                    dict(r.get(METADATA_FIELD) or {}), bool(r.get(EMPTY_FIELD)),
                )
                by_id[doc.id] = doc
        return [by_id[i] for i in id_list if i in by_id]

    def get_vectors(self, ids: Sequence[str]) -> dict[str, dict[int, float]]:
        """The stored vectors of these ids ({} for an empty document); missing ids left out."""
        id_list = check_ids(ids, unique=False)
        found: dict[str, dict[int, float]] = {}
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            result = self._call(
                "query", "query", self.collection, filter=self._filter(chunk),
                output_fields=[ID_FIELD, VECTOR_FIELD, EMPTY_FIELD], limit=len(chunk),
                consistency_level="Strong",
            )
            for r in result:
                vector = {} if r.get(EMPTY_FIELD) else r.get(VECTOR_FIELD) or {}
                doc_id = keys.given_id(r[ID_FIELD], not self.is_lite)
                found[doc_id] = {int(i): float(w) for i, w in vector.items()}
        return found

    def search(
        self,
        vectors: object,
        k: int = 10,
        *,
        texts: Sequence[str] | None = None,
        options: SearchOptions | None = None,
        **changes: Any,
    ) -> list[list[Hit]]:
        """The ``k`` best documents for each query, best first.

        ``vectors``: the (n, dim) matrix from ``encode_queries``, dict rows or a single row;
        ``texts``: the queries' words, for the ``bm25`` and ``hybrid`` modes (``vectors`` may
        be None in mode ``bm25``). Returns one list of hits per query. All queries go to Milvus
        in one call (up to 1024 per call): each call has a fixed cost, large on Milvus Lite.
        Only documents with a positive score are returned, so a list may be shorter than
        ``k``; an empty query gets no hits. Options: :class:`~spladekit.store.base.
        SearchOptions`, as an object or as keywords (``filter=``, ``mode=``, ``fusion=``...).
        """
        k = check_k(k)
        opts = SearchOptions.build(options, changes)
        rows = to_milvus_rows(vectors, "query vectors") if vectors is not None else None
        queries = None if texts is None else [
            query_text(t, f"texts[{i}]") for i, t in enumerate(_text_sequence(texts))
        ]
        if rows is not None and queries is not None and len(rows) != len(queries):
            raise InvalidArgumentError(
                f"got {len(rows)} query vectors but {len(queries)} query texts; give one of "
                "each per query"
            )
        search.check_mode(self, opts, rows is not None, queries is not None)
        return search.run(self, rows, queries, k, opts)


    def _filter(self, ids: Sequence[str]) -> str:
        return keys.id_filter(ids, not self.is_lite)


def _text_sequence(texts: object) -> Sequence[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputTypeError(f"texts must be a list of str, got {type(texts).__name__}")
    return texts


__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_URI",
    "EMPTY_PLACEHOLDER_WEIGHT",
    "MilvusStore",
]
