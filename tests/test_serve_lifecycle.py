"""`spladekit serve` as a process: loading, overload, a bounded load test, SIGTERM, failures.

Each test runs real server processes on loopback ports the system chooses; the load test is
bounded (32 clients for a fixed few seconds) and stops by itself.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from spladekit import SpladeEncoder
from spladekit.cli import main
from support.serve_process import ServeProcess, post

LOAD_CLIENTS = 32
LOAD_SECONDS = 4.0
QUERIES = [
    "vitamin d and fractures", "who invented the telephone", "graphene conductivity",
    "protein folding kinetics", "insulin resistance", "x",
]


def huge_texts(n: int, words: int = 3000) -> list[str]:
    """Texts of thousands of tokens: slow to encode in windows, so requests stay in flight."""
    return [" ".join(f"protein{i} folding{j % 50}" for j in range(words // 2)) for i in range(n)]


@pytest.fixture(scope="module")
def small_server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A server admitting 8 texts at once, encoding long texts in windows, without a collection."""
    process = ServeProcess(
        ["--model", str(tiny_model_dir), "--max-concurrent-requests", "8",
         "--max-client-batch-size", "8", "--long-documents", "window"],
        tmp_path_factory.mktemp("small-server"),
    ).start()
    process.wait_ready()
    yield process
    assert process.stop() == 0, process.log


def test_a_full_queue_answers_429_at_once(small_server: ServeProcess) -> None:
    heavy: dict[str, httpx.Response] = {}

    def send_heavy() -> None:
        heavy["answer"] = post(small_server.url, "/embed_sparse", {"inputs": huge_texts(8)})

    thread = threading.Thread(target=send_heavy)
    thread.start()
    deadline = time.monotonic() + 30
    while small_server.metric("spladekit_queue_depth") < 8 and "answer" not in heavy:
        assert time.monotonic() < deadline, "the heavy request never showed in the queue"
        time.sleep(0.005)
    assert "answer" not in heavy, "the heavy request finished too fast to test overload"
    refused = post(small_server.url, "/embed_sparse", {"inputs": "one more"})
    # At once: the refusal came back while the heavy request was still being encoded (a
    # server that queued it instead would answer only after the heavy request, and with 200).
    still_heavy = "answer" not in heavy
    thread.join(timeout=120)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error_type"] == "Overloaded"
    assert "8 texts are queued or being encoded and the limit is 8" in refused.json()["error"]
    assert still_heavy, "the 429 came only after the heavy request was answered"
    assert heavy["answer"].status_code == 200


def test_32_clients_get_only_200_or_429_and_the_server_answers_afterwards(
    small_server: ServeProcess, tiny_model_dir: Path
) -> None:
    statuses: list[int] = []
    failures: list[BaseException] = []
    stop_at = time.monotonic() + LOAD_SECONDS
    barrier = threading.Barrier(LOAD_CLIENTS)

    def client(n: int) -> None:
        try:
            with httpx.Client(timeout=30) as http:
                barrier.wait()
                i = n
                while time.monotonic() < stop_at:
                    body = {"inputs": QUERIES[i % len(QUERIES)] if i % 4 else QUERIES[:3],
                            "prompt_name": "query"}
                    statuses.append(
                        http.post(f"{small_server.url}/embed_sparse", json=body).status_code
                    )
                    i += 1
        except BaseException as exc:  # a timeout or a dropped connection fails the test
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(LOAD_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=LOAD_SECONDS + 60)
    assert not failures, f"requests failed outright: {failures[:3]}"
    assert statuses and set(statuses) <= {200, 429}, sorted(set(statuses))
    assert statuses.count(200) > 0
    # Afterwards: healthy, nothing left queued, and answers correct vectors.
    assert httpx.get(f"{small_server.url}/health", timeout=10).status_code == 200
    assert small_server.metric("spladekit_queue_depth") == 0
    answer = post(small_server.url, "/embed_sparse", {"inputs": QUERIES, "prompt_name": "query"})
    expected = SpladeEncoder(tiny_model_dir, long_documents="window").encode_queries(QUERIES)
    got = np.zeros(expected.shape, dtype=np.float32)
    for i, row in enumerate(answer.json()):
        for entry in row:
            got[i, entry["index"]] = entry["value"]
    assert float(np.abs(got - expected.toarray()).max()) <= 1e-5


