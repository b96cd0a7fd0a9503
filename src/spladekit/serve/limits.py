"""Limits on a request's head, enforced where uvicorn reads it off the socket.

uvicorn's default parser (httptools) buffers a request line and headers of any size, for as
long as the client takes: a 64 MB header was answered, and unfinished ones held memory. The
protocol class :func:`protocol_class` returns counts the bytes of each request's head and
answers 431 once they pass ``max_header_bytes``, and 408 when the head takes longer than
``header_timeout`` seconds from its first byte (or from the connection's opening). The body's
own timeout is the application's (:class:`spladekit.serve.request_checks.RequestChecks`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from .config import ServeConfig
from .errors import ApiError, answer, headers_too_large, request_timeout


def _answer(transport: asyncio.Transport, error: ApiError) -> None:
    """Write a final JSON error answer and close the connection."""
    if transport.is_closing():
        return
    transport.write(answer(error, close=True).http11())
    transport.close()


class _HeadTooLarge(Exception):
    """Raised in a parser callback to stop parsing a head over the limit."""


def _too_large(limit: int) -> ApiError:
    return headers_too_large(f"the request line and headers are over the limit of {limit} bytes")


class _HeadLimits:
    """Mixed into a uvicorn protocol: subclasses say when a head is complete."""

    max_header_bytes = 16384
    header_timeout = 30.0
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def _limits_start(self) -> None:
        self._head_bytes = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        timer, self._head_timer = self._head_timer, None
        if timer is not None:
            timer.cancel()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and self._head_bytes:
            _answer(self.transport, request_timeout(
                f"the request's headers did not arrive within {self.header_timeout:g} s"
            ))
        elif self._in_head:
            self.transport.close()  # a connection that never sent a request

    def _count(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            self._arm()

    def _check(self) -> bool:
        """After feeding data: False when the connection was answered and closed."""
        if not self._in_head:
            self._disarm()
            return True
        if self._head_bytes > self.max_header_bytes:
            self._disarm()
            _answer(self.transport, _too_large(self.max_header_bytes))
            return False
        return True

    def _head_done(self) -> None:
        self._in_head = False
        self._disarm()

    def _next_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0


def _httptools_class() -> type[asyncio.Protocol] | None:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return None

    class LimitedHttpTools(_HeadLimits, HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._limits_start()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._count(data)
            super().data_received(data)
            if not self.transport.is_closing():
                self._check()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._parsed = 0

        def on_url(self, url: bytes) -> None:
            self._grow(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._grow(len(name) + len(value) + 4)
            super().on_header(name, value)

        def _grow(self, size: int) -> None:
            # A head that arrived in one read is complete before data_received can count
            # it: count what the parser hands over too, and stop it past the limit.
            self._parsed = getattr(self, "_parsed", 0) + size
            if self._parsed > self.max_header_bytes:
                self._head_bytes = self._parsed
                raise _HeadTooLarge

        def send_400_response(self, msg: str) -> None:
            if self._head_bytes > self.max_header_bytes:  # stopped by _grow
                self._disarm()
                _answer(self.transport, _too_large(self.max_header_bytes))
                return
            super().send_400_response(msg)

        def on_headers_complete(self) -> None:
            self._head_done()
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._next_head()

    return LimitedHttpTools


def protocol_class(config: ServeConfig) -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol with the limits; None when httptools is not installed
    (then uvicorn's h11 parser runs with its own head limit: see :func:`uvicorn_options`)."""
    base = _httptools_class()
    if base is None:
        return None
    attributes: dict[str, Any] = {
        "max_header_bytes": config.max_header_bytes,
        "header_timeout": config.header_timeout,
    }
    return type("SpladekitHTTP", (base,), attributes)


def uvicorn_options(config: ServeConfig) -> dict[str, Any]:
    """The ``uvicorn.Config`` keywords that apply the head limits."""
    protocol = protocol_class(config)
    if protocol is not None:
        return {"http": protocol}
    # h11 answers a head over its buffer limit with 400 (not 431), and has no head timeout.
    return {"http": "h11", "h11_max_incomplete_event_size": config.max_header_bytes}


__all__ = ["protocol_class", "uvicorn_options"]
