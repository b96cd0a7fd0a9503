"""Talking to a Milvus server from Ray workers: which failures pass, and bounded retries.

A server restarting, a network blip or a busy server fail a call with a gRPC ``UNAVAILABLE`` or
``DEADLINE_EXCEEDED``, a failed connection or Milvus's rate limit: those are worth another try
on a fresh connection after a pause. Anything else (a bad id, a missing collection, a schema
that is not spladekit's) fails the same way every time and is raised at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import StoreError
from ..store.config import StoreConfig
from ..store.milvus import MilvusStore
from ..validation import non_negative_number, positive_int

T = TypeVar("T")

# gRPC status names that say "try again": the server is away, slow, or shedding load.
_TRANSIENT_GRPC = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED"})
# pymilvus codes: 2 is its "could not connect" (Status.CONNECT_FAILED), 8 Milvus's rate limit.
_TRANSIENT_MILVUS_CODES = frozenset({2, 8})


def is_transient(error: BaseException) -> bool:
    """Whether a failed Milvus call may succeed if tried again (see the module docstring)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "code", None)
        if callable(code):  # a grpc.RpcError: code() is a grpc.StatusCode
            try:
                code = code()
            except Exception:  # an object whose code() needs arguments: not gRPC's
                code = None
        name = getattr(code, "name", None)
        if isinstance(name, str) and name in _TRANSIENT_GRPC:
            return True
        if type(current).__module__.startswith("pymilvus"):
            if getattr(current, "retriable", False) or type(current).__name__ == (
                "MilvusUnavailableException"
            ):
                return True
            if isinstance(code, int) and code in _TRANSIENT_MILVUS_CODES:
                return True
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries at most; the pause doubles from ``backoff`` up to ``max_backoff``
    seconds between them."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        positive_int("attempts", self.attempts)
        non_negative_number("backoff", self.backoff)
        non_negative_number("max_backoff", self.max_backoff)

    def pauses(self) -> list[float]:
        """The pause before each retry (one fewer than ``attempts``)."""
        return [
            min(self.max_backoff, self.backoff * 2**i) for i in range(self.attempts - 1)
        ]


def open_existing(store: StoreConfig) -> MilvusStore:
    """Open the existing collection ``store`` names (the driver created it and recorded the
    model): where a worker writes, opened in any process (a StoreConfig pickles)."""
    return MilvusStore(store.existing(), create=False)


class RetryingStore:
    """A collection on a Milvus server whose calls are retried on transient failures.

    After a transient failure the connection is closed and a new one opened for the next try,
    since a server that restarted does not come back on the old channel. ``retries`` counts the
    retries made so far (for reports). One instance serves one thread.
    """

    def __init__(
        self, store: StoreConfig, policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.store = store
        self.policy = policy
        self.retries = 0
        self._sleep = sleep
        self._store: MilvusStore | None = None

    def call(self, operation: Callable[[MilvusStore], T]) -> T:
        """``operation(store)``, retried per the policy; the last error is raised."""
        pauses = self.policy.pauses()
        for attempt in range(self.policy.attempts):
            try:
                if self._store is None:
                    self._store = open_existing(self.store)
                return operation(self._store)
            except (StoreError, ConnectionError, TimeoutError) as exc:
                if not is_transient(exc) or attempt == len(pauses):
                    raise
                self.close()
                self.retries += 1
                self._sleep(pauses[attempt])
        raise AssertionError("unreachable: the loop returns or raises")

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            store.close()


__all__ = ["RetryPolicy", "RetryingStore", "is_transient", "open_existing"]
