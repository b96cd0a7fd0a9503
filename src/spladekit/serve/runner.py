"""Run the service under uvicorn until SIGTERM (or Ctrl-C), then stop gracefully.

The socket is bound here, before the model loads, so that a taken port fails at once and the
address (with the port the system chose for port 0) is known before serving. On SIGTERM
uvicorn stops accepting connections and waits for in-flight requests (up to
``graceful_timeout`` seconds); then the application drains the batcher and closes the
collection, and :func:`run` returns normally, so the process exits with status 0.
"""

from __future__ import annotations

import math
import signal
import socket
from collections.abc import Callable

from ..errors import ServiceError
from .app import create_app
from .config import ServeConfig, missing
from .limits import uvicorn_options

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise missing("uvicorn", exc) from exc


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServiceError(
            f"cannot listen on {host!r}: {exc}; give an IP address or host name"
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ServiceError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another port, or stop "
            "what uses this one"
        ) from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The http:// address a bound socket answers on."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(config: ServeConfig, *, announce: Callable[[str], None] | None = None) -> None:
    """Serve ``config`` until stopped. ``announce`` receives the address once it is bound.

    Raises :class:`~spladekit.errors.ServiceError` when the address cannot be bound, and the
    loading error when the model or the collection cannot be loaded (the server stops then).
    """
    sock = bind(config.host, config.port)
    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def failed(exc: BaseException) -> None:
        failure.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(config, on_failure=failed)
    server = uvicorn.Server(uvicorn.Config(
        app,
        log_config=None,  # the library configures no logging; the application decides
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=math.ceil(config.graceful_timeout),
        lifespan="on",
        **uvicorn_options(config),
    ))
    if announce is not None:
        announce(url_of(sock))
    # uvicorn re-raises the signal it handled once it has shut down, which would end the
    # process by SIGTERM's default action (status 143). A handler of our own takes that
    # second delivery, so a graceful stop returns here and exits 0.
    previous = signal.signal(signal.SIGTERM, _ignore) if _on_main_thread() else None
    try:
        server.run(sockets=[sock])
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        sock.close()
    if failure:
        raise failure[0]


def _ignore(signum: int, frame: object) -> None:
    """SIGTERM after a graceful shutdown: nothing left to do."""


def _on_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


__all__ = ["bind", "run", "url_of"]
