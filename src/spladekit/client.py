"""SpladeClient: the :class:`~spladekit.SpladeEmbeddingFunction` interface, encoding remotely.

Switching an application from in-process to remote encoding is one line::

    ef = SpladeEmbeddingFunction("naver/splade-cocondenser-ensembledistil")   # in-process
    ef = SpladeClient("http://127.0.0.1:8000", api_key=key)                    # a service

``encode_documents``, ``encode_queries``, ``__call__``, ``dim`` and ``decode`` behave as the
embedding function's, with the same result type (:class:`~spladekit.SparseVectors`), and a
:class:`~spladekit.Retriever` takes the client as its encoder. The server is spladekit's
(``spladekit serve``) or Hugging Face text-embeddings-inference (TEI), both speaking
``POST /embed_sparse``. Against TEI three things differ, because TEI does not publish them:

- ``dim`` and ``decode`` need ``dim=`` or ``vocabulary=`` (the model's tokens by index);
- queries and documents are encoded alike: no ``prompt_name`` is sent, since TEI refuses one
  the model's sentence-transformers configuration lacks (``prompts=True`` sends it anyway);
- no model identity, so a store cannot check which model made the vectors.

Needs ``httpx``: ``pip install "spladekit[serve]"``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from .checkpoint.identity import ModelIdentity
from .errors import (
    InvalidArgumentError,
    MalformedVectorsError,
    MissingDependencyError,
    ServiceError,
)
from .options import Progress
from .profiles import ProfileName, prompt_name_of
from .validation import optional_positive_int, positive_int, string, text_list
from .vectors import RowArrays, SparseVectors, decode_rows, stack_arrays, tei_json_arrays

try:
    import httpx
except ImportError as _exc:  # pragma: no cover - depends on the installation
    raise MissingDependencyError(
        f'SpladeClient needs httpx: pip install "spladekit[serve]" ({_exc})'
    ) from _exc

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 30.0
# The largest answer read: 512 texts of 2,000 non-zeros each in TEI's JSON are ~36 MiB.
DEFAULT_MAX_ANSWER_BYTES = 64 << 20
_CHUNK = 1 << 16
# Connecting to a live server takes milliseconds; waiting longer only delays the error.
_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Server:
    """What the client learnt from ``/info`` (and ``/vocabulary``), once."""

    spladekit: bool
    dim: int | None
    batch_size: int
    model: ModelIdentity | None


class SpladeClient:
    """A SPLADE service as an embedding function: ``encode_documents``, ``encode_queries``,
    ``__call__``, ``dim``, ``decode``, returning :class:`~spladekit.SparseVectors`.

    - ``url``: the service, ``http://host:port``; ``api_key``: sent as a Bearer token;
    - ``timeout``: seconds each HTTP request may take, whole answer included: a server that
      sends its answer slowly fails the call at the deadline (connecting: at most 5);
    - ``max_answer_bytes``: the largest answer read (default 64 MiB); a larger or endless one
      fails the call without being held in memory;
    - ``truncate``: sent with every request (None: the server's default);
    - ``dim`` / ``vocabulary``: for a TEI server, which publishes neither;
    - ``prompts``: send ``prompt_name`` ``query``/``document`` (default: to spladekit servers);
    - ``batch_size``: texts per request (default: the server's ``max_client_batch_size``).

    The client holds a connection pool (close it with :meth:`close` or ``with``) and is safe to
    share between threads. Nothing is sent until it is first used.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        truncate: bool | None = None,
        dim: int | None = None,
        vocabulary: Sequence[str] | None = None,
        prompts: bool | None = None,
        batch_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = string("url", url).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise InvalidArgumentError(
                f"url must start with http:// or https://, got {url!r}"
            )
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            math.isfinite(timeout) and timeout > 0
        ):
            raise InvalidArgumentError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        for name, value in (("truncate", truncate), ("prompts", prompts)):
            if value is not None and not isinstance(value, bool):
                raise InvalidArgumentError(f"{name} must be True, False or None, got {value!r}")
        self.url = url
        self._dim = optional_positive_int("dim", dim)
        self._vocabulary = None if vocabulary is None else text_list(vocabulary, "vocabulary")
        if self._dim is not None and self._vocabulary is not None and (
            len(self._vocabulary) != self._dim
        ):
            raise InvalidArgumentError(
                f"dim is {self._dim} but the vocabulary has {len(self._vocabulary)} tokens"
            )
        self._truncate = truncate
        self._prompts = prompts
        self._batch_size = optional_positive_int("batch_size", batch_size)
        headers = {"Accept": "application/json"}
        if api_key is not None:
            headers["Authorization"] = f"Bearer {string('api_key', api_key)}"
        self._http = httpx.Client(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, _CONNECT_TIMEOUT)),
            transport=transport,
        )
        self._timeout = float(timeout)
        self._max_answer_bytes = positive_int("max_answer_bytes", max_answer_bytes)
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._remote_vocabulary: list[str] | None = None

    # -- the embedding function interface ---------------------------------------------------

    def __call__(self, texts: Sequence[str]) -> SparseVectors:
        """Encode with neither instruction nor top-k (``SpladeEmbeddingFunction.__call__``)."""
        return self._encode(text_list(texts), "plain", None)

    def encode_documents(
        self, documents: Sequence[str], *, progress: Progress | None = None
    ) -> SparseVectors:
        """Encode documents with the server's document settings (``prompt_name`` document)."""
        return self._encode(text_list(documents, "documents"), "document", progress)

    def encode_queries(
        self, queries: Sequence[str], *, progress: Progress | None = None
    ) -> SparseVectors:
        """Encode queries with the server's query settings (``prompt_name`` query)."""
        return self._encode(text_list(queries, "queries"), "query", progress)

    @property
    def dim(self) -> int:
        """The width of every vector (the model's vocabulary size)."""
        server = self._info()
        if server.dim is not None:
            return server.dim
        raise ServiceError(
            f"the service at {self.url} does not publish its vocabulary size (a plain TEI "
            "server); create the client with dim= (30522 for BERT uncased models) or "
            "vocabulary="
        )

    def decode(self, vectors: object, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        """(token, weight) pairs per row, heaviest first."""
        return decode_rows(vectors, self._tokens(), top_k)

    @property
    def model_identity(self) -> ModelIdentity | None:
        """The served model's name and fingerprint (spladekit servers; None for TEI)."""
        return self._info().model

    def info(self) -> dict[str, Any]:
        """The server's ``/info``, as it sends it."""
        info = self._get_json("/info")
        if not isinstance(info, dict):
            raise self._unexpected("/info", "a JSON object", info)
        return info

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> SpladeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _info(self) -> _Server:
        with self._lock:
            if self._server is None:
                self._server = self._describe(self.info())
            return self._server

    def _describe(self, info: dict[str, Any]) -> _Server:
        spladekit = info.get("server") == "spladekit"
        dim = info.get("dim") if spladekit else None
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise self._unexpected("/info", "a positive dim", dim)
        if self._dim is not None and dim is not None and dim != self._dim:
            raise InvalidArgumentError(
                f"dim={self._dim} was given but the service's model has dim {dim}"
            )
        if dim is None:
            dim = self._dim or (len(self._vocabulary) if self._vocabulary is not None else None)
        batch = info.get("max_client_batch_size")
        batch_size = self._batch_size or (
            batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else 32
        )
        model = None
        if spladekit and isinstance(info.get("model_id"), str) and isinstance(
            info.get("model_sha"), str
        ):
            model = ModelIdentity(info["model_id"], info["model_sha"])
        return _Server(spladekit, dim, batch_size, model)

    def _tokens(self) -> list[str]:
        if self._vocabulary is not None:
            return self._vocabulary
        server = self._info()
        if not server.spladekit:
            raise ServiceError(
                f"the service at {self.url} does not publish its vocabulary (a plain TEI "
                "server); create the client with vocabulary= (the model's tokens by index, "
                "for example the lines of its vocab.txt)"
            )
        with self._lock:
            if self._remote_vocabulary is None:
                tokens = self._get_json("/vocabulary")
                if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                    raise self._unexpected("/vocabulary", "a list of tokens", tokens)
                self._remote_vocabulary = tokens
            return self._remote_vocabulary

    def _encode(
        self, texts: list[str], profile: ProfileName, progress: Progress | None
    ) -> SparseVectors:
        server = self._info()
        dim = self.dim
        send_prompt = self._prompts if self._prompts is not None else server.spladekit
        prompt = prompt_name_of(profile)
        rows: list[RowArrays] = []
        for start in range(0, len(texts), server.batch_size):
            chunk = texts[start : start + server.batch_size]
            body: dict[str, Any] = {"inputs": chunk}
            if self._truncate is not None:
                body["truncate"] = self._truncate
            if prompt is not None and send_prompt:
                body["prompt_name"] = prompt
            answer = self._post_json("/embed_sparse", body)
            rows.extend(self._rows(answer, len(chunk), dim))
            if progress is not None:
                progress(len(chunk))
        return stack_arrays(rows, dim)

    def _rows(self, answer: object, n: int, dim: int) -> list[RowArrays]:
        if not isinstance(answer, list) or len(answer) != n:
            raise self._unexpected("/embed_sparse", f"a list of {n} vectors", answer)
        try:
            return tei_json_arrays(answer, dim)
        except MalformedVectorsError as exc:
            if exc.index is not None:
                raise ServiceError(
                    f"the service at {self.url} sent index {exc.index} for vectors of dim "
                    f"{dim}; is dim= the served model's?"
                ) from None
            raise self._unexpected("/embed_sparse", exc.expected, exc.got) from None

    def _get_json(self, path: str) -> Any:
        return self._send("GET", path, None)

    def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """One request, bounded in time (``timeout``, the whole answer included) and in size
        (``max_answer_bytes``); the answer's JSON."""
        deadline = time.monotonic() + self._timeout
        outcome: Future[tuple[int, bytes]] = Future()

        def fetch() -> None:
            try:
                outcome.set_result(self._fetch(method, path, body, deadline))
            except BaseException as exc:  # handed to the caller
                outcome.set_exception(exc)

        # The read runs on its own thread so that the caller's wait ends at the deadline even
        # while a read is blocked; the thread stops at its next chunk (or its read timeout).
        threading.Thread(target=fetch, name="spladekit-client", daemon=True).start()
        try:
            status, content = outcome.result(timeout=max(0.0, deadline - time.monotonic()))
        except (FutureTimeout, httpx.TimeoutException, _Late):
            raise ServiceError(
                f"the SPLADE service at {self.url} did not answer {method} {path} within "
                f"{self._timeout:g} s; it may be overloaded, or give a longer timeout"
            ) from None
        except httpx.TransportError as exc:
            raise ServiceError(
                f"cannot reach the SPLADE service at {self.url} ({type(exc).__name__}: {exc}); "
                "check that it is running and the address"
            ) from None
        if status >= 400:
            raise ServiceError(self._error_message(method, path, status, content))
        try:
            return json.loads(content)
        except ValueError:
            raise self._unexpected(
                path, "JSON", content[:200].decode("utf-8", errors="replace")
            ) from None

    def _fetch(
        self, method: str, path: str, body: dict[str, Any] | None, deadline: float
    ) -> tuple[int, bytes]:
        """(status, body) read chunk by chunk, refused past the size limit or the deadline."""
        with self._http.stream(method, path, json=body) as response:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_answer_bytes:
                raise self._too_large(method, path, f"it declares {int(declared)} bytes")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes(_CHUNK):
                size += len(chunk)
                if size > self._max_answer_bytes:
                    raise self._too_large(method, path, "it went on past that")
                if time.monotonic() > deadline:
                    raise _Late
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    def _too_large(self, method: str, path: str, why: str) -> ServiceError:
        return ServiceError(
            f"the answer of the SPLADE service at {self.url} to {method} {path} is larger than "
            f"max_answer_bytes ({self._max_answer_bytes} bytes): {why}; send fewer texts per "
            "request (batch_size=) or raise max_answer_bytes"
        )

    def _error_message(self, method: str, path: str, status: int, content: bytes) -> str:
        detail = content[:500].decode("utf-8", errors="replace")
        try:
            data = json.loads(content)
            if isinstance(data, dict) and "error" in data:
                detail = f"{data.get('error_type', 'error')}: {data['error']}"
        except ValueError:
            pass
        hint = {
            401: "; give the right api_key",
            413: "; send fewer or shorter texts per request (batch_size=)",
            429: "; the service is overloaded, retry shortly",
            503: "; the service is loading or stopping, retry shortly",
        }.get(status, "")
        return (
            f"the SPLADE service at {self.url} answered {method} {path} with "
            f"{status} ({detail}){hint}"
        )

    def _unexpected(self, path: str, wanted: str, got: object) -> ServiceError:
        shown = repr(got)
        return ServiceError(
            f"unexpected answer from {self.url}{path}: expected {wanted}, got "
            f"{shown[:120] + '...' if len(shown) > 120 else shown}; is this a SPLADE service?"
        )


class _Late(Exception):
    """The answer was still arriving at the call's deadline."""


__all__ = ["DEFAULT_MAX_ANSWER_BYTES", "DEFAULT_URL", "SpladeClient"]
