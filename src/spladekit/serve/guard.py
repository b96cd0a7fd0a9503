"""The outermost layer of the application: the API key, and a metric for every answer.

With an API key, every route but the public ones (``/health``, ``/metrics``, the search page
and its files) needs ``Authorization: Bearer <key>``, compared in constant time; else 401.
``POST /`` is TEI's embedding alias, not the page, and needs the key. Every answer, refused or
not, is counted by endpoint and status (:class:`~spladekit.serve.metrics.ServiceMetrics`).
The ``Host``, ``Origin`` and ``Content-Type`` checks run inside this layer
(:mod:`spladekit.serve.request_checks`).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from .errors import KINDS, answer, unauthorized
from .metrics import ServiceMetrics

try:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installation
    from .config import missing

    raise missing("starlette", exc) from exc

PUBLIC_PATHS = frozenset({"/", "/health", "/metrics", "/favicon.ico"})
STATIC_PREFIX = "/static/"
# The endpoints metrics name; any other path is counted as "/static" or "other".
ENDPOINTS = frozenset({
    "/", "/embed_sparse", "/search", "/documents", "/info", "/vocabulary", "/health", "/metrics",
    "/favicon.ico",
})


class Guard:
    """Outermost layer: the API key on protected routes, and a metric for every answer."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics
        # Digests of equal length, compared in constant time: neither the key's length nor
        # its content leaks through timing.
        self._expected = None if api_key is None else _digest(f"Bearer {api_key}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        started = time.perf_counter()
        status = KINDS["Internal"].status  # what an answer that never started counts as

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if (
                self._expected is not None
                and not _is_public(path, scope["method"])
                and not self._allowed(scope)
            ):
                await answer(unauthorized(
                    "this server needs an API key: send the header 'Authorization: Bearer <key>'"
                )).send(record)
                return
            await self.app(scope, receive, record)
        finally:
            endpoint = path if path in ENDPOINTS else (
                "/static" if path.startswith(STATIC_PREFIX) else "other"
            )
            self.metrics.request(endpoint, status, time.perf_counter() - started)

    def _allowed(self, scope: Scope) -> bool:
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        return hmac.compare_digest(_digest(given), self._expected or b"")


def _is_public(path: str, method: str) -> bool:
    """Whether a route answers without the API key."""
    if path == "/" and method == "POST":  # TEI's embedding alias, not the page
        return False
    return path in PUBLIC_PATHS or path.startswith(STATIC_PREFIX)


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


__all__ = ["ENDPOINTS", "PUBLIC_PATHS", "STATIC_PREFIX", "Guard"]
