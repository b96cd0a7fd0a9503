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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from spladekit import (
    InvalidArgumentError,
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
    # "At once": one attempt and no retries, which the MockTransport test below counts.
    url = f"http://127.0.0.1:{closed_port()}"
    with SpladeClient(url) as remote, pytest.raises(ServiceError) as error:
        remote.encode_queries(["anything"])
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


# -- answers a real server cannot easily give: a server behind httpx.MockTransport ----------

DIM = 50
VOCABULARY = [f"tok{i}" for i in range(DIM)]
SPLADEKIT_INFO = {"server": "spladekit", "dim": DIM, "max_client_batch_size": 3,
                  "model_id": "fake-splade", "model_sha": "f" * 16}
TEI_INFO = {"model_id": "naver/splade-tiny", "model_sha": None, "max_client_batch_size": 4,
            "version": "1.9.0"}


def row_of(text: str) -> list[dict[str, Any]]:
    """What the fake server answers for a text: one entry, at the text's length."""
    return [{"index": len(text), "value": float(len(text))}]


class FakeServer:
    """/info, /vocabulary and /embed_sparse in a function, with a log of every request."""

    def __init__(self, info: dict[str, Any] | None = None,
                 embed: Callable[[dict[str, Any]], httpx.Response] | None = None) -> None:
        self.info = SPLADEKIT_INFO if info is None else info
        self.embed = embed or (lambda body: httpx.Response(
            200, json=[row_of(t) for t in body["inputs"]]
        ))
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/info":
            return httpx.Response(200, json=self.info)
        if request.url.path == "/vocabulary":
            return httpx.Response(200, json=VOCABULARY)
        assert (request.method, request.url.path) == ("POST", "/embed_sparse")
        return self.embed(json.loads(request.content))

    def client(self, **options: Any) -> SpladeClient:
        return SpladeClient("http://fake.test", transport=httpx.MockTransport(self), **options)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == "/embed_sparse"]


def answering(rows: Any) -> FakeServer:
    return FakeServer(embed=lambda body: httpx.Response(200, json=rows))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "expected a list of 2 vectors, got []"),
        ({"vectors": []}, "expected a list of 2 vectors, got {'vectors': []}"),
        ([[{"index": 1}], []], 'expected lists of {"index": int, "value": float}'),
        ([[{"index": 1.5, "value": 1.0}], []], 'expected lists of {"index": int, "value"'),
        ([[{"index": True, "value": 1.0}], []], 'expected lists of {"index": int, "value"'),
        ([[{"index": 1, "value": "0.5"}], []], 'expected lists of {"index": int, "value"'),
        ([{"index": 1, "value": 0.5}, []], 'expected lists of {"index": int, "value"'),
        ([[{"index": 1, "value": 1e39}], []], "expected finite float32 values"),
        ([[{"index": 3, "value": 1.0}, {"index": 3, "value": 2.0}], []],
         "expected each index once per vector"),
    ],
)
def test_a_malformed_answer_is_an_error_naming_what_was_expected(rows: Any, message: str) -> None:
    with answering(rows).client() as remote, pytest.raises(ServiceError) as error:
        remote.encode_documents(["one", "two"])
    assert str(error.value).startswith("unexpected answer from http://fake.test/embed_sparse: ")
    assert message in str(error.value)
    assert str(error.value).endswith("is this a SPLADE service?")


@pytest.mark.parametrize("index", [DIM, DIM + 1000, -1])
def test_an_index_outside_the_vectors_width_names_the_index_and_dim(index: int) -> None:
    rows = [[{"index": 2, "value": 1.0}, {"index": index, "value": 1.0}]]
    with answering(rows).client() as remote, pytest.raises(ServiceError) as error:
        remote.encode_documents(["one"])
    assert str(error.value) == (
        f"the service at http://fake.test sent index {index} for vectors of dim {DIM}; "
        "is dim= the served model's?"
    )


def test_unsorted_indices_are_sorted_and_zero_values_dropped() -> None:
    rows = [[{"index": 7, "value": 0.5}, {"index": 2, "value": 0.0}, {"index": 3, "value": 1.5}],
            [{"index": 9, "value": 0}]]
    with answering(rows).client() as remote:
        vectors = remote.encode_documents(["one", "two"])
    assert isinstance(vectors, SparseVectors) and vectors.shape == (2, DIM)
    assert vectors.dtype == np.float32 and vectors.has_sorted_indices
    assert vectors.indptr.tolist() == [0, 2, 2]
    assert vectors.indices.tolist() == [3, 7] and vectors.data.tolist() == [1.5, 0.5]


def test_a_tei_server_needs_dim_and_gets_no_prompt_name() -> None:
    server = FakeServer(info=TEI_INFO)
    with server.client() as remote:
        with pytest.raises(ServiceError) as error:
            remote.encode_queries(["x"])
        assert "does not publish its vocabulary size (a plain TEI server)" in str(error.value)
        assert "create the client with dim=" in str(error.value)
        with pytest.raises(ServiceError, match="create the client with vocabulary="):
            remote.decode(np.zeros((1, DIM), dtype=np.float32))
        assert remote.model_identity is None
    assert server.paths() == ["GET /info"]  # asked once, nothing encoded
    with server.client(dim=DIM) as remote:
        assert remote.dim == DIM
        remote.encode_queries(["a", "bb"])
        remote.encode_documents(["a"])
    with server.client(dim=DIM, prompts=True) as remote:
        remote.encode_queries(["a"])
    assert server.bodies() == [{"inputs": ["a", "bb"]}, {"inputs": ["a"]},
                               {"inputs": ["a"], "prompt_name": "query"}]


