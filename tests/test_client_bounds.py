"""The client stays bounded when the server misbehaves: a total deadline per call, whatever
the pace of the answer, and a largest answer read, whatever its length. A real HTTP server on
loopback (a socket and a thread) plays the misbehaving side."""

from __future__ import annotations

import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from spladekit import ServiceError, SpladeClient

INFO = {"server": "spladekit", "dim": 8, "max_client_batch_size": 32, "model_id": "m",
        "model_sha": "0" * 16}
Handler = Callable[[socket.socket], None]


class RawServer:
    """Answers /info properly and /embed_sparse with ``handler``, one thread per connection,
    until closed."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                while True:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        data = conn.recv(65536)
                        if not data:
                            return
                        head += data
                    header, _, rest = head.partition(b"\r\n\r\n")
                    length = 0
                    for line in header.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    if header.split(b" ")[1] == b"/info":
                        body = json.dumps(INFO).encode()
                        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
                        continue
                    self.handler(conn)
                    return
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture()
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def dripping(conn: socket.socket) -> None:
    """A valid start, then one byte every 0.3 s, for a minute."""
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                 b"content-length: 100000\r\n\r\n[")
    for _ in range(200):
        time.sleep(0.3)
        conn.sendall(b" ")


def endless(conn: socket.socket) -> None:
    """A chunked answer that never ends, as fast as the socket takes it."""
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                 b"transfer-encoding: chunked\r\n\r\n")
    block = b" " * 65536
    chunk = b"%x\r\n%s\r\n" % (len(block), block)
    conn.sendall(b"1\r\n[\r\n")
    for _ in range(100_000):  # 6.5 GB at most; the client stops long before
        conn.sendall(chunk)


def declaring_a_huge_answer(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                 b"content-length: 999999999999\r\n\r\n[")
    time.sleep(5)


def test_a_slowly_dripping_answer_fails_the_call_at_its_deadline(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(dripping)
    started = time.monotonic()
    with SpladeClient(server.url, timeout=2) as remote, pytest.raises(ServiceError) as error:
        remote.encode_documents(["a text"])
    assert time.monotonic() - started < 2 + 1.5  # the deadline, plus /info's round trip
    assert "did not answer POST /embed_sparse within 2 s" in str(error.value)


def test_an_endless_answer_fails_the_call_without_being_held_in_memory(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(endless)
    limit = 4 << 20
    tracemalloc.start()
    try:
        with SpladeClient(server.url, timeout=30, max_answer_bytes=limit) as remote, \
                pytest.raises(ServiceError) as error:
            remote.encode_documents(["a text"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "larger than max_answer_bytes (4194304 bytes)" in str(error.value)
    assert peak < 3 * limit  # what was read, not what was sent


def test_an_answer_declaring_more_than_the_limit_is_refused_before_it_is_read(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(declaring_a_huge_answer)
    started = time.monotonic()
    with SpladeClient(server.url, timeout=30) as remote, pytest.raises(ServiceError) as error:
        remote.encode_documents(["a text"])
    assert time.monotonic() - started < 3
    assert "it declares 999999999999 bytes" in str(error.value)


@pytest.mark.parametrize("value", [0, -1, 1.5, "many", True])
def test_max_answer_bytes_must_be_a_positive_int(value: object) -> None:
    with pytest.raises(Exception, match="max_answer_bytes"):
        SpladeClient("http://127.0.0.1:9", max_answer_bytes=value)  # type: ignore[arg-type]
