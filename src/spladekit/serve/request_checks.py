"""The checks every request passes before the application: ``Host``, ``Origin``, POST bodies.

(The API key is checked before these, by :mod:`spladekit.serve.guard`.)

A browser lets any web page send a "simple" cross-site POST (``text/plain``, no preflight) and
a DNS-rebinding name can make the page's own origin point at this server. Three rules close
both, for every route, including ones added later, because they run as middleware:

- the ``Host`` header must name the address the server listens on (any loopback name when it
  listens on loopback; any IP address and this machine's names when it listens on all
  addresses), or one of ``allowed_hosts``; else 421 (400 without a ``Host``). ``/health`` and
  ``/metrics`` are exempt: probes and scrapers call them by whatever name they know;
- a request whose ``Origin`` is not this server (``scheme://`` + its ``Host``) nor one of
  ``allowed_hosts`` is refused with 403;
- a body-carrying request (POST, PUT, PATCH, DELETE) must declare ``Content-Type:
  application/json``; else 415, which is also a content type a browser cannot send
  cross-site without a CORS preflight, and the server grants none.

More than ``max_headers`` headers: 431. A body that pauses longer than ``body_timeout``
seconds before it is complete (a ``Content-Length`` larger than what is sent): 408.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from .config import ServeConfig, is_loopback
from .errors import (
    JSON_TYPE,
    ApiError,
    answer,
    bad_request,
    forbidden,
    headers_too_large,
    misdirected_request,
    request_timeout,
    unsupported_media_type,
)

try:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the installation
    from .config import missing

    raise missing("starlette", exc) from exc

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "localhost.localdomain"})
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
HOST_EXEMPT_PATHS = frozenset({"/health", "/metrics"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def host_name(value: str) -> str | None:
    """The host part of a ``Host`` header (``name``, ``name:port``, ``[v6]:port``), lower case;
    None when it is not one."""
    value = value.strip().lower()
    if not value or any(c in value for c in " /\\@?#"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (len(value) > end + 1 and not value[end + 1 :].startswith(":")):
            return None
        return value[1:end]
    if value.count(":") == 1:
        value, port = value.split(":")
        if not port.isdigit():
            return None
    elif ":" in value:
        return None
    return value.rstrip(".") or None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostRule:
    """The host names this server answers to."""

    def __init__(self, listen: str, allowed: tuple[str, ...]) -> None:
        listen = listen.strip("[]").lower()
        self.listen = listen
        self.any = "*" in allowed
        self.extra = frozenset(a.strip("[]").lower().rstrip(".") for a in allowed if a != "*")
        self.any_ip = listen in WILDCARD_ADDRESSES
        names = {listen}
        if is_loopback(listen) or self.any_ip:
            names |= LOOPBACK_NAMES
        if self.any_ip or not is_loopback(listen):
            for name in (socket.gethostname(), socket.getfqdn()):
                if name:
                    names.add(name.lower())
        self.names = frozenset(names) | self.extra

    def allows(self, name: str) -> bool:
        return self.any or name in self.names or (self.any_ip and _is_ip(name))

    def describe(self) -> str:
        # The listening address only: the page that sent a rebound Host may read this answer,
        # and the machine's own names are none of its business.
        if self.any_ip:
            return "its IP addresses, loopback names and this machine's names"
        return repr(self.listen) + (" and loopback names" if is_loopback(self.listen) else "")


class RequestChecks:
    """The checks of the module docstring, before the application sees the request."""

    def __init__(self, app: ASGIApp, config: ServeConfig) -> None:
        self.app = app
        self.hosts = HostRule(config.host, config.allowed_hosts)
        self.max_headers = config.max_headers
        self.body_timeout = config.body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self.app(scope, self._timed(receive), send)
            return
        await answer(refusal, close=True).send(send)  # the body is left unread

    def _timed(self, receive: Receive) -> Receive:
        """``receive`` with the body timeout, until the body is complete."""
        complete = False
        timeout = self.body_timeout

        async def timed() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout)
            except TimeoutError:
                raise request_timeout(
                    f"the request body stopped arriving for {timeout:g} s before it was "
                    "complete (is its Content-Length right?)"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        return timed

    def refusal(self, scope: Scope) -> ApiError | None:
        """The error to answer a request with; None to let it through."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if len(headers) > self.max_headers:
            return headers_too_large(
                f"the request has {len(headers)} headers, more than the limit of "
                f"{self.max_headers}"
            )
        found: dict[bytes, str] = {}
        for key, value in headers:
            if key in (b"host", b"origin", b"content-type") and key not in found:
                found[key] = value.decode("latin-1")
        host = found.get(b"host")
        if scope["path"] not in HOST_EXEMPT_PATHS:
            if host is None:
                return bad_request("the request has no Host header")
            name = host_name(host)
            if name is None or not self.hosts.allows(name):
                return misdirected_request(
                    f"this server does not answer to the host {host[:100]!r}; it answers to "
                    f"{self.hosts.describe()}. Behind a proxy or under another name, start it "
                    "with --allowed-hosts NAME"
                )
        origin = found.get(b"origin")
        if origin is not None and not self._same_site(origin, host):
            return forbidden(
                f"requests from the web page at {origin[:100]!r} are refused: only this "
                "server's own page may call it from a browser (add that host with "
                "--allowed-hosts if it is yours)"
            )
        if scope["method"] in BODY_METHODS:
            media = found.get(b"content-type", "").split(";")[0].strip().lower()
            if media != JSON_TYPE:
                return unsupported_media_type(
                    f"the request body must be JSON sent with 'Content-Type: {JSON_TYPE}', "
                    f"got {media or 'no Content-Type'!r}"
                )
        return None

    def _same_site(self, origin: str, host: str | None) -> bool:
        parts = urlsplit(origin.strip().lower())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed or file:// page) and anything odd
        if host is not None and parts.netloc == host.strip().lower():
            return True
        name = host_name(parts.netloc)
        return name is not None and (self.hosts.any or name in self.hosts.extra)


__all__ = ["HOST_EXEMPT_PATHS", "HostRule", "RequestChecks", "host_name"]
