"""Nobody in: with the default settings (no API key) the service refuses cross-site writes,
foreign Host names, oversized or slow request heads and bodies, and JSON it cannot hold.

One real ``spladekit serve`` process without a key, with a Milvus Lite collection.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support.serve_process import ServeProcess, post


@pytest.fixture(scope="module")
def open_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("guard")
    process = ServeProcess(
        [
            "--model", str(tiny_model_dir), "--uri", str(folder / "guard.db"),
            "--collection", "guard", "--body-timeout", "1", "--header-timeout", "2",
            "--max-header-bytes", "8192", "--max-headers", "50",
        ],
        folder,
        env={"SPLADEKIT_API_KEY": ""},
    ).start()
    try:
        process.wait_ready()
        yield process.url
    finally:
        assert process.stop() == 0, process.log


def stored(url: str, doc_id: str) -> bool:
    answer = post(url, "/search", {"query": "planted document words", "k": 50})
    assert answer.status_code == 200, answer.text
    return any(hit["id"] == doc_id for hit in answer.json()["hits"])


def raw_request(url: str, data: bytes, wait: float = 10.0) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


PLANT = {"documents": [{"id": "planted", "text": "planted document words"}]}


def test_a_simple_cross_site_post_stores_nothing(open_server: str) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        answer = httpx.post(
            f"{open_server}/documents", content=json.dumps(PLANT).encode(),
            headers={**headers, "Origin": "https://evil.example"}, timeout=30,
        )
        assert answer.status_code in (403, 415), answer.text
        answer = httpx.post(
            f"{open_server}/documents", content=json.dumps(PLANT).encode(), headers=headers,
            timeout=30,
        )
        assert answer.status_code == 415, answer.text
        assert "application/json" in answer.json()["error"]
    assert not stored(open_server, "planted")


def test_a_json_post_from_another_origin_is_refused(open_server: str) -> None:
    answer = post(open_server, "/documents", PLANT, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "evil.example" in answer.json()["error"]
    answer = post(open_server, "/documents", PLANT, headers={"Origin": "null"})
    assert answer.status_code == 403
    assert not stored(open_server, "planted")
    # The server's own page may.
    own = post(open_server, "/search", {"query": "x"}, headers={"Origin": open_server})
    assert own.status_code == 200, own.text


def test_a_foreign_host_is_refused(open_server: str) -> None:
    port = urlsplit(open_server).port
    for host in (f"rebound.example:{port}", "evil.example", "127.0.0.1.evil.example"):
        answer = post(open_server, "/documents", PLANT, headers={"Host": host})
        assert answer.status_code == 421, (host, answer.text)
        assert "--allowed-hosts" in answer.json()["error"]
        assert httpx.get(f"{open_server}/info", headers={"Host": host}).status_code == 421
    assert post(open_server, "/search", {"query": "x"},
                headers={"Host": f"localhost:{port}"}).status_code == 200
    # Probes keep working under any name.
    assert httpx.get(f"{open_server}/health", headers={"Host": "probe"}).status_code == 200
    no_host = raw_request(open_server, b"GET /info HTTP/1.0\r\n\r\n")
    assert no_host.startswith(b"HTTP/1.1 400")
    assert not stored(open_server, "planted")


def test_oversized_and_too_many_headers_are_refused(open_server: str) -> None:
    big = post(open_server, "/search", {"query": "x"}, headers={"X-Big": "a" * 64_000})
    assert big.status_code == 431
    many = post(open_server, "/search", {"query": "x"},
                headers={f"X-H{i}": "1" for i in range(60)})
    assert many.status_code == 431 and "headers" in many.json()["error"]


def test_an_unfinished_huge_header_is_cut_off(open_server: str) -> None:
    # The head never ends: the server answers once it passes the limit, not when it ends.
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000
    assert raw_request(open_server, head).startswith(b"HTTP/1.1 431")


def test_slow_heads_and_short_bodies_time_out(open_server: str) -> None:
    port = urlsplit(open_server).port
    unfinished = raw_request(open_server, b"GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert unfinished.startswith(b"HTTP/1.1 408")
    short = raw_request(
        open_server,
        f"POST /search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json"
        "\r\nContent-Length: 100\r\n\r\n{\"query\":".encode(),
    )
    assert short.startswith(b"HTTP/1.1 408")


@pytest.mark.parametrize("path", ["/embed_sparse", "/search", "/documents"])
def test_deeply_nested_bodies_get_422(open_server: str, path: str) -> None:
    body = b'{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    answer = post(open_server, path, body)
    assert answer.status_code == 422 and "nests deeper" in answer.json()["error"]
    deep = b'{"documents": [{"id": "d", "text": "t", "metadata": ' + b'{"a": ' * 50 + b"1" + (
        b"}" * 50) + b"}]}"
    answer = post(open_server, "/documents", deep)
    assert answer.status_code == 422, answer.text


def test_huge_numbers_get_422_naming_the_field(open_server: str) -> None:
    answer = post(open_server, "/search", b'{"query": "x", "k": ' + b"9" * 5000 + b"}")
    assert answer.status_code == 422 and answer.json()["error"].startswith("k:")
    answer = post(open_server, "/search", b'{"query": "x", "weights": [1e400, 1]}')
    assert answer.status_code == 422 and "weights[0]" in answer.json()["error"]


def test_weights_whose_fused_score_overflows_are_refused(open_server: str) -> None:
    answer = post(open_server, "/search", {"query": "x", "weights": [1e308, 1e308]})
    assert answer.status_code == 422 and "finite" in answer.json()["error"]


def test_a_page_on_another_origin_cannot_write(open_server: str) -> None:
    from test_serve_page import CHROMIUM_ARGS, chromium_path

    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium binary (scripts/setup.sh installs the Debian chromium package)")
    from playwright.sync_api import sync_playwright

    target = f"{open_server}/documents"
    body = json.dumps(PLANT)
    attack = f"""<!doctype html><html><body>
