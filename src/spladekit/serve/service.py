"""The service behind the routes: the model, the collection and the batcher, and what each
request does with them, in the protocol's terms (parsed requests in, bodies or
:class:`~spladekit.serve.protocol.ApiError` out).

The model (and the collection) load in the background after the server starts listening, so
``/health`` can say 503 meanwhile. One thread owns the model: it loads it, runs the batcher's
encode calls and the encoding that ``/search`` and ``/documents`` need. torch's OpenMP thread
teams belong to the thread that starts them, and two threads running the model contend (measured
on splade-tiny, 2 cores: a single query took 4.1 ms on a second thread, 2.0 ms on one thread
alone). ``/search`` and ``/documents`` run their store operations on one store thread of their
own, so that the store sees one operation at a time and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .._version import __version__
from ..checkpoint.identity import ModelIdentity
from ..corpus import Record
from ..embedding_function import SpladeEmbeddingFunction
from ..encoder import SpladeEncoder
from ..encoding import Tokenized
from ..options import Progress
from ..profiles import PROMPT_NAMES, EncodingProfile, ProfileName, profile_for
from ..retrieval import Retriever
from ..store import Store, open_store
from ..tokenize import Truncation
from ..vectors import SparseVectors
from .batcher import Batcher, BatchResult
from .config import ServeConfig
from .metrics import ServiceMetrics
from .protocol import ApiError, DocumentsRequest, EmbedRequest, SearchRequest, api_error

State = Literal["loading", "ready", "failed", "stopping"]
T = TypeVar("T")

# Requests with more characters than this are tokenised off the event loop.
_INLINE_CHARS = 16384


@dataclass(frozen=True)
class _Loaded:
    function: SpladeEmbeddingFunction
    store: Store | None
    retriever: Retriever | None


class Service:
    """One model, an optional collection, and a batcher; created and used on one event loop."""

    def __init__(
        self,
        config: ServeConfig,
        metrics: ServiceMetrics,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.state: State = "loading"
        self.error: BaseException | None = None
        self._on_failure = on_failure
        self._loaded: _Loaded | None = None
        self._batcher: Batcher[Tokenized, EncodingProfile] | None = None
        self._profiles: dict[ProfileName, EncodingProfile] = {}
        self._vocabulary = b"[]"
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spladekit-model")
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spladekit-store")
        self._loader: asyncio.Task[None] | None = None

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start loading in the background; returns at once."""
        self._loader = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            function = await loop.run_in_executor(self._model_thread, self._build_function)
            loaded = await asyncio.to_thread(self._open_collection, function)
            if self.state == "stopping":  # shut down while loading
                await asyncio.to_thread(_close, loaded.store)
                return
            encoder = function.encoder
            self._profiles = function.profiles
            self._vocabulary = json.dumps(encoder.vocabulary).encode("utf-8")
            batcher: Batcher[Tokenized, EncodingProfile] = Batcher(
                _encode_with(encoder),
                encoder.dim,
                self._model_thread,
                max_batch_tokens=self.config.max_batch_tokens,
                max_texts=self.config.max_concurrent_requests,
                window=self.config.batch_window_ms / 1000,
                observer=self.metrics,
            )
            await batcher.start()
            self._loaded, self._batcher = loaded, batcher
            self.state = "ready"
        except Exception as exc:
            self.state, self.error = "failed", exc
            if self._on_failure is not None:
                self._on_failure(exc)

    def _build_function(self) -> SpladeEmbeddingFunction:
        """On the model thread: the model, warmed up."""
        cfg = self.config
        function = SpladeEmbeddingFunction(
            cfg.model,
            batch_size=cfg.encoder.batch_size,
            device=cfg.encoder.device,
            query_instruction=cfg.query_instruction,
            doc_instruction=cfg.doc_instruction,
            k_tokens_query=cfg.k_tokens_query,
            k_tokens_document=cfg.k_tokens_document,
            config=cfg.encoder,
        )
        # The first calls pay one-off allocations and lazy initialisation; pay them here
        # rather than in the first requests' latency.
        for _ in range(3):
            function.encode_queries(["warm up"])
        return function

    def _open_collection(self, function: SpladeEmbeddingFunction) -> _Loaded:
        """On a background thread: the collection (if any), checked against the model."""
        settings = self.config.store
        if settings is None:
            return _Loaded(function, None, None)
        # Opening reads the collection once and adopts the model; the retriever's adoption of
        # the same model then reads nothing.
        store = open_store(settings, model=function.model_identity)
        try:
            retriever = Retriever(
                _OnModelThread(function, self._model_thread), store,
                allow_other_model=settings.allow_other_model,
            )
        except BaseException:
            _close(store)
            raise
        return _Loaded(function, store, retriever)

    async def stop(self) -> None:
        """Finish what was accepted (queued encodes, store operations), then release all."""
        was_loading = self.state == "loading"
        self.state = "stopping"
        if was_loading and self._loader is not None:
            await self._loader  # a load cannot be interrupted; it closes what it opened
        if self._batcher is not None:
            await self._batcher.stop()
        # Store operations may still need the model thread; it goes last.
        await asyncio.to_thread(self._store_thread.shutdown, True)
        await asyncio.to_thread(self._model_thread.shutdown, True)
        if self._loaded is not None:
            await asyncio.to_thread(_close, self._loaded.store)

    def _ready(self) -> _Loaded:
        if self.state == "ready" and self._loaded is not None:
            return self._loaded
        if self.state == "loading":
            raise ApiError("Unhealthy", "the model is still loading; retry shortly")
        if self.state == "failed":
            raise ApiError("Unhealthy", f"the service failed to start: {self.error}")
        raise ApiError("Unhealthy", "the service is shutting down")

    def check_ready(self, *, collection: bool = False) -> None:
        """Raise the 503 answer unless the model is loaded and the service is not stopping
        (and, with ``collection``, the 404 answer when the service has no collection)."""
        if collection:
            self._retriever()
        else:
            self._ready()

    # -- requests ----------------------------------------------------------------------------

    async def embed(self, request: EmbedRequest) -> BatchResult:
        """Tokenise a request's texts once and encode the token ids through the batcher.

        Requests of one profile share encode calls whatever their truncation: it was applied
        when they were tokenised."""
        self._ready()
        assert self._batcher is not None  # set with _loaded
        truncation: Truncation = request.direction if request.truncate else "error"
        profile = self._profiles[profile_for(request.prompt_name)]
        try:
            with self._batcher.slot(len(request.texts)) as ticket:
                tokenized = await self._tokenize(request.texts, profile, truncation)
                return await self._batcher.submit(ticket, tokenized, tokenized.counts, profile)
        except Exception as exc:
            raise api_error(exc, "encoding failed: ")  # noqa: B904 (api_error sets the cause)

    async def _tokenize(
        self, texts: list[str], profile: EncodingProfile, truncation: Truncation
    ) -> Tokenized:
        encoder = self._ready().function.encoder

        def tokenize() -> Tokenized:
            return encoder.tokenize(texts, profile, truncation=truncation)

        if sum(len(t) for t in texts) <= _INLINE_CHARS:
            return tokenize()  # a few short texts: cheaper than a thread hop
        return await asyncio.to_thread(tokenize)

    async def search(self, request: SearchRequest) -> dict[str, Any]:
        """Encode the query, search the collection, and explain each hit."""
        retriever = self._retriever()
        explanation = await self._on_store(
            lambda: retriever.explain(
                request.query, request.k, terms=request.terms, options=request.options
            )
        )
        return {
            "query": explanation.query,
            "query_terms": _terms(explanation.query_terms),
            "hits": [
                {
                    "id": e.hit.id,
                    "score": e.hit.score,
                    "text": e.hit.text,
                    "metadata": e.hit.metadata,
                    "terms": _terms(e.terms),
                }
                for e in explanation.hits
            ],
        }

    async def documents(self, request: DocumentsRequest) -> dict[str, Any]:
        """Encode documents and store them by id, replacing any stored under the same ids."""
        retriever = self._retriever()
        records = [
            Record(i, t, m) for i, t, m in zip(
                request.ids, request.texts, request.metadata, strict=True
            )
        ]
        report = await self._on_store(lambda: retriever.index(records, skip_existing=False))
        return {
            "collection": self.config.collection,
            "stored": request.ids,
            "encoded": report.encoded,
            "empty": report.empty,
        }

    def _retriever(self) -> Retriever:
        loaded = self._ready()
        if loaded.retriever is None:
            raise ApiError(
                "NotFound",
                "this server has no collection: it encodes (/embed_sparse) but does not search "
                "or store; start it with a collection",
            )
        return loaded.retriever

    async def _on_store(self, work: Callable[[], T]) -> T:
        try:
            pending = asyncio.get_running_loop().run_in_executor(self._store_thread, work)
        except RuntimeError:  # the store thread is shut down
            raise ApiError("Unhealthy", "the service is shutting down") from None
        try:
            return await pending
        except Exception as exc:
            raise api_error(exc)  # noqa: B904 (api_error sets the cause)

    # -- descriptions ------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """TEI's ``/info`` fields, with spladekit's (``dim``, prompts, collection) beside them."""
        function = self._ready().function
        encoder = function.encoder
        profiles = function.profiles
        cfg = self.config
        return {
            "server": "spladekit",
            "version": __version__,
            "model_id": encoder.model_name,
            "model_sha": encoder.model_identity.fingerprint,
            "model_dtype": encoder.precision,
            "model_type": {"embedding": {"pooling": "splade"}},
            "dim": encoder.dim,
            "backend": encoder.backend_name,
            "precision": encoder.precision,
            "device": encoder.device,
            "max_input_length": encoder.model_max_length,
            "query_max_length": encoder.query_max_length,
            "document_max_length": encoder.document_max_length,
            "prompts": {
                name: {"instruction": profiles[name].instruction, "top_k": profiles[name].top_k}
                for name in PROMPT_NAMES
            },
            "max_concurrent_requests": cfg.max_concurrent_requests,
            "max_batch_tokens": cfg.max_batch_tokens,
            "max_client_batch_size": cfg.max_client_batch_size,
            "payload_limit": cfg.payload_limit,
            "auto_truncate": cfg.auto_truncate,
            "collection": cfg.collection,
            "search_modes": self._search_modes(),
            "auth": cfg.api_key is not None,
        }

    def _search_modes(self) -> list[str]:
        """The /search modes the collection serves (BM25 ones need its BM25 field)."""
        store = self._ready().store
        if store is None:
            return []
        return list(store.search_modes)

    def vocabulary(self) -> bytes:
        """The model's tokens by index, as a JSON list (for clients' ``decode``)."""
        self._ready()
        return self._vocabulary


