"""Where encoder and store meet: index a corpus, search by text.

:class:`Retriever` holds a SPLADE encoder (:class:`~spladekit.SpladeEncoder`,
:class:`~spladekit.SpladeEmbeddingFunction`, or anything with ``encode_documents`` and
``encode_queries``) and a :class:`~spladekit.store.Store`. Indexing is resumable and idempotent:
ids already stored are skipped before encoding, and every chunk is written by id (upsert), so a
run killed at any point and started again ends with every document exactly once and encodes
only what was missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol

from scipy.sparse import csr_array

from .checkpoint.identity import ModelIdentity
from .corpus import Record
from .errors import InputTypeError
from .options import Progress
from .store import Hit, SearchOptions, Store
from .validation import check_unicode, positive_int, query_list
from .vectors import contributions, rows_to_csr, to_milvus_rows

DEFAULT_CHUNK_SIZE = 256


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
    (the placeholder rule: :func:`spladekit.store.schema.stored_vector`); ``seconds``: wall
    time.
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


@dataclass(frozen=True)
class ExplainedHit:
    """A hit and the tokens it shares with the query, with their share of its score (query
    weight x document weight), largest first."""

    hit: Hit
    terms: list[tuple[str, float]]


@dataclass(frozen=True)
class Explanation:
    """A search with its reasons: the query's heaviest terms (SPLADE's expansion included) and,
    for each hit, the tokens that contribute most to its score."""

    query: str
    query_terms: list[tuple[str, float]]
    hits: list[ExplainedHit]


RecordLike = Record | tuple[str, str] | tuple[str, str, Mapping[str, Any] | None]


def as_record(item: object, position: int) -> Record:
    """A :class:`Record` from a Record or an ``(id, text[, metadata])`` tuple, checked."""
    if isinstance(item, Record):
        record = item
    elif isinstance(item, tuple) and len(item) in (2, 3):
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
        record = Record(doc_id, text, dict(meta or {}))
    else:
        raise InputTypeError(
            f"record {position}: expected a spladekit Record or an (id, text[, metadata]) "
            f"tuple, got {type(item).__name__}"
        )
    check_unicode(f"record {position} id", record.id)
    check_unicode(f"record {position} (id {record.id!r}) text", record.text)
    return record


def _chunks(items: Iterable[object], size: int) -> Iterator[list[Record]]:
    iterator = iter(items)
    position = 0
    while True:
        raw = list(islice(iterator, size))
        if not raw:
            return
        yield [as_record(item, position + i) for i, item in enumerate(raw)]
        position += len(raw)


def model_identity_of(encoder: object) -> ModelIdentity | None:
    """The encoder's model identity, when it has one (spladekit's encoders do)."""
    identity = getattr(encoder, "model_identity", None)
    return identity if isinstance(identity, ModelIdentity) else None


class Retriever:
    """Index texts and search them by text with a SPLADE encoder and a store.

    The store records the encoder's model and refuses another one (vectors of two models do
    not mix); ``allow_other_model=True`` mixes them anyway.
    """

    def __init__(
        self, encoder: DocumentEncoder, store: Store, *, allow_other_model: bool = False
    ) -> None:
        for method in ("encode_documents", "encode_queries"):
            if not callable(getattr(encoder, method, None)):
                raise InputTypeError(
                    f"encoder must have {method}() (a SpladeEncoder or SpladeEmbeddingFunction), "
                    f"got {type(encoder).__name__}"
                )
        if not isinstance(store, Store):
            raise InputTypeError(
                f"store must follow the spladekit Store protocol (MilvusStore, MemoryStore), got "
                f"{type(store).__name__}"
            )
        self.encoder = encoder
        self.store = store
        identity = model_identity_of(encoder)
        if identity is not None:
            store.adopt_model(identity, allow_other_model=allow_other_model)

    def index(
        self,
        records: Iterable[RecordLike],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        skip_existing: bool = True,
        progress: Progress | None = None,
    ) -> IndexReport:
        """Encode and store records (``Record`` or ``(id, text[, metadata])``), chunk by chunk.

        With ``skip_existing`` (the default) ids already in the collection are neither encoded
        nor written, so a run that was interrupted can simply be started again; with
        ``skip_existing=False`` every record is encoded and replaces the stored one. Each chunk
        of ``chunk_size`` records is durable once written. ``progress`` is called with the
        number of records just done (skipped or encoded). An id repeated in the input is stored
        once (with ``skip_existing``, its first occurrence). The store is flushed at the end.
        """
        chunk_size = positive_int("chunk_size", chunk_size)
        if isinstance(records, (str, bytes)):
            raise InputTypeError("records must be an iterable of records, got a str")
        started = time.perf_counter()
        seen = encoded = skipped = empty = 0
        for chunk in _chunks(records, chunk_size):
            seen += len(chunk)
            todo: list[Record] = []
            chunk_ids: set[str] = set()
            for record in chunk:
                # An id repeated within a chunk: the first occurrence wins, as it does against
                # ids stored by an earlier chunk when skip_existing is on.
                if record.id in chunk_ids:
                    continue
                chunk_ids.add(record.id)
                todo.append(record)
            if skip_existing and todo:
                stored = self.store.existing_ids([r.id for r in todo])
                todo = [r for r in todo if r.id not in stored]
            skipped += len(chunk) - len(todo)
            if progress is not None and len(chunk) > len(todo):
                progress(len(chunk) - len(todo))
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
        self, query: str, k: int = 10, *, options: SearchOptions | None = None, **changes: Any
    ) -> list[Hit]:
        """The ``k`` best documents for one query, best first (options as for the store)."""
        if not isinstance(query, str):
            raise InputTypeError(
                f"query must be a str, got {type(query).__name__}; use search_many for several"
            )
        return self.search_many([query], k, options=options, **changes)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        options: SearchOptions | None = None,
        **changes: Any,
    ) -> list[list[Hit]]:
        """The ``k`` best documents for each query: one encode call and one store search call
        (per 1024 queries), which matters on Milvus Lite, where each call has a fixed cost.
        A blank query is refused: it has no words to match."""
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InputTypeError(f"queries must be a list of str, got {type(queries).__name__}")
        # Checked once here; the encoder and the store take the checked list as it is.
        texts = query_list(queries, lambda i: f"query {i}" if len(queries) > 1 else "query")
        opts = SearchOptions.build(options, changes)
        if not texts:
            return []
        # BM25 alone needs no SPLADE vectors: Milvus analyses the words itself.
        vectors = None if opts.mode == "bm25" else self.encoder.encode_queries(texts)
        return self.store.search(vectors, k, texts=texts, options=opts)

    def explain(
        self,
        query: str,
        k: int = 10,
        *,
        terms: int = 10,
        options: SearchOptions | None = None,
        **changes: Any,
    ) -> Explanation:
        """:meth:`search` for one query, with why each hit matched (``terms`` tokens each).

        The reasons are SPLADE's (query weight x document weight per shared token) in every
        mode; a hit found by BM25 alone may share none. Needs an encoder with ``decode``
        (spladekit's have it) to turn indices into tokens.
        """
        decode = getattr(self.encoder, "decode", None)
        if not callable(decode):
            raise InputTypeError(
                f"explain needs an encoder with decode(), got {type(self.encoder).__name__}"
            )
        terms = positive_int("terms", terms)
        texts = query_list([query], lambda _: "query")
        text = texts[0]
        opts = SearchOptions.build(options, changes)
        vector = self.encoder.encode_queries(texts)
        hits = self.store.search(vector, k, texts=texts, options=opts)[0]
        [query_row] = to_milvus_rows(vector)
        stored = self.store.get_vectors([h.id for h in hits])
        shares = [contributions(query_row, stored.get(h.id, {})) for h in hits]
        matched = decode(rows_to_csr(shares), terms) if hits else []
        return Explanation(
            text,
            decode(vector, terms)[0],
            [ExplainedHit(h, m) for h, m in zip(hits, matched, strict=True)],
        )


__all__ = [
    "DocumentEncoder",
    "ExplainedHit",
    "Explanation",
    "IndexReport",
    "Retriever",
    "as_record",
    "model_identity_of",
]