def test_without_a_collection_search_and_documents_say_so(small_server: ServeProcess) -> None:
    for path, body in (("/search", {"query": "x"}), ("/documents", {"documents": []})):
        answer = post(small_server.url, path, body)
        assert answer.status_code == 404
        assert "this server has no collection" in answer.json()["error"]


def test_503_while_loading_then_sigterm_finishes_in_flight_work_and_exits_0(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    process = ServeProcess(
        ["--model", str(tiny_model_dir), "--long-documents", "window",
         "--max-client-batch-size", "64", "--max-concurrent-requests", "64"],
        tmp_path,
    ).start()
    try:
        early = post(process.url, "/embed_sparse", {"inputs": "too early"})
        assert early.status_code == 503 and early.json()["error_type"] == "Unhealthy"
        assert "loading" in early.json()["error"]
        seen = process.wait_ready()
        assert seen[0] == 503 and seen[-1] == 200

        texts = huge_texts(8)
        answer: dict[str, httpx.Response] = {}
        thread = threading.Thread(
            target=lambda: answer.setdefault(
                "r", post(process.url, "/embed_sparse", {"inputs": texts})
            )
        )
        thread.start()
        deadline = time.monotonic() + 30
        while process.metric("spladekit_queue_depth") == 0:
            assert time.monotonic() < deadline and "r" not in answer, process.log
            time.sleep(0.005)
        process.terminate()
        # New connections are refused while the accepted request is still being encoded.
        host, port = process.url.removeprefix("http://").rsplit(":", 1)
        refused = False
        while not refused and "r" not in answer:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                time.sleep(0.01)
            except OSError:
                refused = True
        thread.join(timeout=300)
        assert refused, "the server still accepted connections after SIGTERM"
        assert answer["r"].status_code == 200 and len(answer["r"].json()) == len(texts)
        assert process.wait(timeout=60) == 0
        assert process.log.rstrip().endswith("spladekit serve: stopped")
    finally:
        process.stop()


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


def test_listening_beyond_loopback_without_a_key_warns(tiny_model_dir: Path) -> None:
    # A port held by another socket (never listening, so nothing is exposed): the command
    # warns, then fails to bind with one line instead of a traceback.
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        port = str(holder.getsockname()[1])
        code, err = run_cli("serve", "--model", str(tiny_model_dir), "--host", "0.0.0.0",
                            "--port", port)
        assert code == 1
        assert err.startswith("warning: listening on 0.0.0.0 without an API key")
        assert f"error: cannot listen on 0.0.0.0:{port}" in err and err.count("\n") == 2
        code, err = run_cli("serve", "--model", str(tiny_model_dir), "--host", "0.0.0.0",
                            "--port", port, "--api-key", "k")
        assert code == 1 and "warning" not in err and err.startswith("error: cannot listen")


def test_a_model_that_cannot_load_stops_the_server_with_one_line(tmp_path: Path) -> None:
    process = ServeProcess(["--model", str(tmp_path / "no-such-model")], tmp_path).start()
    assert process.wait(timeout=120) == 1
    lines = process.log.strip().splitlines()
    assert lines[0].startswith("spladekit serve: listening on http://127.0.0.1:")
    assert lines[-1].startswith("error: ") and "no-such-model" in lines[-1]


def test_info_reports_the_batching_limits_it_was_given(small_server: ServeProcess) -> None:
    info: dict[str, Any] = json.loads(httpx.get(f"{small_server.url}/info", timeout=10).text)
    assert (info["max_concurrent_requests"], info["max_client_batch_size"], info["auth"]) == (
        8, 8, False
    )


@pytest.mark.parametrize("package", ["starlette", "uvicorn", "prometheus_client"])
def test_a_missing_web_dependency_names_the_install_command(
    package: str, tiny_model_dir: Path
) -> None:
    code = (
        f"import sys; sys.modules[{package!r}] = None\n"  # as if it were not installed
        "from spladekit.cli import main\n"
        f"main(['serve', '--model', {str(tiny_model_dir)!r}, '--port', '0'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: the SPLADE service needs {package}: "
                                  'pip install "spladekit[serve]"')
