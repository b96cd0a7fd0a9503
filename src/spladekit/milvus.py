"""The Milvus store: a collection of SPLADE vectors with their ids, texts and metadata.

One class, :class:`MilvusStore`, for both kinds of Milvus:

- a Milvus Lite file (``uri="spladekit.db"``, the default): milvus-lite 3.x runs in-process and
  searches exactly; one process at a time may open a file;
- a Milvus server or cluster (``uri="http://host:19530"``, optional ``token``).

Vectors go in and come out in every shape users have: the 2-D ``csr_array`` from
``encode_documents``/``encode_queries``, ``{index: weight}`` dicts, single 1 x V or 1-D scipy
rows, dense numpy rows, or lists of ``(index, weight)`` pairs. pymilvus itself rejects some of
these (a 2-D ``csr_array`` in ``search``, 1-D rows in ``insert``); spladekit converts them.

Empty vectors: Milvus Lite refuses a vector without a positive weight, and an empty text, or one
pruned to nothing, encodes to one. Such a document is still stored, with its text and metadata,
under a placeholder vector (``{0: EMPTY_PLACEHOLDER_WEIGHT}``: dimension 0 is BERT's [PAD],
which queries do not weigh) and ``empty=True``. Its true score against any query is 0, and
Milvus returns only hits with a positive score, so :meth:`MilvusStore.search` never reports it;
:meth:`MilvusStore.get` and :meth:`MilvusStore.count` do. The same policy holds on a server
(which would accept an empty vector), so both backends behave alike.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import csr_array, issparse

from .errors import InputTypeError, InvalidArgumentError, MissingDependencyError, StoreError
from .sparse import to_milvus_rows

if TYPE_CHECKING:
    from pymilvus import MilvusClient

DEFAULT_URI = "spladekit.db"
DEFAULT_COLLECTION = "spladekit"
SERVER_SCHEMES = ("http://", "https://", "tcp://", "unix:")

INDEX_TYPES = ("SPARSE_INVERTED_INDEX", "SPARSE_WAND")
INDEX_ALGOS = ("DAAT_MAXSCORE", "DAAT_WAND", "TAAT_NAIVE")
LITE_INDEX_TYPES = ("SPARSE_INVERTED_INDEX",)

ID_FIELD = "id"
VECTOR_FIELD = "vector"
TEXT_FIELD = "text"
METADATA_FIELD = "metadata"
EMPTY_FIELD = "empty"

MAX_ID_BYTES = 512
MAX_TEXT_BYTES = 65535
MAX_K = 16384  # Milvus's limit on top-k
# Milvus sparse indices are uint32 with the maximum value reserved.
MAX_DIMENSION = 2**32 - 1
EMPTY_PLACEHOLDER_WEIGHT = 1e-6
FLOAT32_MAX = float(np.finfo(np.float32).max)

# Rows per insert/upsert call and ids per existence query: bounded gRPC messages.
WRITE_CHUNK = 1000
ID_QUERY_CHUNK = 1000
# Queries per search call; nq*k results travel in one response.
SEARCH_CHUNK = 1024

Row = dict[int, float]


@dataclass(frozen=True)
class Hit:
    """One search result: document id, score (inner product), text and metadata.

    ``text`` is ``""`` and ``metadata`` is ``{}`` when the search did not fetch them.
    """

    id: str
    score: float
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredDocument:
    """A stored document as :meth:`MilvusStore.get` returns it.

    ``empty`` is True when its vector had no positive weight and a placeholder was stored.
    """

    id: str
    text: str
    metadata: dict[str, Any]
    empty: bool


@dataclass(frozen=True)
class UpsertResult:
    """What an upsert wrote: the number of rows, and the ids stored with an empty vector."""

    count: int
    empty_ids: list[str]


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError(
            "pymilvus is required for the Milvus store: pip install pymilvus milvus-lite"
        ) from exc
    return pymilvus


def is_lite_uri(uri: str) -> bool:
    """True for a Milvus Lite file: pymilvus treats any URI ending in ``.db`` as one."""
    return uri.endswith(".db")


# Milvus Lite files opened by stores in this process, with how many stores hold each: the
# in-process Lite server keeps the file's lock until the last store closes it.
_LITE_OPEN: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def _check_lite_lock(path: str) -> None:
    """Fail clearly when another process holds the Lite file (Lite allows one at a time)."""
    import fcntl

    lock_path = os.path.join(path, "LOCK")
    if not os.path.exists(lock_path):
        return
    try:
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except BlockingIOError as exc:
        raise StoreError(
            f"the Milvus Lite file {path!r} is in use by another process (Milvus Lite allows one "
            "process per file); wait for it to finish, or use a Milvus server (--uri "
            "http://host:19530) for concurrent access"
        ) from exc
    except OSError:
        return  # unreadable lock file: let Milvus Lite report what is wrong


class MilvusStore:
    """A Milvus collection of SPLADE vectors, created on first use.

    Schema: ``id`` (VARCHAR primary key, up to 512 UTF-8 bytes), ``vector``
    (SPARSE_FLOAT_VECTOR), ``text`` (VARCHAR, up to 65535 bytes; longer texts are stored cut
    at a character boundary, the vector is not affected), ``metadata`` (JSON object) and
    ``empty`` (BOOL, see the module docstring). The vector has a ``SPARSE_INVERTED_INDEX``
    (or ``SPARSE_WAND``, server only) with metric IP and ``inverted_index_algo``
    ``DAAT_MAXSCORE`` (default), ``DAAT_WAND`` or ``TAAT_NAIVE``. Milvus Lite accepts all three
    algorithms and searches exactly whichever is named.

    ``index_type`` and ``inverted_index_algo`` apply when the collection is created; ``None``
    means the default then, and whatever the existing collection has otherwise. With
    ``create=False`` a missing collection (or Lite file) is an error instead.
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
    ) -> None:
        if not isinstance(uri, str) or not uri:
            raise InputTypeError(f"uri must be a non-empty str, got {uri!r}")
        if not isinstance(collection, str) or not collection:
            raise InputTypeError(f"collection must be a non-empty str, got {collection!r}")
        if index_type is not None and index_type not in INDEX_TYPES:
            raise InvalidArgumentError(
                f"index_type must be one of {', '.join(INDEX_TYPES)}; got {index_type!r}"
            )
        if inverted_index_algo is not None and inverted_index_algo not in INDEX_ALGOS:
            raise InvalidArgumentError(
                f"inverted_index_algo must be one of {', '.join(INDEX_ALGOS)}; got "
                f"{inverted_index_algo!r}"
            )
        if not is_lite_uri(uri) and not uri.startswith(SERVER_SCHEMES):
            raise InvalidArgumentError(
                f"uri must be a Milvus Lite file ending in .db (such as {DEFAULT_URI}) or a "
                f"server address such as http://localhost:19530; got {uri!r}"
            )
        self.uri = uri
        self.collection = collection
        self.is_lite = is_lite_uri(uri)
        self.timeout = timeout
        if self.is_lite and index_type is not None and index_type not in LITE_INDEX_TYPES:
            raise StoreError(
                f"Milvus Lite supports only the SPARSE_INVERTED_INDEX index, not {index_type}; "
                "use a Milvus server (uri http://host:19530) for SPARSE_WAND"
            )
        if self.is_lite and not create and not os.path.exists(uri):
            raise StoreError(
                f"no Milvus Lite file at {uri!r}; index documents first (spladekit index) or "
                "check --uri"
            )
        self._lite_path: str | None = None
        self._client: MilvusClient | None = self._connect(token)
        try:
            self._open_collection(index_type, inverted_index_algo, create)
        except BaseException:
            self.close()
            raise

    # -- connection ------------------------------------------------------------------------

    def _connect(self, token: str | None) -> MilvusClient:
        pymilvus = _pymilvus()
        if self.is_lite:
            path = os.path.abspath(self.uri)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with _LITE_LOCK:
                if path not in _LITE_OPEN:
                    _check_lite_lock(path)
                _LITE_OPEN[path] = _LITE_OPEN.get(path, 0) + 1
            self._lite_path = path
        # A dedicated connection: close() then really closes it. pymilvus otherwise keeps a
        # shared channel open, pinging the server, for the life of the process.
        kwargs: dict[str, Any] = {"uri": self.uri, "dedicated": True}
        if token and not self.is_lite:
            kwargs["token"] = token
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        try:
            client: MilvusClient = pymilvus.MilvusClient(**kwargs)
        except pymilvus.exceptions.MilvusException as exc:
            self._release_lite()
            where = "open the Milvus Lite file" if self.is_lite else "connect to Milvus at"
            hint = (
                "check that the folder is writable and that no other process uses the file"
                if self.is_lite
                else "check that the server runs, the address, and the token (MILVUS_TOKEN)"
            )
            raise StoreError(f"could not {where} {self.uri!r}: {exc.message}; {hint}") from exc
        return client

    def _release_lite(self) -> None:
        path, self._lite_path = self._lite_path, None
        if path is None:
            return
        with _LITE_LOCK:
            left = _LITE_OPEN.get(path, 1) - 1
            if left > 0:
                _LITE_OPEN[path] = left
                return
            _LITE_OPEN.pop(path, None)
        # The last store on this file: stop the in-process Lite server so that the file's lock
        # is released and another process (or a later run) can open it.
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)

    def close(self) -> None:
        """Release the connection (and, for Milvus Lite, the file). Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing must not mask an earlier error
                client.close()
        self._release_lite()

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> MilvusClient:
        """The underlying ``pymilvus.MilvusClient``, for operations spladekit does not wrap."""
        if self._client is None:
            raise StoreError(f"the store for collection {self.collection!r} is closed")
        return self._client

    def _call(self, operation: str, method: str, *args: Any, **kwargs: Any) -> Any:
        pymilvus = _pymilvus()
        if self.timeout is not None:
            kwargs.setdefault("timeout", self.timeout)
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except pymilvus.exceptions.MilvusException as exc:
            raise StoreError(
                f"Milvus {operation} failed for collection {self.collection!r} at {self.uri!r}: "
                f"{exc.message}"
            ) from exc

    # -- schema ----------------------------------------------------------------------------

    def _open_collection(self, index_type: str | None, algo: str | None, create: bool) -> None:
        if self._call("has_collection", "has_collection", self.collection):
            self._check_schema()
            if algo is not None or index_type is not None:
                self._check_index(index_type, algo)
            state = self._call("get_load_state", "get_load_state", self.collection)
            if "Loaded" not in str(state.get("state", "")):
                self._call("load_collection", "load_collection", self.collection)
            return
        if not create:
            raise StoreError(
                f"collection {self.collection!r} does not exist at {self.uri!r}; index documents "
                "first (spladekit index) or check --collection"
            )
        pymilvus = _pymilvus()
        DataType = pymilvus.DataType
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
        schema.add_field(VECTOR_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field(METADATA_FIELD, DataType.JSON)
        schema.add_field(EMPTY_FIELD, DataType.BOOL)
        index_params = self.client.prepare_index_params()
        index_params.add_index(
            field_name=VECTOR_FIELD,
            index_type=index_type or INDEX_TYPES[0],
            metric_type="IP",
            params={"inverted_index_algo": algo or INDEX_ALGOS[0]},
        )
        self._call(
            "create_collection", "create_collection", self.collection, schema=schema,
            consistency_level="Strong",
        )
        # sync=False: pymilvus would otherwise poll the new (empty) index for 0.5 s, through a
        # call Milvus Lite does not implement.
        self._call("create_index", "create_index", self.collection, index_params, sync=False)
        self._call("load_collection", "load_collection", self.collection)

    def _check_schema(self) -> None:
        described = self._call("describe_collection", "describe_collection", self.collection)
        pymilvus = _pymilvus()
        DataType = pymilvus.DataType
        expected = {
            ID_FIELD: DataType.VARCHAR,
            VECTOR_FIELD: DataType.SPARSE_FLOAT_VECTOR,
            TEXT_FIELD: DataType.VARCHAR,
            METADATA_FIELD: DataType.JSON,
            EMPTY_FIELD: DataType.BOOL,
        }
        found = {f["name"]: f["type"] for f in described.get("fields", [])}
        primary = [f["name"] for f in described.get("fields", []) if f.get("is_primary")]
        if any(found.get(name) != kind for name, kind in expected.items()) or primary != [ID_FIELD]:
            listing = ", ".join(f"{n} {getattr(kind, 'name', kind)}" for n, kind in found.items())
            raise StoreError(
                f"collection {self.collection!r} at {self.uri!r} exists but was not created by "
                f"spladekit (its fields: {listing}); choose another collection name"
            )

    def _check_index(self, index_type: str | None, algo: str | None) -> None:
        described = self._call("describe_index", "describe_index", self.collection, VECTOR_FIELD)
        have_type = described.get("index_type")
        have_algo = described.get("inverted_index_algo")  # Milvus Lite does not report it
        for name, want, have in (
            ("index_type", index_type, have_type),
            ("inverted_index_algo", algo, have_algo),
        ):
            if want is not None and have is not None and want != have:
                raise StoreError(
                    f"collection {self.collection!r} already exists with {name}={have}, not "
                    f"{want}; leave the option out to use the existing index, or choose another "
                    "collection name"
                )

    # -- writing ---------------------------------------------------------------------------

    def upsert(
        self,
        ids: Sequence[str],
        vectors: object,
        texts: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> UpsertResult:
        """Insert documents, replacing any stored under the same ids.

        ``vectors`` has one row per id, in any accepted form (see the module docstring).
        Weights must be finite and non-negative; zeros are dropped; a row with no positive
        weight is stored as an empty document (placeholder vector, ``empty=True``). Writing the
        same ids again is idempotent: Milvus keeps one row per id.
        """
        id_list = _check_ids(ids)
        rows = vectors_to_rows(vectors, "vectors")
        if len(rows) != len(id_list):
            raise InvalidArgumentError(
                f"got {len(id_list)} ids but {len(rows)} vectors; give one vector per id"
            )
        text_list = _check_texts(texts, len(id_list))
        meta_list = _check_metadata(metadata, len(id_list))
        records: list[dict[str, Any]] = []
        empty_ids: list[str] = []
        for doc_id, row, text, meta in zip(id_list, rows, text_list, meta_list, strict=True):
            empty = not row
            if empty:
                empty_ids.append(doc_id)
                row = {0: EMPTY_PLACEHOLDER_WEIGHT}
            records.append(
                {
                    ID_FIELD: doc_id,
                    VECTOR_FIELD: row,
                    TEXT_FIELD: _fit_text(text),
                    METADATA_FIELD: meta,
                    EMPTY_FIELD: empty,
                }
            )
        for start in range(0, len(records), WRITE_CHUNK):
            self._write(records[start : start + WRITE_CHUNK])
        return UpsertResult(len(records), empty_ids)

    def _write(self, records: list[dict[str, Any]]) -> None:
        quoted = [r for r in records if "'" in r[ID_FIELD]] if not self.is_lite else []
        if quoted:
            # A Milvus 2.5 server answers "internal error" to an upsert of a string id holding
            # a single quote: replace those rows by delete + insert instead.
            records = [r for r in records if "'" not in r[ID_FIELD]]
            self._call(
                "delete", "delete", self.collection,
                filter=_id_filter([r[ID_FIELD] for r in quoted]),
            )
            self._call("insert", "insert", self.collection, quoted)
        if records:
            self._call("upsert", "upsert", self.collection, records)

    insert = upsert

    def delete(self, ids: Sequence[str]) -> None:
        """Delete the documents with these ids (ids not stored are ignored)."""
        id_list = _check_ids(ids, unique=False)
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            self._call("delete", "delete", self.collection, filter=_id_filter(chunk))

    def flush(self) -> None:
        """Seal what was written into segments (faster searches on Milvus Lite).

        Not needed for durability: each write is on disk (Lite's write-ahead log) or on the
        server once the call returns.
        """
        self._call("flush", "flush", self.collection)

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
        id_list = _check_ids(ids, unique=False)
        found: set[str] = set()
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            result = self._call(
                "query", "query", self.collection, filter=_id_filter(chunk),
                output_fields=[ID_FIELD], limit=len(chunk), consistency_level="Strong",
            )
            found.update(str(r[ID_FIELD]) for r in result)
        return found

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        """The stored documents with these ids, in the order given; missing ids are left out."""
        id_list = _check_ids(ids, unique=False)
        by_id: dict[str, StoredDocument] = {}
        for start in range(0, len(id_list), ID_QUERY_CHUNK):
            chunk = id_list[start : start + ID_QUERY_CHUNK]
            result = self._call(
                "query", "query", self.collection, filter=_id_filter(chunk),
                output_fields=[ID_FIELD, TEXT_FIELD, METADATA_FIELD, EMPTY_FIELD],
                limit=len(chunk), consistency_level="Strong",
            )
            for r in result:
                doc = StoredDocument(
                    str(r[ID_FIELD]), str(r.get(TEXT_FIELD) or ""),
                    dict(r.get(METADATA_FIELD) or {}), bool(r.get(EMPTY_FIELD)),
                )
                by_id[doc.id] = doc
        return [by_id[i] for i in id_list if i in by_id]

    def search(
        self,
        vectors: object,
        k: int = 10,
        *,
        drop_ratio_search: float = 0.0,
        filter: str | None = None,
        with_text: bool = True,
        with_metadata: bool = True,
    ) -> list[list[Hit]]:
        """The ``k`` best documents by inner product for each query vector, best first.

        Accepts the 2-D ``csr_array`` from ``encode_queries`` (any number of rows), dict rows
        or a single row; returns one list of hits per query row. All queries go to Milvus in one
        call (up to 1024 per call): each call has a fixed cost, large on Milvus Lite. Only
        documents with a positive score are returned, so a list may be shorter than ``k``; an
        empty query gets no hits. ``drop_ratio_search`` (server only) ignores that fraction of
        each query's smallest weights: faster, approximate. ``filter`` is a Milvus boolean
        expression on the stored fields, for example ``'metadata["year"] >= 2020'``.
        """
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidArgumentError(f"k must be an int from 1 to {MAX_K}, got {k!r}")
        ratio = _check_drop_ratio(drop_ratio_search)
        if ratio > 0 and self.is_lite:
            raise StoreError(
                f"Milvus Lite searches exactly and does not support drop_ratio_search > 0 (got "
                f"{ratio}); use 0, or a Milvus server (uri http://host:19530)"
            )
        if filter is not None and not isinstance(filter, str):
            raise InputTypeError(
                f"filter must be a str (a Milvus expression), got {type(filter).__name__}"
            )
        rows = vectors_to_rows(vectors, "query vectors")
        results: list[list[Hit]] = [[] for _ in rows]
        asked = [i for i, row in enumerate(rows) if row]
        fields = [EMPTY_FIELD]
        if with_text:
            fields.append(TEXT_FIELD)
        if with_metadata:
            fields.append(METADATA_FIELD)
        params: dict[str, Any] = {"metric_type": "IP", "params": {"drop_ratio_search": ratio}}
        for start in range(0, len(asked), SEARCH_CHUNK):
            chunk = asked[start : start + SEARCH_CHUNK]
            kwargs: dict[str, Any] = {}
            if filter:
                kwargs["filter"] = filter
            answer = self._call(
                "search", "search", self.collection, data=[rows[i] for i in chunk],
                anns_field=VECTOR_FIELD, limit=k, output_fields=fields, search_params=params,
                consistency_level="Strong", **kwargs,
            )
            for i, hits in zip(chunk, answer, strict=True):
                results[i] = [_to_hit(h) for h in hits if not h["entity"].get(EMPTY_FIELD)]
        return results


def _to_hit(raw: Mapping[str, Any]) -> Hit:
    entity = raw.get("entity") or {}
    return Hit(
        id=str(raw["id"]),
        score=float(raw["distance"]),
        text=str(entity.get(TEXT_FIELD) or ""),
        metadata=dict(entity.get(METADATA_FIELD) or {}),
    )


# -- validation and conversion ---------------------------------------------------------------


def _check_ids(ids: object, *, unique: bool = True) -> list[str]:
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise InputTypeError(f"ids must be a list of str, got {type(ids).__name__}")
    seen: dict[str, int] = {}
    for i, doc_id in enumerate(ids):
        if not isinstance(doc_id, str):
            raise InputTypeError(
                f"ids must be a list of str, got {type(doc_id).__name__} at position {i}"
            )
        if not doc_id or len(doc_id.encode("utf-8")) > MAX_ID_BYTES:
            raise InvalidArgumentError(
                f"id at position {i} must have 1 to {MAX_ID_BYTES} UTF-8 bytes, got {doc_id[:40]!r}"
                f" ({len(doc_id.encode('utf-8'))} bytes)"
            )
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in doc_id):
            # A Milvus server does not match such ids in filter expressions.
            raise InvalidArgumentError(
                f"id at position {i} contains control characters: {doc_id!r}"
            )
        if unique and doc_id in seen:
            raise InvalidArgumentError(
                f"ids must be unique within one call; {doc_id!r} is at positions "
                f"{seen[doc_id]} and {i}"
            )
        seen.setdefault(doc_id, i)
    return list(ids)


def _id_filter(ids: Sequence[str]) -> str:
    quoted = ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in ids)
    return f"{ID_FIELD} in [{quoted}]"


def _check_texts(texts: object, n: int) -> list[str]:
    if texts is None:
        return [""] * n
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputTypeError(f"texts must be a list of str or None, got {type(texts).__name__}")
    if len(texts) != n:
        raise InvalidArgumentError(f"got {n} ids but {len(texts)} texts; give one text per id")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputTypeError(
                f"texts must be a list of str, got {type(text).__name__} at position {i}"
            )
    return list(texts)


def _check_metadata(metadata: object, n: int) -> list[dict[str, Any]]:
    if metadata is None:
        return [{} for _ in range(n)]
    if not isinstance(metadata, Sequence) or isinstance(metadata, (str, Mapping)):
        raise InputTypeError(
            f"metadata must be a list with one dict (or None) per id, got {type(metadata).__name__}"
        )
    if len(metadata) != n:
        raise InvalidArgumentError(f"got {n} ids but {len(metadata)} metadata entries")
    out: list[dict[str, Any]] = []
    for i, meta in enumerate(metadata):
        if meta is None:
            out.append({})
            continue
        if not isinstance(meta, Mapping):
            raise InputTypeError(
                f"metadata at position {i} must be a dict or None, got {type(meta).__name__}"
            )
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"metadata at position {i} is not JSON-serialisable: {exc}"
            ) from exc
        out.append(dict(meta))
    return out


def _fit_text(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= MAX_TEXT_BYTES:
        return text
    return data[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")


def _check_drop_ratio(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"drop_ratio_search must be a number in [0, 1), got {value!r}")
    ratio = float(value)
    if not 0.0 <= ratio < 1.0:
        raise InvalidArgumentError(f"drop_ratio_search must be in [0, 1), got {ratio}")
    return ratio


def _bad_weight(what: str, row: int, index: int, weight: float) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{what} row {row} has weight {weight!r} at index {index}; weights must be finite and "
        "non-negative (SPLADE weights are)"
    )


def _check_index_value(what: str, row: int, index: object) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise InputTypeError(f"{what} row {row}: indices must be ints, got {type(index).__name__}")
    value = int(index)
    if not 0 <= value < MAX_DIMENSION:
        raise InvalidArgumentError(
            f"{what} row {row}: index {value} is outside 0..{MAX_DIMENSION - 1}"
        )
    return value


def _row_from_pairs(pairs: Any, what: str, row: int) -> Row:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: Row = {}
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InputTypeError(
                f"{what} row {row}: expected (index, weight) pairs, got {type(item).__name__}"
            )
        index, weight = item
        col = _check_index_value(what, row, index)
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
            raise InputTypeError(
                f"{what} row {row}: weights must be numbers, got {type(weight).__name__}"
            )
        value = float(weight)
        if not math.isfinite(value) or not 0 <= value <= FLOAT32_MAX:
            raise _bad_weight(what, row, col, value)
        # Milvus stores float32: a weight that rounds to 0 there counts as absent.
        value = float(np.float32(value))
        if value > 0:
            out[col] = out.get(col, 0.0) + value
    return out


def _matrix_rows(matrix: csr_array, what: str, first_row: int = 0) -> list[Row]:
    matrix.sum_duplicates()
    data = matrix.data
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise InputTypeError(f"{what} must hold real numbers, got dtype {data.dtype}")
    bad = ~np.isfinite(data) | (data < 0) | (data > FLOAT32_MAX)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(matrix.indptr, pos, side="right")) - 1
        raise _bad_weight(what, first_row + row, int(matrix.indices[pos]), float(data[pos]))
    if matrix.shape[1] > MAX_DIMENSION:
        raise InvalidArgumentError(
            f"{what} have {matrix.shape[1]} columns; Milvus allows {MAX_DIMENSION}"
        )
    if matrix.dtype != np.float32:
        matrix = matrix.astype(np.float32)
    if (matrix.data == 0).any():
        matrix = matrix.copy()
        matrix.eliminate_zeros()
    return to_milvus_rows(matrix)


def _single_row(value: object, what: str, row: int) -> Row:
    if isinstance(value, Mapping):
        return _row_from_pairs(value, what, row)
    if issparse(value):
        sparse: Any = value
        if sparse.ndim == 1:
            coo = sparse.tocoo()
            matrix = csr_array(
                (coo.data, (np.zeros(coo.nnz, dtype=np.int64), coo.coords[0])),
                shape=(1, sparse.shape[0]),
            )
            return _matrix_rows(matrix, what, row)[0]
        if sparse.shape[0] != 1:
            raise InvalidArgumentError(
                f"{what} row {row} is a sparse matrix of shape {sparse.shape}; a row must be 1 x V"
            )
        return _matrix_rows(csr_array(sparse), what, row)[0]
    if isinstance(value, np.ndarray):
        if value.ndim == 1 or (value.ndim == 2 and value.shape[0] == 1):
            return _matrix_rows(csr_array(value.reshape(1, -1)), what, row)[0]
        raise InvalidArgumentError(
            f"{what} row {row} is an array of shape {value.shape}; a row must be 1-D"
        )
    if isinstance(value, (list, tuple)):
        return _row_from_pairs(value, what, row)
    raise InputTypeError(
        f"{what} row {row}: expected a dict {{index: weight}}, a scipy sparse row, a 1-D numpy "
        f"array or a list of (index, weight) pairs, got {type(value).__name__}"
    )


def vectors_to_rows(vectors: object, what: str = "vectors") -> list[Row]:
    """Validated ``{index: weight}`` rows (positive weights only) from any accepted form.

    Accepted: a 2-D scipy sparse matrix or numpy array (one row each), a single row (a dict, a
    1 x V or 1-D scipy row, a 1-D numpy array), or a list of rows in any of those forms or as
    lists of ``(index, weight)`` pairs. Weights must be finite and non-negative.
    """
    if issparse(vectors):
        sparse: Any = vectors
        if sparse.ndim == 1:
            return [_single_row(sparse, what, 0)]
        return _matrix_rows(csr_array(sparse), what)
    if isinstance(vectors, np.ndarray):
        if vectors.ndim == 1:
            return [_single_row(vectors, what, 0)]
        if vectors.ndim == 2:
            return _matrix_rows(csr_array(vectors), what)
        raise InvalidArgumentError(
            f"{what} must be 1-D or 2-D, got an array of shape {vectors.shape}"
        )
    if isinstance(vectors, Mapping):
        return [_single_row(vectors, what, 0)]
    if isinstance(vectors, (list, tuple)):
        return [_single_row(v, what, i) for i, v in enumerate(vectors)]
    raise InputTypeError(
        f"{what} must be a scipy sparse matrix (such as encode_documents/encode_queries return), "
        f"a dict row, or a list of rows; got {type(vectors).__name__}"
    )


__all__ = [
    "DEFAULT_COLLECTION",
    "DEFAULT_URI",
    "EMPTY_PLACEHOLDER_WEIGHT",
    "INDEX_ALGOS",
    "INDEX_TYPES",
    "Hit",
    "MilvusStore",
    "StoredDocument",
    "UpsertResult",
    "is_lite_uri",
    "vectors_to_rows",
]
