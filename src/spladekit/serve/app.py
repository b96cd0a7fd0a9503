"""The ASGI application: routes, the API key, body limits, metrics, and the search page.

Routes (TEI's where TEI has them):

- ``POST /embed_sparse``: TEI's sparse embedding contract, through the dynamic batcher;
  ``POST /`` is the same (TEI's embedding alias on the base URL; it needs the API key);
- ``POST /search``, ``POST /documents``: the collection (when the service has one);
- ``GET /info``, ``GET /vocabulary``: what the service runs, and the model's tokens;
- ``GET /health`` (200, or 503 while loading), ``GET /metrics`` (Prometheus): public;
- ``GET /`` and ``/static/*``: the search page, public (it holds no data and asks for the key).

Checks run before any work, cheapest first: the API key (:mod:`spladekit.serve.guard`, compared
in constant time), the ``Host``, ``Origin`` and ``Content-Type`` rules of
:mod:`spladekit.serve.request_checks`, the service's state, the declared body size, then the
body read up to the limit, then its content. Every error is answered by
:func:`spladekit.serve.errors.answer`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from ..vectors import to_tei_json
from .config import ServeConfig, missing
from .errors import (
    JSON_TYPE,
    KINDS,
    SECURITY_HEADERS,
    ApiError,
    answer,
    bad_request,
    internal,
    method_not_allowed,
    not_found,
    payload_too_large,
)
from .guard import ENDPOINTS, PUBLIC_PATHS, Guard
from .metrics import CONTENT_TYPE, ServiceMetrics
from .protocol import DocumentsRequest, EmbedRequest, SearchRequest, parse_json
from .request_checks import RequestChecks
from .service import Service

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.types import ASGIApp
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise missing("starlette", exc) from exc

STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
_PAGE_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}

Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    config: ServeConfig, *, on_failure: Callable[[BaseException], None] | None = None
) -> ASGIApp:
    """The service as an ASGI application. The model loads in the background once the
    application starts (ASGI lifespan); ``on_failure`` is called if loading fails."""
    metrics = ServiceMetrics()
    service = Service(config, metrics, on_failure)
    page = _Page()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    async def embed_sparse(request: Request) -> Response:
        started = time.perf_counter()
        service.check_ready()
        body = parse_json(await read_body(request, config.payload_limit))
        parsed = EmbedRequest.parse(
            body, max_inputs=config.max_client_batch_size, auto_truncate=config.auto_truncate
        )
        result = await service.embed(parsed)
        metrics.waited(result.queue_seconds)
        content = to_tei_json(result.vectors)
        return Response(content, media_type=JSON_TYPE, headers={
            **SECURITY_HEADERS,
            "x-compute-tokens": str(result.tokens),
            "x-queue-time": _ms(result.queue_seconds),
            "x-inference-time": _ms(result.encode_seconds),
            "x-total-time": _ms(time.perf_counter() - started),
        })

    async def search(request: Request) -> Response:
        service.check_ready(collection=True)
        body = parse_json(await read_body(request, config.payload_limit))
        return _json(await service.search(SearchRequest.parse(body)))

    async def documents(request: Request) -> Response:
        service.check_ready(collection=True)
        body = parse_json(await read_body(request, config.payload_limit))
        parsed = DocumentsRequest.parse(body, max_documents=config.max_client_batch_size)
        return _json(await service.documents(parsed))

    async def info(request: Request) -> Response:
        return _json(service.info())

    async def vocabulary(request: Request) -> Response:
        return Response(service.vocabulary(), media_type=JSON_TYPE, headers=SECURITY_HEADERS)

    async def health(request: Request) -> Response:
        service.check_ready()
        return _json({"status": "ready"})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def index(request: Request) -> Response:
        return page.response("index.html", "text/html; charset=utf-8")

    async def favicon(request: Request) -> Response:
        return Response(status_code=204, headers=SECURITY_HEADERS)  # no icon, and no 404

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise not_found(f"no such file: /static/{name}")
        return page.response(name, f"{STATIC_FILES[name]}; charset=utf-8")

    routes = [
        Route("/embed_sparse", _api(embed_sparse), methods=["POST"]),
        Route("/search", _api(search), methods=["POST"]),
        Route("/documents", _api(documents), methods=["POST"]),
        Route("/info", _api(info), methods=["GET"]),
        Route("/vocabulary", _api(vocabulary), methods=["GET"]),
        Route("/health", _api(health), methods=["GET"]),
        Route("/metrics", _api(prometheus), methods=["GET"]),
        Route("/", _api(index), methods=["GET"]),
        # TEI answers POST / as its embedding route: here, as /embed_sparse does.
        Route("/", _api(embed_sparse), methods=["POST"]),
        Route("/static/{name}", _api(static), methods=["GET"]),
        Route("/favicon.ico", _api(favicon), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    return Guard(RequestChecks(app, config), api_key=config.api_key, metrics=metrics)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes:
    from its declared length before reading, or while reading a body of unknown length."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise bad_request(f"bad Content-Length header {declared!r}")
        if int(declared) > limit:
            raise payload_too_large(
                f"the request body has {int(declared)} bytes, more than the limit of {limit}"
            )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise payload_too_large(f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _api(handler: Handler) -> Handler:
    """Answer :class:`ApiError` as TEI does: JSON ``{"error", "error_type"}`` and its status."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc)

    return endpoint


def _error(exc: ApiError) -> Response:
    written = answer(exc)
    return Response(written.body, status_code=written.status, headers=written.headers)


def _json(value: Any) -> Response:
    return JSONResponse(value, headers=SECURITY_HEADERS)


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000, 3))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals: no such route (404), a method the route lacks (405), and
    any other status it raises, with the exception's text."""
    status = getattr(exc, "status_code", KINDS["Internal"].status)
    route = f"no route {request.method} {request.url.path}"
    if status == KINDS["NotFound"].status:
        return _error(not_found(route))
    if status == KINDS["MethodNotAllowed"].status:
        return _error(method_not_allowed(route))
    return _error(ApiError("Validation", str(exc), status))  # Starlette's status, as it is


async def _server_error(request: Request, exc: Exception) -> Response:
    return _error(internal(f"internal error: {type(exc).__name__}"))


class _Page:
    """The search page's files, read once from the package."""

    def __init__(self) -> None:
        folder = resources.files(__package__) / "static"
        self._files = {
            name: (folder / name).read_bytes() for name in ("index.html", *STATIC_FILES)
        }

    def response(self, name: str, media_type: str) -> Response:
        return Response(self._files[name], media_type=media_type, headers=_PAGE_HEADERS)


__all__ = ["ENDPOINTS", "PUBLIC_PATHS", "create_app", "read_body"]