class _OnModelThread:
    """The embedding function as the retriever sees it: encoding runs on the model thread
    (called from the store thread, which waits for it); decoding needs no model."""

    def __init__(self, function: SpladeEmbeddingFunction, thread: Executor) -> None:
        self._function = function
        self._thread = thread

    def encode_documents(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> SparseVectors:
        return self._thread.submit(
            self._function.encode_documents, texts, progress=progress
        ).result()

    def encode_queries(
        self, texts: Sequence[str], *, progress: Progress | None = None
    ) -> SparseVectors:
        return self._thread.submit(self._function.encode_queries, texts, progress=progress).result()

    def decode(self, vectors: object, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        return self._function.decode(vectors, top_k)

    @property
    def model_identity(self) -> ModelIdentity:
        return self._function.model_identity


def _encode_with(
    encoder: SpladeEncoder,
) -> Callable[[list[tuple[Tokenized, int, int]], EncodingProfile], SparseVectors]:
    """The batcher's encode call: the pieces' token ids joined, encoded in one pass."""

    def encode(pieces: list[tuple[Tokenized, int, int]], _: EncodingProfile) -> SparseVectors:
        joined = Tokenized.join([work.slice(lo, hi) for work, lo, hi in pieces])
        return encoder.encode_tokenized(joined).vectors

    return encode


def _terms(pairs: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"token": token, "weight": weight} for token, weight in pairs]


def _close(store: Store | None) -> None:
    if store is not None:
        store.close()


__all__ = ["Service"]
