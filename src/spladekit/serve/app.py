"""The ASGI application: routes, the API key, body limits, metrics, and the search page.

Routes (TEI's where TEI has them):

- ``POST /embed_sparse``: TEI's sparse embedding contract, through the dynamic batcher;
  ``POST /`` is the same (TEI's embedding alias on the base URL; it needs the API key);
- ``POST /search``, ``POST /documents``: the collection (when the service has one);
- ``GET /info``, ``GET /vocabulary``: what the service runs, and the model's tokens;
- ``GET /health`` (200, or 503 while loading), ``GET /metrics`` (Prometheus): public;
- ``GET /`` and ``/static/*``: the search page, public (it holds no data and asks for the key).

Checks run before any work, cheapest first: the API key (compared in constant time), the
``Host``, ``Origin`` and ``Content-Type`` rules of :mod:`spladekit.serve.guard`, the service's
state, the declared body size, then the body read up to the limit, then its content.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from ..vectors import to_tei_json
from .config import ServeConfig, missing
from .guard import RequestChecks
from .metrics import CONTENT_TYPE, ServiceMetrics
from .protocol import (
    ApiError,
    DocumentsRequest,
    EmbedRequest,
    SearchRequest,
    error_body,
    parse_json,
)
from .service import Service

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise missing("starlette", exc) from exc

JSON = "application/json"
PUBLIC_PATHS = frozenset({"/", "/health", "/metrics", "/favicon.ico"})
STATIC_PREFIX = "/static/"
STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
ENDPOINTS = frozenset({
    "/", "/embed_sparse", "/search", "/documents", "/info", "/vocabulary", "/health", "/metrics",
    "/favicon.ico",
})
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_PAGE_HEADERS = {
    **_SECURITY_HEADERS,
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
        return Response(content, media_type=JSON, headers={
            **_SECURITY_HEADERS,
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
        return Response(service.vocabulary(), media_type=JSON, headers=_SECURITY_HEADERS)

    async def health(request: Request) -> Response:
        service.check_ready()
        return _json({"status": "ready"})

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def index(request: Request) -> Response:
        return page.response("index.html", "text/html; charset=utf-8")

    async def favicon(request: Request) -> Response:
        return Response(status_code=204, headers=_SECURITY_HEADERS)  # no icon, and no 404

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            raise ApiError("NotFound", f"no such file: /static/{name}")
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
    return _Guard(RequestChecks(app, config), api_key=config.api_key, metrics=metrics)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes:
    from its declared length before reading, or while reading a body of unknown length."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError("Validation", f"bad Content-Length header {declared!r}", 400)
        if int(declared) > limit:
            raise ApiError(
                "Validation",
                f"the request body has {int(declared)} bytes, more than the limit of {limit}",
                413,
            )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(
                "Validation", f"the request body is over the limit of {limit} bytes", 413
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _api(handler: Handler) -> Handler:
    """Answer :class:`ApiError` as TEI does: JSON ``{"error", "error_type"}`` and its status."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return Response(
                exc.body(), status_code=exc.status, media_type=JSON, headers=_SECURITY_HEADERS
            )

    return endpoint


def _json(value: Any) -> Response:
    return JSONResponse(value, headers=_SECURITY_HEADERS)


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000, 3))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    kind = "NotFound" if status == 404 else "Validation"
    message = f"no route {request.method} {request.url.path}" if status in (404, 405) else str(exc)
    return Response(error_body(kind, message), status_code=status, media_type=JSON)


async def _server_error(request: Request, exc: Exception) -> Response:
    return Response(
        error_body("Backend", f"internal error: {type(exc).__name__}"),
        status_code=500, media_type=JSON,
    )


class _Page:
    """The search page's files, read once from the package."""

    def __init__(self) -> None:
        folder = resources.files(__package__) / "static"
        self._files = {
            name: (folder / name).read_bytes() for name in ("index.html", *STATIC_FILES)
        }

    def response(self, name: str, media_type: str) -> Response:
        return Response(self._files[name], media_type=media_type, headers=_PAGE_HEADERS)


class _Guard:
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
        status = 500

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
                await _unauthorized(record)
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
    if path == "/" and method == "POST":  # TEI's embedding alias, not the page
        return False
    return path in PUBLIC_PATHS or path.startswith(STATIC_PREFIX)


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


async def _unauthorized(send: Send) -> None:
    body = error_body(
        "Unauthorized",
        "this server needs an API key: send the header 'Authorization: Bearer <key>'",
    )
    await send({
        "type": "http.response.start",
        "status": 401,
        "headers": [
            (b"content-type", JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", b"Bearer"),
            *((k.lower().encode(), v.encode()) for k, v in _SECURITY_HEADERS.items()),
        ],
    })
    await send({"type": "http.response.body", "body": body})


__all__ = ["ENDPOINTS", "PUBLIC_PATHS", "create_app", "read_body"]
