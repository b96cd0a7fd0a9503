r"""One connection to Milvus: a Lite file (one process at a time) or a server, errors translated.

:class:`MilvusConnection` owns the pymilvus client and turns pymilvus's exceptions into
:class:`~spladekit.errors.StoreError`\ s that say which operation failed where; every call that
writes goes through :meth:`MilvusConnection.write_call` (Lite's write lock and refusal after disk
errors). :class:`~spladekit.store.milvus.MilvusStore` holds one.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Any

from ..errors import StoreError, one_line
from . import lite
from .config import DEFAULT_URI, SERVER_SCHEMES, check_uri

if TYPE_CHECKING:
    from pymilvus import MilvusClient


def pymilvus_module() -> Any:
    import pymilvus

    return pymilvus


class MilvusConnection:
    """A dedicated pymilvus client on ``uri``; for Lite, the file held for this process."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        timeout: float | None = None,
        where: str | None = None,
    ) -> None:
        self.uri = check_uri(uri)
        self.is_lite = lite.is_lite_uri(uri)
        self.timeout = timeout
        self.where = where or repr(uri)  # what error messages call this connection
        self._lite_path: str | None = None
        self._client: MilvusClient | None = self._connect(token)

    def __enter__(self) -> MilvusConnection:
        return self

    @property
    def lock_key(self) -> str:
        """What identifies this connection's engine in this process (the Lite file, or the URI)."""
        return self._lite_path or self.uri

    def _connect(self, token: str | None) -> MilvusClient:
        pymilvus = pymilvus_module()
        if self.is_lite:
            path = os.path.abspath(self.uri)
            lite.acquire(path)  # refuses a damaged folder, or one another process holds
            self._lite_path = path
        # A dedicated connection: close() then really closes it. pymilvus otherwise keeps a
        # shared channel open, pinging the server, for the life of the process.
        kwargs: dict[str, Any] = {"uri": self.uri, "dedicated": True}
        if token and not self.is_lite:
            kwargs["token"] = token
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        try:
            client: MilvusClient = pymilvus.MilvusClient(**kwargs)
        except pymilvus.exceptions.MilvusException as exc:
            self._release_lite()
            if self.is_lite:
                raise StoreError(
                    f"could not open the Milvus Lite file {self.uri!r}: {one_line(exc.message)}"
                ) from exc
            raise StoreError(
                f"could not connect to Milvus at {self.uri!r}: {one_line(exc.message)}; check "
                "that the server runs, the address, and the token"
            ) from exc
        return client

    def _release_lite(self) -> None:
        path, self._lite_path = self._lite_path, None
        if path is not None:
            lite.release(path)

    def close(self) -> None:
        """Release the connection (and, for Milvus Lite, the file). Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing must not mask an earlier error
                client.close()
        self._release_lite()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def client(self) -> MilvusClient:
        """The underlying ``pymilvus.MilvusClient``, for operations spladekit does not wrap."""
        if self._client is None:
            raise StoreError(f"the store for {self.where} is closed; open a new one")
        return self._client

    def call(self, operation: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(*args, **kwargs)``, its failure a StoreError naming ``operation``."""
        pymilvus = pymilvus_module()
        if self.timeout is not None:
            kwargs.setdefault("timeout", self.timeout)
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except pymilvus.exceptions.MilvusException as exc:
            raise StoreError(
                f"Milvus {operation} failed for {self.where}: {one_line(exc.message)}"
            ) from exc
        except Exception as exc:  # gRPC errors that pymilvus passes through unwrapped
            if type(exc).__module__.startswith("grpc"):
                raise StoreError(
                    f"Milvus {operation} failed for {self.where}: {one_line(str(exc))}"
                ) from exc
            raise

    def write_call(self, operation: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """A call that writes, one at a time per engine in this process; on Milvus Lite also
        refused after an I/O error (see :mod:`spladekit.store.lite`).

        On a server, too, writes from one process run one at a time: a Milvus 2.5 server's
        upsert is a delete and an insert, and two upserts of one id racing each other were
        seen to leave two rows under it. Writers in several processes keep one writer per id
        (the Ray sink's tasks write disjoint ids).
        """
        if not self.is_lite or self._lite_path is None:
            with _server_write_lock(self.uri):
                return self.call(operation, method, *args, **kwargs)
        path = self._lite_path
        with lite.write_lock(path):
            failed = lite.failure(path)
            if failed is not None:
                raise StoreError(
                    f"Milvus {operation} refused for {self.where}: an earlier write to this "
                    f"Milvus Lite file failed ({failed}), after which milvus-lite may lose "
                    "later writes; free the space (or fix the disk), then close every store on "
                    "the file and open it again (nothing acknowledged before the error is lost)"
                )
            try:
                return self.call(operation, method, *args, **kwargs)
            except StoreError as exc:
                if lite.is_io_error(str(exc)):
                    lite.mark_failed(path, one_line(str(exc.__cause__ or exc)))
                    raise StoreError(
                        f"{exc}; this store now refuses writes: free the space (or fix the "
                        "disk), then close it and open the file again"
                    ) from exc
                raise


_SERVER_WRITE_LOCKS: dict[str, threading.Lock] = {}
_SERVER_LOCKS_GUARD = threading.Lock()


def _server_write_lock(uri: str) -> threading.Lock:
    with _SERVER_LOCKS_GUARD:
        return _SERVER_WRITE_LOCKS.setdefault(uri, threading.Lock())


__all__ = ["DEFAULT_URI", "SERVER_SCHEMES", "MilvusConnection", "check_uri", "pymilvus_module"]
