"""SpladeClient: the embedding function's interface, encoding on a real server.

Against the session's `spladekit serve` process, the client's results equal in-process
`SpladeEmbeddingFunction` results with the same settings, and a Retriever built on it gives the
same hits. Against a stand-in for text-embeddings-inference (TEI's /info and /embed_sparse as
TEI's router source defines them, served by uvicorn here) the client works within the limits
TEI imposes. Unreachable, slow and refusing servers raise ServiceError with a clear message.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spladekit import (
    MemoryStore,
    Retriever,
    ServiceError,
    SparseVectors,
    SpladeClient,
    SpladeEncoder,
)

TEXTS = [
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "who invented the telephone",
    "",
    "Graphene conducts electricity better than copper at room temperature " * 3,
]


def assert_same(got: Any, want: Any) -> None:
    assert isinstance(got, SparseVectors) and got.dtype == np.float32
    assert got.shape == want.shape
    assert float(np.abs(got.toarray() - want.toarray()).max(initial=0)) <= 1e-5
    assert (got != 0).nnz == got.nnz  # no explicit zeros


@pytest.fixture(scope="module")
def client(served: Any) -> Iterator[SpladeClient]:
    with SpladeClient(served.url, api_key=served.key) as c:
        yield c


def test_the_client_encodes_as_the_in_process_function(served: Any, client: SpladeClient) -> None:
    ref = served.reference
    assert_same(client.encode_documents(TEXTS), ref.encode_documents(TEXTS))
    assert_same(client.encode_queries(TEXTS), ref.encode_queries(TEXTS))
    assert_same(client(TEXTS), ref(TEXTS))
    assert client.dim == ref.dim
    assert client.model_identity == ref.model_identity
    vectors = client.encode_queries(["thermal conductivity of graphene"])
    assert client.decode(vectors, top_k=5) == ref.decode(vectors, top_k=5)
    assert client.encode_documents([]).shape == (0, ref.dim)


def test_long_lists_go_in_several_requests_with_progress(served: Any, client: SpladeClient) -> None:
    texts = [f"document {i} about {TEXTS[i % 4]}" for i in range(70)]  # over 32 per request
    done: list[int] = []
    vectors = client.encode_documents(texts, progress=done.append)
    assert done == [32, 32, 6]
    assert_same(vectors, served.reference.encode_documents(texts))


def test_a_retriever_on_the_client_finds_what_the_in_process_one_finds(
    served: Any, client: SpladeClient
) -> None:
    records = [(f"r{i}", text) for i, text in enumerate(TEXTS)]
    remote = Retriever(client, MemoryStore())
    local = Retriever(served.reference, MemoryStore())
    for retriever in (remote, local):
        assert retriever.index(records).encoded == len(records)
    query = "graphene electricity"
    got, want = remote.search(query, k=3), local.search(query, k=3)
    assert [h.id for h in got] == [h.id for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-5)
    explained = remote.explain(query, k=1)
    assert explained.hits[0].terms == local.explain(query, k=1).hits[0].terms


def test_one_client_is_safe_to_share_between_threads(served: Any, client: SpladeClient) -> None:
    expected = {i: served.reference.encode_queries([f"{TEXTS[i % 4]} {i}"]) for i in range(16)}
    results: dict[int, Any] = {}
    barrier = threading.Barrier(8)

    def work(worker: int) -> None:
        barrier.wait()
        for i in range(worker, 16, 8):
            results[i] = client.encode_queries([f"{TEXTS[i % 4]} {i}"])

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for i, want in expected.items():
        assert_same(results[i], want)


# -- failures ------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_a_clear_error_at_once() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    started = time.perf_counter()
    with SpladeClient(url) as remote, pytest.raises(ServiceError) as error:
        remote.encode_queries(["anything"])
    assert time.perf_counter() - started < 5
    assert str(error.value).startswith(f"cannot reach the SPLADE service at {url}")
    assert "check that it is running and the address" in str(error.value)


def test_a_server_that_does_not_answer_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with SpladeClient(url, timeout=0.5) as remote, pytest.raises(ServiceError) as error:
            remote.encode_queries(["anything"])
    assert "did not answer GET /info within 0.5 s" in str(error.value)


def test_refusals_carry_the_servers_status_and_message(served: Any) -> None:
    with SpladeClient(served.url, api_key="wrong") as remote, pytest.raises(ServiceError) as e:
        remote.encode_queries(["x"])
    assert "answered GET /info with 401 (Unauthorized:" in str(e.value)
    assert "give the right api_key" in str(e.value)
    remote = SpladeClient(served.url, api_key=served.key, truncate=False)
    with remote, pytest.raises(ServiceError) as e:
        remote.encode_queries(["word " * 100])  # over the queries' 32 tokens
    assert "with 422 (Validation: text at position 0 has" in str(e.value)


# -- a TEI stand-in --------------------------------------------------------------------------


def tei_app(encoder: SpladeEncoder) -> Any:
    """/info and /embed_sparse as TEI answers them for a SPLADE model without prompts."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def info(request: Request) -> JSONResponse:
        return JSONResponse({
            "model_id": "naver/splade-tiny", "model_sha": None, "model_dtype": "float32",
            "model_type": {"embedding": {"pooling": "splade"}}, "max_concurrent_requests": 512,
            "max_input_length": 512, "max_batch_tokens": 16384, "max_batch_requests": None,
            "max_client_batch_size": 4, "auto_truncate": True, "tokenization_workers": 2,
            "version": "1.9.0",
        })

    async def embed_sparse(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        if body.get("prompt_name") is not None:
            return JSONResponse(
                {"error": f"`default-prompt-name` is set to `{body['prompt_name']}` but no "
                 "prompts were found in the Sentence Transformers configuration",
                 "error_type": "Validation"}, status_code=422,
            )
        texts = [body["inputs"]] if isinstance(body["inputs"], str) else body["inputs"]
        vectors = encoder.encode(texts)
        rows = []
        for i in range(vectors.shape[0]):
            lo, hi = vectors.indptr[i], vectors.indptr[i + 1]
            rows.append([{"index": int(j), "value": float(v)}
                         for j, v in zip(vectors.indices[lo:hi], vectors.data[lo:hi], strict=True)])
        return JSONResponse(rows)

    return Starlette(routes=[Route("/info", info), Route("/embed_sparse", embed_sparse,
                                                            methods=["POST"])])


@pytest.fixture(scope="module")
def tei_url(tiny_encoder: SpladeEncoder) -> Iterator[str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(tei_app(tiny_encoder), log_config=None,
                                           access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


def test_against_tei_dim_and_decode_need_the_vocabulary(
    tei_url: str, tiny_encoder: SpladeEncoder, tiny_model_dir: Path
) -> None:
    with SpladeClient(tei_url) as remote:
        with pytest.raises(ServiceError, match="does not publish its vocabulary size"):
            remote.encode_queries(["x"])
        with pytest.raises(ServiceError, match="create the client with vocabulary="):
            remote.decode(tiny_encoder.encode(["x"]))
        assert remote.model_identity is None
    # What a TEI user has: the model's tokenizer.json, whose WordPiece vocabulary maps tokens
    # to indices.
    table = json.loads((tiny_model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = table["model"]["vocab"]
    vocabulary = [""] * len(vocab)
    for token, index in vocab.items():
        vocabulary[index] = token
    with SpladeClient(tei_url, vocabulary=vocabulary) as remote:
        assert remote.dim == tiny_encoder.dim
        queries = remote.encode_queries(TEXTS)  # 4 per request: TEI's max_client_batch_size
        assert_same(queries, tiny_encoder.encode(TEXTS))
        assert_same(remote.encode_documents(TEXTS), queries)  # TEI: no prompts, one encoding
        assert remote.decode(queries, top_k=3) == tiny_encoder.decode(queries, top_k=3)
    remote = SpladeClient(tei_url, dim=tiny_encoder.dim, prompts=True)
    with remote, pytest.raises(ServiceError, match="no prompts were found"):
        remote.encode_queries(["x"])


def test_without_httpx_the_error_names_the_install_command() -> None:
    code = (
        "import sys; sys.modules['httpx'] = None\n"  # as if it were not installed
        "import spladekit\n"
        "try:\n"
        "    spladekit.SpladeClient\n"
        "except spladekit.MissingDependencyError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.startswith('SpladeClient needs httpx: pip install "spladekit[serve]"')
