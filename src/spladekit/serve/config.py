"""The service's settings and limits, declared once: :class:`ServeConfig`.

Limits and their defaults follow text-embeddings-inference (TEI): 16,384 tokens per batch, 32
inputs per request, 2,000,000-byte bodies, 512 inputs queued or being encoded.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from ..errors import InputTypeError, InvalidArgumentError, MissingDependencyError
from ..options import EncoderConfig
from ..store.config import StoreConfig
from ..validation import flag, non_negative_number, optional_positive_int, positive_int, string

INSTALL = 'pip install "spladekit[serve]"'
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def missing(package: str, exc: ImportError) -> MissingDependencyError:
    """The error for a web dependency that is not installed, with the install command."""
    return MissingDependencyError(f"the SPLADE service needs {package}: {INSTALL} ({exc})")


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


@dataclass(frozen=True)
class ServeConfig:
    """What ``spladekit serve`` runs: the model, an optional collection, and the limits.

    - ``model`` and ``encoder``: as for :class:`~spladekit.SpladeEncoder`;
    - ``query_instruction`` / ``doc_instruction``, ``k_tokens_query`` / ``k_tokens_document``:
      as for :class:`~spladekit.SpladeEmbeddingFunction`, applied to ``prompt_name`` ``query``
      and ``document``;
    - ``store``: the collection behind ``/search`` and ``/documents``, a
      :class:`~spladekit.store.config.StoreConfig` (its ``allow_other_model`` as for
      :class:`~spladekit.Retriever`; ``bm25`` / ``analyzer``: a new collection also gets
      Milvus's BM25, for the ``bm25`` and ``hybrid`` search modes); None: encoding only;
    - ``api_key``: when set, every route but ``/health``, ``/metrics`` and the page's files
      needs ``Authorization: Bearer <key>``;
    - ``max_batch_tokens``: tokens per merged encode call; ``max_client_batch_size``: inputs
      (or documents) per request; ``payload_limit``: request body bytes;
      ``max_concurrent_requests``: inputs queued or being encoded before 429;
      ``batch_window_ms``: how long a batch waits for more requests when others are waiting;
      ``auto_truncate``: what a request without ``truncate`` gets;
    - ``graceful_timeout``: seconds that in-flight requests get to finish on shutdown;
    - ``allowed_hosts``: names the ``Host`` header may carry besides the address listened on
      (loopback names when that is loopback; ``*``: any), for a service behind a proxy;
    - ``max_header_bytes`` / ``max_headers``: a request's head (request line and headers) in
      bytes, and its number of headers (more: 431); ``header_timeout``: seconds a request's
      head may take to arrive, ``body_timeout``: seconds a body may pause (longer: 408).
    """

    model: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    query_instruction: str = ""
    doc_instruction: str = ""
    k_tokens_query: int | None = None
    k_tokens_document: int | None = None
    store: StoreConfig | None = None
    api_key: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_batch_tokens: int = 16384
    max_client_batch_size: int = 32
    payload_limit: int = 2_000_000
    max_concurrent_requests: int = 512
    batch_window_ms: float = 2.0
    auto_truncate: bool = True
    graceful_timeout: float = 30.0
    allowed_hosts: tuple[str, ...] = ()
    max_header_bytes: int = 16384
    max_headers: int = 100
    header_timeout: float = 30.0
    body_timeout: float = 30.0

    def __post_init__(self) -> None:
        string("model", self.model)
        if not isinstance(self.encoder, EncoderConfig):
            raise InputTypeError(
                f"encoder must be an EncoderConfig, got {type(self.encoder).__name__}"
            )
        string("query_instruction", self.query_instruction)
        string("doc_instruction", self.doc_instruction)
        optional_positive_int("k_tokens_query", self.k_tokens_query)
        optional_positive_int("k_tokens_document", self.k_tokens_document)
        if self.store is not None and not isinstance(self.store, StoreConfig):
            raise InputTypeError(
                f"store must be a StoreConfig or None, got {type(self.store).__name__}"
            )
        if self.api_key is not None and not string("api_key", self.api_key).strip():
            raise InvalidArgumentError("api_key is blank; give a secret, or None for no key")
        string("host", self.host)
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise InputTypeError(f"port must be an int, got {type(self.port).__name__}")
        if not 0 <= self.port <= 65535:
            raise InvalidArgumentError(f"port must be from 0 to 65535, got {self.port}")
        for name in (
            "max_batch_tokens", "max_client_batch_size", "payload_limit", "max_concurrent_requests",
            "max_header_bytes", "max_headers",
        ):
            positive_int(name, getattr(self, name))
        non_negative_number("batch_window_ms", self.batch_window_ms)
        non_negative_number("graceful_timeout", self.graceful_timeout)
        for name in ("header_timeout", "body_timeout"):
            if non_negative_number(name, getattr(self, name)) == 0:
                raise InvalidArgumentError(f"{name} must be more than 0 seconds, got 0")
        if isinstance(self.allowed_hosts, str) or not isinstance(self.allowed_hosts, tuple):
            raise InputTypeError(
                f"allowed_hosts must be a tuple of host names, got {self.allowed_hosts!r}"
            )
        for name in self.allowed_hosts:
            if not string("allowed_hosts", name).strip() or any(c in name for c in " /,"):
                raise InvalidArgumentError(
                    f"allowed_hosts holds {name!r}, which is not a host name; give names such "
                    "as search.example.com (no scheme, port or path), or * for any"
                )
        flag("auto_truncate", self.auto_truncate)

    @property
    def collection(self) -> str | None:
        """The collection's name, or None when the service only encodes."""
        return self.store.collection if self.store is not None else None

    @property
    def public(self) -> bool:
        """Whether the service listens beyond this machine."""
        return not is_loopback(self.host)

    def replace(self, **changes: object) -> ServeConfig:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "INSTALL",
    "ServeConfig",
    "is_loopback",
    "missing",
]
