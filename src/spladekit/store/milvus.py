"""MilvusStore: a Milvus collection of SPLADE vectors with their ids, texts and metadata.

One class for both kinds of Milvus:

- a Milvus Lite file (``uri="spladekit.db"``, the default): milvus-lite 3.x runs in-process and
  searches exactly; one process at a time may open a file (:mod:`spladekit.store.lite`);
- a Milvus server or cluster (``uri="http://host:19530"``, optional ``token``).

Vectors go in and come out in every form :func:`spladekit.vectors.to_milvus_rows` accepts.

Empty vectors: a document whose vector has no positive weight (an empty text, or one pruned to
nothing) is still stored, with its text and metadata, under the placeholder vector of
:func:`spladekit.store.schema.stored_vector` and ``empty=True``, on Lite (which refuses empty
vectors) and on a server alike. Its true SPLADE score against any query is 0, so a SPLADE
search, and the SPLADE leg of a hybrid one, never reports it; BM25 finds it by its words;
``get`` and ``count`` see it.

Searches: this class builds each mode's requests (:mod:`spladekit.store.requests`) and runs
them; what the answers mean is :mod:`spladekit.store.milvus_results`', the fusion of two legs
:mod:`spladekit.store.fusion`'s. A hybrid search is one Milvus call, except that a Milvus 2.5
server's WeightedRanker takes BM25 for a distance (measured against the 2.5.1 engine), so
weighted fusion on a server runs the two legs and fuses them with
:func:`spladekit.store.fusion.weighted`, as Milvus Lite computes in its single call.
Searches run at the options' ``consistency`` (``Bounded`` by default); reads by id and counts
at ``Strong``, so that what was just written is seen (resumable indexing relies on it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..errors import InvalidArgumentError, StoreError, one_line
from ..validation import query_list, text_list
from ..vectors import Row, to_milvus_rows
from . import collection as adoption
from . import fusion, keys, lite, requests
from .config import DEFAULT_COLLECTION, DEFAULT_URI, LITE_INDEX_TYPES, StoreConfig
from .connection import MilvusConnection, pymilvus_module
from .input_checks import check_ids, check_k, check_upsert, fit_text
from .milvus_results import Raw, bm25_hits, hybrid_hits, splade_hits
from .model_record import adoption as model_adoption
from .protocol import (
    SEARCH_MODES,
    Hit,
    ModelIdentity,
    SearchMode,
    SearchOptions,
    StoredDocument,
    UpsertResult,
)
from .schema import (
    EMPTY_FIELD,
    EMPTY_PLACEHOLDER_WEIGHT,
    ID_FIELD,
    METADATA_FIELD,
    TEXT_FIELD,
    VECTOR_FIELD,
    choose_analyzer,
    recorded_model,
    stored_vector,
)

# Rows per insert/upsert call and ids per query by id: bounded gRPC messages.
WRITE_CHUNK = 1000
ID_QUERY_CHUNK = 1000
# Ids per page when reading every stored id.
ID_ITERATOR_BATCH = 10000
# Queries per search call; nq*k results travel in one response.
SEARCH_CHUNK = 1024
# Reads that must see every acknowledged write: by id, counts (see the module docstring).
READ_YOUR_WRITES = "Strong"


class MilvusStore:
    """A Milvus collection of SPLADE vectors, created on first use.

    Where it lives and how it is created: a :class:`~spladekit.store.config.StoreConfig`, or
    a URI with its settings as keywords (``collection=``, ``token=``, ``inverted_index_algo=``,
    ``bm25=``...). ``model`` records the encoder that fills a new collection and is adopted by
    an existing one (:meth:`adopt_model`). With ``create=False`` a missing collection (or Lite
    file) is an error instead. Opening reads the collection's description once and keeps its
    BM25 analyzer and model record.
    """

    def __init__(
        self,
        uri: str | StoreConfig = DEFAULT_URI,
        *,
        create: bool = True,
        model: ModelIdentity | None = None,
        **settings: Any,
    ) -> None:
        config = StoreConfig.build(uri, settings)
        self.config = config
        self.collection = config.collection
        is_lite = lite.is_lite_uri(config.uri)
        if is_lite and config.index_type not in (None, *LITE_INDEX_TYPES):
            raise StoreError(
                f"Milvus Lite supports only the SPARSE_INVERTED_INDEX index, not "
                f"{config.index_type}; use a Milvus server (uri http://host:19530) for "
                "SPARSE_WAND"
            )
        if is_lite and not create and not os.path.exists(config.uri):
            raise StoreError(
                f"no Milvus Lite file at {config.uri!r}; index documents into it first, or "
                "check the uri"
            )
        self.connection = MilvusConnection(
            config.uri, token=config.token, timeout=config.timeout, where=config.where
        )
        self.bm25_analyzer: str | None = None
        # The collection's model record as read when it was opened, kept up to date by this
        # store's own writes: what adopt_model checks, without reading the collection again.
        self._recorded: ModelIdentity | None = None
        try:
            wanted = choose_analyzer(self.is_lite, config.bm25, config.analyzer)
            described, self.bm25_analyzer = adoption.open_collection(
                self.connection, self.collection, config.index_type, config.inverted_index_algo,
                create, model, wanted,
            )
            self._recorded = recorded_model(described)
            if model is not None:
                self._adopt(model, config.allow_other_model, stacklevel=3)
        except BaseException:
            self.close()
            raise

    # -- the connection held ---------------------------------------------------------------

    @property
    def uri(self) -> str:
        return self.connection.uri

    @property
    def is_lite(self) -> bool:
        """Whether the store is a Milvus Lite file (else a server)."""
        return self.connection.is_lite

    @property
    def timeout(self) -> float | None:
        return self.connection.timeout

    @property
    def where(self) -> str:
        """What error messages call this store: its collection and URI."""
        return self.connection.where

    @property
    def client(self) -> Any:
        """The underlying ``pymilvus.MilvusClient``, for operations spladekit does not wrap."""
        return self.connection.client

    def close(self) -> None:
        """Release the connection (and, for Milvus Lite, the file). Safe to call twice."""
        self.connection.close()

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema and model ------------------------------------------------------------------

    def recorded_model(self) -> ModelIdentity | None:
        """The model the collection records now (None for older collections); reads it."""
        self._recorded = recorded_model(adoption.describe(self.connection, self.collection))
        return self._recorded

    def adopt_model(self, model: ModelIdentity, *, allow_other_model: bool = False) -> None:
        """Take ``model``'s vectors by the rule of :mod:`spladekit.store.model_record`, against
        the record read when the store was opened: a collection without a record records
        ``model`` (in its properties, where the engine keeps them; where it cannot, a warning
        says so and the store goes on without a record); one recorded with another model
        refuses it, unless ``allow_other_model``. A collection is never dropped or
        re-created (see :mod:`spladekit.store.collection`)."""
        self._adopt(model, allow_other_model, stacklevel=4)  # past the Retriever that adopts

    def check_model(self, model: ModelIdentity, *, allow_other: bool = False) -> None:
        """Refuse a collection recorded with another model, unless ``allow_other``; reads the
        record and writes nothing (:meth:`record_model` records one)."""
        model_adoption(
            self.recorded_model(), model, allow_other_model=allow_other, where=self.where
        )

    def record_model(self, model: ModelIdentity) -> None:
        """Record ``model`` for a collection without a record (read again first), as
        :meth:`adopt_model` does; a recorded model stays."""
        self.recorded_model()
        self._adopt(model, True, stacklevel=4)

    def _adopt(self, model: ModelIdentity, allow_other_model: bool, *, stacklevel: int) -> None:
        recorded = self._recorded
        action = model_adoption(
            recorded, model, allow_other_model=allow_other_model, where=self.where
        )
        if action != "keep":
            self._recorded = adoption.record_model(
                self.connection, self.collection, recorded, model, stacklevel=stacklevel + 1
            )

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
            vector, empty = stored_vector(doc.row)
            if empty:
                empty_ids.append(doc.id)
            records.append(
                {
                    ID_FIELD: keys.stored_id(doc.id, not self.is_lite),
                    VECTOR_FIELD: vector,
                    TEXT_FIELD: fit_text(doc.text),
                    METADATA_FIELD: doc.metadata,
                    EMPTY_FIELD: empty,
                }
            )
        for start in range(0, len(records), WRITE_CHUNK):
            # One upsert call: the engine replaces each id's row (on a server, ids holding a
            # quote are stored encoded, see spladekit.store.keys, which its upsert can replace).
            self.connection.write_call(
                "upsert", "upsert", self.collection, records[start : start + WRITE_CHUNK]
            )
        return UpsertResult(len(records), empty_ids)

    def delete(self, ids: Sequence[str]) -> None:
        """Delete the documents with these ids (ids not stored are ignored)."""
        for _, expr in self._id_chunks(check_ids(ids, unique=False)):
            self.connection.write_call("delete", "delete", self.collection, filter=expr)

    @property
    def search_modes(self) -> tuple[SearchMode, ...]:
        """Every mode with the collection's BM25 field, else ``splade`` only."""
        return SEARCH_MODES if self.bm25_analyzer is not None else ("splade",)

    def flush(self) -> None:
        """Seal what was written into segments (faster searches on Milvus Lite).

        Durability does not depend on it. On a Milvus server each write is in the server's
        log once the call returns. On Milvus Lite each write is in the file's write-ahead log
        once the call returns; a write that fails with a disk error (full, I/O, read-only)
        makes the store refuse later writes until the file is opened again, so nothing is
        acknowledged that the log could lose. On Lite, flushes and writes from threads
        sharing a file run one at a time.
        """
        self.connection.write_call("flush", "flush", self.collection)

    def drop(self) -> None:
        """Delete the whole collection."""
        self.connection.call("drop_collection", "drop_collection", self.collection)

    # -- reading ---------------------------------------------------------------------------

    def count(self) -> int:
        """Number of stored documents (empty ones included)."""
        result = self.connection.call(
            "count", "query", self.collection, filter="", output_fields=["count(*)"],
            consistency_level=READ_YOUR_WRITES,
        )
        return int(result[0]["count(*)"]) if result else 0

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already stored."""
        return {doc_id for doc_id, _ in self._query_ids(check_ids(ids, unique=False), [])}

    def iter_ids(self, batch_size: int = ID_ITERATOR_BATCH) -> Iterator[list[str]]:
        """Every stored id, in batches of up to ``batch_size`` (in no particular order)."""
        pymilvus = pymilvus_module()
        iterator = self.connection.call(
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
        by_id = {
            doc_id: StoredDocument(
                doc_id, str(r.get(TEXT_FIELD) or ""), dict(r.get(METADATA_FIELD) or {}),
                bool(r.get(EMPTY_FIELD)),
            )
            for doc_id, r in self._query_ids(id_list, [TEXT_FIELD, METADATA_FIELD, EMPTY_FIELD])
        }
        return [by_id[i] for i in id_list if i in by_id]

    def get_vectors(self, ids: Sequence[str]) -> dict[str, dict[int, float]]:
        """The stored vectors of these ids ({} for an empty document); missing ids left out."""
        found: dict[str, dict[int, float]] = {}
        id_list = check_ids(ids, unique=False)
        for doc_id, r in self._query_ids(id_list, [VECTOR_FIELD, EMPTY_FIELD]):
            vector = {} if r.get(EMPTY_FIELD) else r.get(VECTOR_FIELD) or {}
            found[doc_id] = {int(i): float(w) for i, w in vector.items()}
        return found

    def _id_chunks(self, id_list: list[str]) -> Iterator[tuple[list[str], str]]:
        """The ids in chunks of up to ``ID_QUERY_CHUNK``, each with the expression finding it."""
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            yield chunk, keys.id_filter(chunk, not self.is_lite)

    def _query_ids(self, id_list: list[str], fields: list[str]) -> Iterator[tuple[str, Raw]]:
        """(id, row) of each stored document among these ids, with ``fields``."""
        for chunk, expr in self._id_chunks(id_list):
            for r in self.connection.call(
                "query", "query", self.collection, filter=expr,
                output_fields=[ID_FIELD, *fields], limit=len(chunk),
                consistency_level=READ_YOUR_WRITES,
            ):
                yield keys.given_id(r[ID_FIELD], not self.is_lite), r

    # -- searching -------------------------------------------------------------------------

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
        ``k``; an empty query gets no hits. Options: :class:`~spladekit.store.protocol.
        SearchOptions`, as an object or as keywords (``filter=``, ``mode=``, ``fusion=``...).
        """
        k = check_k(k)
        opts = SearchOptions.build(options, changes)
        rows = to_milvus_rows(vectors, "query vectors") if vectors is not None else None
        queries = None if texts is None else query_list(text_list(texts), "texts[{}]".format)
        if rows is not None and queries is not None and len(rows) != len(queries):
            raise InvalidArgumentError(
                f"got {len(rows)} query vectors but {len(queries)} query texts; give one of "
                "each per query"
            )
        requests.check_mode(
            opts, where=self.where, has_bm25=self.bm25_analyzer is not None,
            is_lite=self.is_lite, has_rows=rows is not None, has_texts=queries is not None,
        )
        n = len(rows) if rows is not None else len(queries or ())
        results: list[list[Hit]] = []
        for start in range(0, n, SEARCH_CHUNK):
            part_rows = [] if rows is None else rows[start : start + SEARCH_CHUNK]
            part_texts = [] if queries is None else queries[start : start + SEARCH_CHUNK]
            if opts.mode == "splade":
                legs = self._splade_leg(part_rows, k, opts, opts.filter)
                results += map(splade_hits, legs)
            elif opts.mode == "bm25":
                results += map(bm25_hits, self._bm25_leg(part_texts, k, opts))
            else:
                results += self._hybrid(part_rows, part_texts, k, opts)
        return results

    def _splade_leg(
        self, rows: Sequence[Row], limit: int, opts: SearchOptions, expr: str | None
    ) -> list[list[Raw]]:
        asked = [i for i, row in enumerate(rows) if row]  # an empty query matches nothing
        answers: list[list[Raw]] = [[] for _ in rows]
        if asked:
            args = requests.splade_search([rows[i] for i in asked], limit, opts, expr)
            found = self.connection.call("search", "search", self.collection, **args)
            for i, hits in zip(asked, found, strict=True):
                answers[i] = list(hits)
        return answers

    def _bm25_leg(self, texts: Sequence[str], limit: int, opts: SearchOptions) -> list[list[Raw]]:
        args = requests.bm25_search(texts, limit, opts)
        found = self.connection.call("BM25 search", "search", self.collection, **args)
        return [list(hits) for hits in found]

    def _hybrid(
        self, rows: Sequence[Row], texts: Sequence[str], k: int, opts: SearchOptions
    ) -> list[list[Hit]]:
        limit = opts.candidates_for(k)
        if opts.fusion == "weighted" and not self.is_lite:
            # A server's WeightedRanker misreads BM25 (see the module docstring): fuse here.
            splade = self._splade_leg(rows, limit, opts, requests.documents_only(opts.filter))
            bm25 = self._bm25_leg(texts, limit, opts)
            return [
                fusion.fuse(splade_hits(s), bm25_hits(b), opts, k)
                for s, b in zip(splade, bm25, strict=True)
            ]
        results: list[list[Hit]] = [[] for _ in rows]
        full = [i for i, row in enumerate(rows) if row]
        if full:
            args = requests.hybrid_search(
                [rows[i] for i in full], [texts[i] for i in full], k, opts
            )
            found = self.connection.call(
                "hybrid search", "hybrid_search", self.collection, **args
            )
            for i, hits in zip(full, found, strict=True):
                results[i] = hybrid_hits(hits)
        empty = [i for i, row in enumerate(rows) if not row]
        if empty:
            # A query without SPLADE weights has one leg: fuse it alone, as Milvus would.
            single = self._bm25_leg([texts[i] for i in empty], limit, opts)
            for i, hits in zip(empty, single, strict=True):
                results[i] = fusion.fuse([], bm25_hits(hits), opts, k)
        return results


__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_URI",
    "EMPTY_PLACEHOLDER_WEIGHT",
    "SEARCH_CHUNK",
    "MilvusStore",
]
