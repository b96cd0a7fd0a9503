"""Error answers: the status of each kind of error, named constructors, and the one writer.

Every error the service answers, wherever it is answered (a route, the request checks, the
API key guard, the head limits at the socket), is TEI's JSON ``{"error": str, "error_type":
str}`` with the same headers: ``content-type: application/json``, ``content-length``,
``x-content-type-options: nosniff`` and ``referrer-policy: no-referrer``; a 401 adds
``www-authenticate: Bearer``, and an answer given without reading the request's body adds
``connection: close``. :data:`KINDS` is the one table of statuses: code raises the named
constructors (:func:`validation`, :func:`payload_too_large`, ...) instead of typing a status,
and turns an :class:`ApiError` into bytes with :func:`answer`.

This module imports nothing else of :mod:`spladekit.serve`, so every module of it may use it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, NamedTuple, get_args

ErrorType = Literal[
    "Empty", "Unauthorized", "NotFound", "Validation", "Tokenizer", "Backend", "Overloaded",
    "Unhealthy",
]
Kind = Literal[
    "Empty", "Unauthorized", "NotFound", "Validation", "Tokenizer", "Backend", "Overloaded",
    "Unhealthy", "BadRequest", "Forbidden", "MethodNotAllowed", "RequestTimeout",
    "PayloadTooLarge", "UnsupportedMediaType", "MisdirectedRequest", "HeadersTooLarge",
    "Internal",
]


class Status(NamedTuple):
    """A kind of error's HTTP status and the TEI ``error_type`` its body names."""

    status: int
    error_type: ErrorType


# Every kind of error answer. The first eight are TEI's error types at TEI's statuses; the
# others are HTTP-level refusals, which TEI's contract reports as "Validation" (or "Backend").
KINDS: dict[Kind, Status] = {
    "Empty": Status(400, "Empty"),  # no inputs, no documents
    "Unauthorized": Status(401, "Unauthorized"),  # no or a wrong API key
    "NotFound": Status(404, "NotFound"),  # no such route or file; no collection
    "Validation": Status(422, "Validation"),  # a request that breaks the contract
    "Tokenizer": Status(422, "Tokenizer"),
    "Backend": Status(424, "Backend"),  # encoding or the store failed
    "Overloaded": Status(429, "Overloaded"),  # the batcher's queue is full
    "Unhealthy": Status(503, "Unhealthy"),  # loading, failed to load, or stopping
    "BadRequest": Status(400, "Validation"),  # unreadable JSON or Content-Length, no Host
    "Forbidden": Status(403, "Validation"),  # a request from another site's page
    "MethodNotAllowed": Status(405, "Validation"),
    "RequestTimeout": Status(408, "Validation"),  # a head or body that stopped arriving
    "PayloadTooLarge": Status(413, "Validation"),  # a body or batch over its limit
    "UnsupportedMediaType": Status(415, "Validation"),  # a body not sent as JSON
    "MisdirectedRequest": Status(421, "Validation"),  # a Host this server does not answer to
    "HeadersTooLarge": Status(431, "Validation"),  # too many headers, or too many bytes
    "Internal": Status(500, "Backend"),  # an exception nothing else answered
}

# TEI's error types and the status each one gets (an ApiError built from its type alone).
STATUS: dict[str, int] = {name: KINDS[name].status for name in get_args(ErrorType)}

# Headers of every answer, errors and others; and those a status adds to an error answer.
JSON_TYPE = "application/json"
SECURITY_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
_STATUS_HEADERS = {KINDS["Unauthorized"].status: {"www-authenticate": "Bearer"}}


class ApiError(Exception):
    """An error answer: HTTP status, TEI error type, and a message for the caller."""

    def __init__(self, error_type: ErrorType, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else STATUS[error_type]

    def body(self) -> bytes:
        return error_body(self.error_type, self.message)


def error_body(error_type: str, message: str) -> bytes:
    """The JSON of an error answer."""
    return json.dumps({"error": message, "error_type": error_type}).encode("utf-8")


def error(kind: Kind, message: str) -> ApiError:
    """An error of a kind of :data:`KINDS`, with its status and TEI type."""
    status, error_type = KINDS[kind]
    return ApiError(error_type, message, status)


# -- named constructors ----------------------------------------------------------------------


def empty(message: str) -> ApiError:
    return error("Empty", message)


def unauthorized(message: str) -> ApiError:
    return error("Unauthorized", message)


def not_found(message: str) -> ApiError:
    return error("NotFound", message)


def validation(message: str) -> ApiError:
    return error("Validation", message)


def backend(message: str) -> ApiError:
    return error("Backend", message)


def overloaded(message: str) -> ApiError:
    return error("Overloaded", message)


def unhealthy(message: str) -> ApiError:
    return error("Unhealthy", message)


def bad_request(message: str) -> ApiError:
    return error("BadRequest", message)


def forbidden(message: str) -> ApiError:
    return error("Forbidden", message)


def method_not_allowed(message: str) -> ApiError:
    return error("MethodNotAllowed", message)


def request_timeout(message: str) -> ApiError:
    return error("RequestTimeout", message)


def payload_too_large(message: str) -> ApiError:
    return error("PayloadTooLarge", message)


def unsupported_media_type(message: str) -> ApiError:
    return error("UnsupportedMediaType", message)


def misdirected_request(message: str) -> ApiError:
    return error("MisdirectedRequest", message)


def headers_too_large(message: str) -> ApiError:
    return error("HeadersTooLarge", message)


def internal(message: str) -> ApiError:
    return error("Internal", message)


# -- the writer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An error answer ready to send: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers as ASGI sends them."""
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()]

    def http11(self) -> bytes:
        """The whole answer as HTTP/1.1 bytes, for a connection answered below ASGI."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = ""
        head = f"HTTP/1.1 {self.status} {reason}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in self.headers.items()
        )
        return (head + "\r\n").encode("latin-1") + self.body

    async def send(self, send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        """Send the answer through an ASGI ``send``."""
        await send({
            "type": "http.response.start", "status": self.status, "headers": self.raw_headers()
        })
        await send({"type": "http.response.body", "body": self.body})


def answer(exc: ApiError, *, close: bool = False) -> Answer:
    """The one writer of error answers. ``close``: the request's body was not read, so the
    connection closes after the answer."""
    body = exc.body()
    headers = {"content-type": JSON_TYPE, "content-length": str(len(body)), **SECURITY_HEADERS}
    headers.update(_STATUS_HEADERS.get(exc.status, {}))
    if close:
        headers["connection"] = "close"
    return Answer(exc.status, headers, body)


__all__ = [
    "JSON_TYPE",
    "KINDS",
    "SECURITY_HEADERS",
    "STATUS",
    "Answer",
    "ApiError",
    "ErrorType",
    "Kind",
    "Status",
    "answer",
    "backend",
    "bad_request",
    "empty",
    "error",
    "error_body",
    "forbidden",
    "headers_too_large",
    "internal",
    "method_not_allowed",
    "misdirected_request",
    "not_found",
    "overloaded",
    "payload_too_large",
    "request_timeout",
    "unauthorized",
    "unhealthy",
    "unsupported_media_type",
    "validation",
]