<form id="f" method="post" enctype="text/plain" action="{target}" target="sink">
<input name='{body[:-1]}' value='}}'></form><iframe name="sink"></iframe>
<script>
window.done = (async () => {{
  const results = [];
  for (const type of ["text/plain", "application/json"]) {{
    try {{
      await fetch("{target}", {{method: "POST", mode: "no-cors",
        headers: {{"Content-Type": type}}, body: {json.dumps(body)}}});
      results.push("sent");
    }} catch (e) {{ results.push("blocked"); }}
  }}
  document.getElementById("f").submit();
  return results;
}})();
</script></body></html>"""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("http://attacker.example/", lambda route: route.fulfill(
                body=attack, content_type="text/html"))
            page.goto("http://attacker.example/")
            results: Any = page.evaluate("window.done")
            assert len(results) == 2
            page.wait_for_timeout(500)  # let the form's navigation reach the server
        finally:
            browser.close()
    assert not stored(open_server, "planted")


def test_the_host_rule_per_listening_address() -> None:
    from spladekit.serve.request_checks import HostRule, host_name

    assert [host_name(h) for h in ("LocalHost:8000", "[::1]:8000", "a.example.", "x:y", "")] == [
        "localhost", "::1", "a.example", None, None]
    loopback = HostRule("127.0.0.1", ())
    assert all(loopback.allows(h) for h in ("127.0.0.1", "localhost", "::1"))
    assert not loopback.allows("10.0.0.5") and not loopback.allows("rebound.example")
    everywhere = HostRule("0.0.0.0", ())
    assert everywhere.allows("10.0.0.5") and everywhere.allows("::1")
    assert not everywhere.allows("rebound.example")
    proxied = HostRule("127.0.0.1", ("search.example.com",))
    assert proxied.allows("search.example.com") and not proxied.allows("other.example.com")
    assert HostRule("127.0.0.1", ("*",)).allows("anything.example")