@pytest.mark.parametrize(
    ("info", "error_type", "message"),
    [
        ({**SPLADEKIT_INFO, "dim": 0}, ServiceError, "expected a positive dim, got 0"),
        ({**SPLADEKIT_INFO, "dim": "50"}, ServiceError, "expected a positive dim, got '50'"),
        (SPLADEKIT_INFO, InvalidArgumentError,
         f"dim=7 was given but the service's model has dim {DIM}"),
    ],
)
def test_a_dim_that_is_not_the_services_is_refused(
    info: dict[str, Any], error_type: type[Exception], message: str
) -> None:
    with FakeServer(info=info).client(dim=7) as remote, pytest.raises(error_type) as error:
        remote.encode_queries(["x"])
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("status", "body", "shown"),
    [
        (401, {"error": "missing or wrong API key", "error_type": "Unauthorized"},
         "401 (Unauthorized: missing or wrong API key); give the right api_key"),
        (413, {"error": "the body is over the limit", "error_type": "PayloadTooLarge"},
         "413 (PayloadTooLarge: the body is over the limit); send fewer or shorter texts per "
         "request (batch_size=)"),
        (429, {"error": "512 texts are queued", "error_type": "Overloaded"},
         "429 (Overloaded: 512 texts are queued); the service is overloaded, retry shortly"),
        (503, {"error": "the model is loading", "error_type": "Unhealthy"},
         "503 (Unhealthy: the model is loading); the service is loading or stopping, retry "
         "shortly"),
        (500, "Internal Server Error", "500 (Internal Server Error)"),
        (502, {"message": "bad gateway"}, "502 ({\"message\": \"bad gateway\"})"),
    ],
)
def test_refusals_map_to_service_errors_with_the_status_and_message(
    status: int, body: Any, shown: str
) -> None:
    def refuse(_: dict[str, Any]) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})

    with FakeServer(embed=refuse).client() as remote, pytest.raises(ServiceError) as error:
        remote.encode_queries(["x"])
    assert str(error.value) == (
        f"the SPLADE service at http://fake.test answered POST /embed_sparse with {shown}"
    )


def test_an_answer_that_is_not_json_is_an_error() -> None:
    server = FakeServer(embed=lambda body: httpx.Response(200, text="<html>proxy</html>"))
    with server.client() as remote, pytest.raises(ServiceError) as error:
        remote.encode_queries(["x"])
    assert "expected JSON, got '<html>proxy</html>'" in str(error.value)


def test_a_read_timeout_is_an_error_naming_the_request_and_the_timeout() -> None:
    def slow(body: dict[str, Any]) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    with FakeServer(embed=slow).client(timeout=2.5) as remote, \
            pytest.raises(ServiceError) as error:
        remote.encode_documents(["x"])
    assert str(error.value) == (
        "the SPLADE service at http://fake.test did not answer POST /embed_sparse within "
        "2.5 s; it may be overloaded, or give a longer timeout"
    )


def test_an_unreachable_server_is_tried_once_without_retries() -> None:
    server = FakeServer()

    def refuse(request: httpx.Request) -> httpx.Response:
        server.requests.append(request)
        raise httpx.ConnectError("connection refused")

    remote = SpladeClient("http://fake.test", transport=httpx.MockTransport(refuse))
    with remote, pytest.raises(ServiceError) as error:
        remote.encode_queries(["x"])
    assert server.paths() == ["GET /info"]
    assert str(error.value).startswith(
        "cannot reach the SPLADE service at http://fake.test (ConnectError: connection refused)"
    )


@pytest.mark.parametrize(("batch_size", "sizes"), [(None, [3, 3, 2]), (5, [5, 3])])
def test_requests_are_split_by_batch_size_and_rows_keep_their_order(
    batch_size: int | None, sizes: list[int]
) -> None:
    texts = ["w" * (n + 1) for n in range(8)]  # text n answers one entry at index n + 1
    server = FakeServer()
    done: list[int] = []
    with server.client(batch_size=batch_size) as remote:
        vectors = remote.encode_documents(texts, progress=done.append)
        assert remote.encode_documents([]).shape == (0, DIM)
    bodies = server.bodies()
    assert [len(b["inputs"]) for b in bodies] == sizes == done
    assert [t for b in bodies for t in b["inputs"]] == texts
    assert vectors.indices.tolist() == [n + 1 for n in range(8)]
    assert vectors.data.tolist() == [float(n + 1) for n in range(8)]


def test_the_key_prompt_name_and_truncate_are_sent_and_info_is_asked_once() -> None:
    server = FakeServer()
    with server.client(api_key="s3cret", truncate=False) as remote:
        assert server.requests == []  # nothing is sent before the client is used
        remote.encode_queries(["q"])
        remote.encode_documents(["d"])
        remote(["p"])
        assert remote.model_identity is not None
        assert remote.model_identity.name == "fake-splade"
        assert remote.decode(remote(["abc"])) == [[("tok3", 3.0)]]
        assert remote.decode(remote(["ab"])) == [[("tok2", 2.0)]]
    assert server.paths() == ["GET /info", "POST /embed_sparse", "POST /embed_sparse",
                              "POST /embed_sparse", "POST /embed_sparse", "GET /vocabulary",
                              "POST /embed_sparse"]
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer s3cret"}
    assert server.bodies()[:3] == [
        {"inputs": ["q"], "truncate": False, "prompt_name": "query"},
        {"inputs": ["d"], "truncate": False, "prompt_name": "document"},
        {"inputs": ["p"], "truncate": False},
    ]
