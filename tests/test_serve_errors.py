"""Error answers: one status table, one JSON shape, the same headers for every kind."""

from __future__ import annotations

import json

import pytest

from spladekit.serve import errors
from spladekit.serve.errors import KINDS, STATUS, ApiError, answer


def test_teis_types_keep_teis_statuses() -> None:
    assert STATUS == {
        "Empty": 400, "Unauthorized": 401, "NotFound": 404, "Validation": 422, "Tokenizer": 422,
        "Backend": 424, "Overloaded": 429, "Unhealthy": 503,
    }
    # The old constructor still works, with or without a status.
    assert ApiError("Unhealthy", "loading").status == 503
    assert ApiError("Validation", "odd", 418).status == 418


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_written_alike(kind: errors.Kind) -> None:
    error = errors.error(kind, "a message")
    assert (error.status, error.error_type) == KINDS[kind]
    written = answer(error)
    assert json.loads(written.body) == {"error": "a message", "error_type": KINDS[kind].error_type}
    expected = {
        "content-type": "application/json",
        "content-length": str(len(written.body)),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
    }
    if written.status == 401:
        expected["www-authenticate"] = "Bearer"
    assert written.headers == expected
    assert answer(error, close=True).headers == {**expected, "connection": "close"}


def test_named_constructors_match_the_table() -> None:
    named = {
        "empty": "Empty", "unauthorized": "Unauthorized", "not_found": "NotFound",
        "validation": "Validation", "backend": "Backend", "overloaded": "Overloaded",
        "unhealthy": "Unhealthy", "bad_request": "BadRequest", "forbidden": "Forbidden",
        "method_not_allowed": "MethodNotAllowed", "request_timeout": "RequestTimeout",
        "payload_too_large": "PayloadTooLarge", "unsupported_media_type": "UnsupportedMediaType",
        "misdirected_request": "MisdirectedRequest", "headers_too_large": "HeadersTooLarge",
        "internal": "Internal",
    }
    for name, kind in named.items():
        error = getattr(errors, name)("m")
        assert (error.status, error.error_type) == KINDS[kind], name


def test_an_answer_below_asgi_is_a_whole_http_response() -> None:
    raw = answer(errors.headers_too_large("too big"), close=True).http11()
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"connection: close" in lines and b"content-type: application/json" in lines
    assert json.loads(body) == {"error": "too big", "error_type": "Validation"}
