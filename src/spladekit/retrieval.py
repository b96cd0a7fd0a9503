"""Where encoder and store meet: index a corpus, search by text.

:class:`Retriever` holds a SPLADE encoder (:class:`~spladekit.SpladeEncoder` or
:class:`~spladekit.SpladeEmbeddingFunction`) and a :class:`~spladekit.milvus.MilvusStore`.
Indexing is resumable and idempotent: ids already stored are skipped before encoding, and
every batch is written by id (upsert), so a run killed at any point and started again ends with
every document exactly once and encodes only what was missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from scipy.sparse import csr_array

from .corpus import Record
from .errors import InputTypeError, InvalidArgumentError
from .milvus import Hit, MilvusStore

Progress = Callable[[int], None]

DEFAULT_INDEX_BATCH = 256


class DocumentEncoder(Protocol):
    """What the retriever needs from an encoder; SpladeEncoder and SpladeEmbeddingFunction fit."""

    def encode_documents(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> csr_array: ...

    def encode_queries(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> csr_array: ...


@dataclass(frozen=True)
class IndexReport:
    """What :meth:`Retriever.index` did.

    ``seen``: records read; ``encoded``: encoded and written; ``skipped``: already stored (or
    repeated in the input: the first occurrence wins); ``empty``: written with an empty vector
    (see :mod:`spladekit.milvus`); ``seconds``: wall time.
    """

    seen: int
    encoded: int
    skipped: int
    empty: int
    seconds: float

    @property
    def documents_per_second(self) -> float:
        """Encoded documents per second of wall time (0 when nothing was encoded)."""
        return self.encoded / self.seconds if self.encoded and self.seconds > 0 else 0.0


RecordLike = Record | tuple[str, str] | tuple[str, str, Mapping[str, Any] | None]


def _as_record(item: object, position: int) -> Record:
    if isinstance(item, Record):
        return item
    if isinstance(item, tuple) and len(item) in (2, 3):
        doc_id, text = item[0], item[1]
        meta = item[2] if len(item) == 3 else None
        if not isinstance(doc_id, str) or not isinstance(text, str):
            raise InputTypeError(
                f"record {position}: expected (id: str, text: str[, metadata: dict]), got "
                f"({type(doc_id).__name__}, {type(text).__name__}, ...)"
            )
        if meta is not None and not isinstance(meta, Mapping):
            raise InputTypeError(
                f"record {position}: metadata must be a dict or None, got {type(meta).__name__}"
            )
        return Record(doc_id, text, dict(meta or {}))
    raise InputTypeError(
        f"record {position}: expected a spladekit Record or an (id, text[, metadata]) tuple, got "
        f"{type(item).__name__}"
    )


def _batches(items: Iterable[object], size: int) -> Iterator[list[Record]]:
    iterator = iter(items)
    position = 0
    while True:
        raw = list(islice(iterator, size))
        if not raw:
            return
        yield [_as_record(item, position + i) for i, item in enumerate(raw)]
        position += len(raw)


class Retriever:
    """Index texts and search them by text with a SPLADE encoder and a Milvus store."""

    def __init__(self, encoder: DocumentEncoder, store: MilvusStore) -> None:
        for method in ("encode_documents", "encode_queries"):
            if not callable(getattr(encoder, method, None)):
                raise InputTypeError(
                    f"encoder must have {method}() (a SpladeEncoder or SpladeEmbeddingFunction), "
                    f"got {type(encoder).__name__}"
                )
        if not isinstance(store, MilvusStore):
            raise InputTypeError(f"store must be a MilvusStore, got {type(store).__name__}")
        self.encoder = encoder
        self.store = store

    def index(
        self,
        records: Iterable[RecordLike],
        *,
        batch_size: int = DEFAULT_INDEX_BATCH,
        skip_existing: bool = True,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Encode and store records (``Record`` or ``(id, text[, metadata])``), in batches.

        With ``skip_existing`` (the default) ids already in the collection are neither encoded
        nor written, so a run that was interrupted can simply be started again; with
        ``skip_existing=False`` every record is encoded and replaces the stored one. Each batch
        is durable once written. ``progress`` is called with the number of records just done
        (skipped or encoded). An id repeated in the input is stored once (with ``skip_existing``,
        its first occurrence). The store is flushed at the end (faster searches on Milvus Lite).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(records, (str, bytes)):
            raise InputTypeError("records must be an iterable of records, got a str")
        started = time.perf_counter()
        seen = encoded = skipped = empty = 0
        for batch in _batches(records, batch_size):
            seen += len(batch)
            todo: list[Record] = []
            batch_ids: set[str] = set()
            for record in batch:
                # An id repeated within a batch: the first occurrence wins, as it does against
                # ids stored by an earlier batch when skip_existing is on.
                if record.id in batch_ids:
                    continue
                batch_ids.add(record.id)
                todo.append(record)
            if skip_existing and todo:
                stored = self.store.existing_ids([r.id for r in todo])
                todo = [r for r in todo if r.id not in stored]
            skipped += len(batch) - len(todo)
            if progress is not None and len(batch) > len(todo):
                progress(len(batch) - len(todo))
            if not todo:
                continue
            vectors = self.encoder.encode_documents([r.text for r in todo], progress=progress)
            result = self.store.upsert(
                [r.id for r in todo], vectors, [r.text for r in todo], [r.metadata for r in todo]
            )
            encoded += len(todo)
            empty += len(result.empty_ids)
        if encoded:
            self.store.flush()
        return IndexReport(seen, encoded, skipped, empty, time.perf_counter() - started)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        drop_ratio_search: float = 0.0,
        filter: str | None = None,
        with_text: bool = True,
        with_metadata: bool = True,
    ) -> list[Hit]:
        """The ``k`` best documents for one query, best first."""
        if not isinstance(query, str):
            raise InputTypeError(
                f"query must be a str, got {type(query).__name__}; use search_many for several"
            )
        return self.search_many(
            [query], k, drop_ratio_search=drop_ratio_search, filter=filter,
            with_text=with_text, with_metadata=with_metadata,
        )[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        drop_ratio_search: float = 0.0,
        filter: str | None = None,
        with_text: bool = True,
        with_metadata: bool = True,
    ) -> list[list[Hit]]:
        """The ``k`` best documents for each query: one encode call and one Milvus search call
        (per 1024 queries), which matters on Milvus Lite, where each call has a fixed cost."""
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InputTypeError(f"queries must be a list of str, got {type(queries).__name__}")
        for i, query in enumerate(queries):
            if not isinstance(query, str):
                raise InputTypeError(
                    f"queries must be a list of str, got {type(query).__name__} at position {i}"
                )
        if not queries:
            return []
        vectors = self.encoder.encode_queries(list(queries))
        return self.store.search(
            vectors, k, drop_ratio_search=drop_ratio_search, filter=filter,
            with_text=with_text, with_metadata=with_metadata,
        )


__all__ = ["DocumentEncoder", "IndexReport", "Retriever"]
