"""MemoryStore: the exact store, in memory, for tests, benchmarks and evaluation.

Scores are exact inner products (scipy), ties keep insertion order; nothing is persisted.
Queries are scored in chunks, and each keeps only its top k (:func:`spladekit.store.fusion.top_k`):
a search holds the sparse scores of one chunk at a time, never a dense queries x documents
matrix. It follows the :class:`~spladekit.store.protocol.Store` protocol as Milvus does, empty
vectors and the model rule (:mod:`spladekit.store.model_record`) included, except that it
evaluates no Milvus filter expressions and is exact by definition (``drop_ratio_search`` must
be 0).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_array

from ..errors import InvalidArgumentError
from ..vectors import Row, rows_to_csr, to_milvus_rows
from . import fusion
from .input_checks import check_ids, check_k, check_upsert
from .model_record import adoption
from .protocol import Hit, ModelIdentity, SearchMode, SearchOptions, StoredDocument, UpsertResult

# Queries x documents scored per chunk, at most (a chunk has one query at least).
SCORE_CHUNK_CELLS = 1 << 22
_WHERE = "this in-memory collection"


@dataclass(frozen=True)
class _Entry:
    row: Row
    text: str
    metadata: dict[str, Any]


class MemoryStore:
    """An exact in-memory collection; safe to share between threads."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._model: ModelIdentity | None = None
        self._lock = threading.Lock()
        # The ids and the (dimensions x documents) matrix, built on the first search after a write.
        self._matrix: tuple[list[str], csr_array] | None = None

    def upsert(
        self,
        ids: Sequence[str],
        vectors: object,
        texts: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> UpsertResult:
        """Store documents, replacing any stored under the same ids (see the Store protocol)."""
        documents = check_upsert(ids, vectors, texts, metadata)
        with self._lock:
            for doc in documents:
                self._entries.pop(doc.id, None)  # a replaced document moves to the end
                self._entries[doc.id] = _Entry(doc.row, doc.text, doc.metadata)
            self._matrix = None
        return UpsertResult(len(documents), [doc.id for doc in documents if not doc.row])

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {i for i in check_ids(ids, unique=False) if i in self._entries}

    def get(self, ids: Sequence[str]) -> list[StoredDocument]:
        with self._lock:
            return [
                StoredDocument(i, e.text, dict(e.metadata), not e.row)
                for i in check_ids(ids, unique=False)
                if (e := self._entries.get(i)) is not None
            ]

    def get_vectors(self, ids: Sequence[str]) -> dict[str, Row]:
        """The stored vectors of these ids ({} for an empty document); missing ids left out."""
        with self._lock:
            return {
                i: dict(e.row)
                for i in check_ids(ids, unique=False)
                if (e := self._entries.get(i)) is not None
            }

    def count(self) -> int:
        with self._lock:
            return len(self._entries)

    def delete(self, ids: Sequence[str]) -> None:
        with self._lock:
            for doc_id in check_ids(ids, unique=False):
                self._entries.pop(doc_id, None)
            self._matrix = None

    def search(
        self,
        vectors: object,
        k: int = 10,
        *,
        texts: Sequence[str] | None = None,
        options: SearchOptions | None = None,
        **changes: Any,
    ) -> list[list[Hit]]:
        """The ``k`` best documents by exact inner product per query row, best first.

        Only documents with a positive score are returned, as Milvus does. ``texts`` are
        accepted for the protocol's sake; this store searches SPLADE vectors only.
        """
        k = check_k(k)
        opts = SearchOptions.build(options, changes)
        if opts.mode != "splade":
            raise InvalidArgumentError(
                f"the in-memory store has no BM25, so it cannot search in mode {opts.mode!r}; "
                "use a MilvusStore created with bm25=True"
            )
        if opts.filter is not None:
            raise InvalidArgumentError(
                "the in-memory store does not evaluate Milvus filter expressions; use a "
                "MilvusStore (a Lite file or a server) to filter"
            )
        if opts.drop_ratio_search > 0:
            raise InvalidArgumentError(
                "the in-memory store is exact: drop_ratio_search must be 0 "
                f"(got {opts.drop_ratio_search})"
            )
        rows = to_milvus_rows(vectors, "query vectors")
        with self._lock:
            ids, columns = self._documents()
            entries = dict(self._entries)
        if not rows:
            return []
        width = max(columns.shape[0], 1 + max((max(r) for r in rows if r), default=0))
        queries = rows_to_csr(rows, width)
        if columns.shape[0] < width:  # dimensions no document has: rows of zeros
            extra = np.full(width - columns.shape[0], columns.indptr[-1])
            columns = csr_array(
                (columns.data, columns.indices, np.concatenate([columns.indptr, extra])),
                shape=(width, columns.shape[1]),
            )
        step = max(1, SCORE_CHUNK_CELLS // max(1, len(ids)))
        out: list[list[Hit]] = []
        for start in range(0, len(rows), step):
            # Sparse scores: only the documents sharing a term with a query are held.
            scores = csr_array(queries[start : start + step] @ columns)
            scores.sort_indices()  # each row's documents in insertion order, for ties
            for q in range(scores.shape[0]):
                lo, hi = scores.indptr[q], scores.indptr[q + 1]
                found, values = scores.indices[lo:hi], scores.data[lo:hi]
                hits = []
                for best in fusion.top_k(values, k):
                    doc_id = ids[found[best]]
                    entry = entries[doc_id]
                    hits.append(fusion.hit(
                        doc_id, values[best], entry.text if opts.with_text else None,
                        entry.metadata if opts.with_metadata else None,
                    ))
                out.append(hits)
        return out

    def adopt_model(self, model: ModelIdentity, *, allow_other_model: bool = False) -> None:
        """Take ``model``'s vectors by the rule of :mod:`spladekit.store.model_record`, as
        every store does: record it on first use, refuse another model unless
        ``allow_other_model`` (the record stays)."""
        with self._lock:
            if adoption(self._model, model, allow_other_model=allow_other_model,
                        where=_WHERE) != "keep":
                self._model = model

    def check_model(self, model: ModelIdentity, *, allow_other: bool = False) -> None:
        """Refuse another model than the one recorded, unless ``allow_other``. Reads only."""
        with self._lock:
            recorded = self._model
        adoption(recorded, model, allow_other_model=allow_other, where=_WHERE)

    def record_model(self, model: ModelIdentity) -> None:
        """Record the model on first use, as :meth:`adopt_model` does; a recorded model stays."""
        self.adopt_model(model, allow_other_model=True)

    @property
    def search_modes(self) -> tuple[SearchMode, ...]:
        """``splade`` only: a memory store has no BM25 index."""
        return ("splade",)

    def flush(self) -> None:
        """Nothing to do: writes are visible at once."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _documents(self) -> tuple[list[str], csr_array]:
        # Called with the lock held; the matrix is rebuilt after writes only.
        if self._matrix is None:
            ids = list(self._entries)
            width = 1 + max((max(e.row) for e in self._entries.values() if e.row), default=0)
            docs = rows_to_csr([self._entries[i].row for i in ids], width)
            self._matrix = (ids, csr_array(docs.T.tocsr()))
        return self._matrix


__all__ = ["MemoryStore"]
