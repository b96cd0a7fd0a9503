"""`spladekit serve` over real HTTP: TEI's /embed_sparse contract, its errors and limits, the key,
/info, /metrics, and the collection behind /search and /documents.

Every test talks to one real server process (the session's `served` fixture: splade-tiny, an
API key, a Milvus Lite collection, query and document settings that differ) and compares what
it answers with in-process encoding by `SpladeEmbeddingFunction` with the same settings.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from spladekit import SparseVectors
from support.prometheus import Scrape
from support.serve_process import post

TEXTS = [
    "Vitamin D deficiency is associated with an increased risk of fractures.",
    "who invented the telephone",
    "x",
    "",
    "Graphene conducts electricity better than copper at room temperature " * 4,
    "Protein folding is guided by hydrophobic collapse and " * 60,  # > 512 tokens
]


def rows_to_dense(rows: list[list[dict[str, Any]]], dim: int) -> np.ndarray:
    out = np.zeros((len(rows), dim), dtype=np.float32)
    for i, row in enumerate(rows):
        for entry in row:
            out[i, entry["index"]] = entry["value"]
    return out


def assert_same_vectors(rows: list[list[dict[str, Any]]], expected: SparseVectors) -> None:
    """The answer has TEI's shape (sorted, non-zero entries only) and equals `expected`."""
    assert isinstance(rows, list) and len(rows) == expected.shape[0]
    for i, row in enumerate(rows):
        assert all(set(e) == {"index", "value"} for e in row)
        indices = [e["index"] for e in row]
        assert indices == sorted(indices) and all(e["value"] > 0 for e in row)
        lo, hi = expected.indptr[i], expected.indptr[i + 1]
        assert indices == expected.indices[lo:hi].tolist(), f"row {i}: other non-zeros"
    diff = np.abs(rows_to_dense(rows, expected.shape[1]) - expected.toarray())
    assert float(diff.max(initial=0.0)) <= 1e-5


def embed(served: Any, body: Any, key: str | None = "default") -> httpx.Response:
    return post(served.url, "/embed_sparse", body, served.key if key == "default" else key)


# -- the contract ----------------------------------------------------------------------------


def test_a_single_string_and_a_list_encode_as_the_embedding_function_does(served: Any) -> None:
    one = embed(served, {"inputs": TEXTS[0]})
    assert one.status_code == 200, one.text
    assert_same_vectors(one.json(), served.reference([TEXTS[0]]))
    many = embed(served, {"inputs": TEXTS})
    assert many.status_code == 200
    assert_same_vectors(many.json(), served.reference(TEXTS))
    assert int(many.headers["x-compute-tokens"]) > 0
    assert {"x-queue-time", "x-inference-time", "x-total-time"} <= set(many.headers)


def test_prompt_names_apply_the_query_and_document_settings(served: Any) -> None:
    ref = served.reference
    queries, documents = ref.encode_queries(TEXTS), ref.encode_documents(TEXTS)
    # The settings differ (instructions, query top-k and length): a mix-up would show.
    assert (queries != documents).nnz and (documents != ref(TEXTS)).nnz
    answer = embed(served, {"inputs": TEXTS, "prompt_name": "query"})
    assert_same_vectors(answer.json(), queries)
    answer = embed(served, {"inputs": TEXTS, "prompt_name": "document"})
    assert_same_vectors(answer.json(), documents)


def test_truncation_direction_and_truncate_false(served: Any) -> None:
    encoder = served.reference.encoder
    long_query = "alpha beta gamma delta epsilon zeta eta theta iota kappa " * 5  # > 32 tokens
    for direction in ("left", "Left", "right"):
        answer = embed(served, {"inputs": [long_query, "short one"], "prompt_name": "query",
                                "truncation_direction": direction, "truncate": True})
        expected = encoder.encode(
            [long_query, "short one"], max_length=32, top_k=24, prefix="query: ",
            truncation=direction.lower(),
        )
        assert_same_vectors(answer.json(), expected)
    # truncate false: short texts encode as usual, a text over the limit is refused.
    answer = embed(served, {"inputs": ["short one"], "prompt_name": "query", "truncate": False})
    assert_same_vectors(answer.json(), served.reference.encode_queries(["short one"]))
    answer = embed(served, {"inputs": ["ok", long_query], "prompt_name": "query",
                            "truncate": False})
    assert answer.status_code == 422
    assert answer.json()["error_type"] == "Validation"
    assert re.search(r"text at position 1 has \d+ tokens, more than the limit of 32",
                     answer.json()["error"])


@pytest.mark.parametrize(
    ("body", "status", "error_type", "words"),
    [
        ({"inputs": []}, 400, "Empty", "cannot be empty"),
        ({"inputs": ["x"] * 33}, 413, "Validation",
         "batch size 33 > maximum allowed batch size 32"),
        ({"inputs": ["ok", 3]}, 422, "Validation", "got int at position 1"),
        ({"inputs": {"text": "x"}}, 422, "Validation", "a string or a list of strings"),
        ({"truncate": True}, 422, "Validation", "missing field `inputs`"),
        ({"inputs": "x", "prompt_name": "passage"}, 422, "Validation", "prompt_name must be"),
        ({"inputs": "x", "truncation_direction": "up"}, 422, "Validation", "truncation_direction"),
        ({"inputs": "x", "truncate": "yes"}, 422, "Validation", "truncate must be true or false"),
        (b'{"inputs": ["ok", "\\ud800"]}', 422, "Validation",
         "inputs[1] contains a lone surrogate"),
        (b'{"inputs": "x"', 400, "Validation", "not valid JSON"),
        (b'{"inputs": NaN}', 400, "Validation", "not valid JSON"),
        (b"[1, 2]", 422, "Validation", "must be a JSON object"),
    ],
)
def test_invalid_requests_get_teis_errors(
    served: Any, body: Any, status: int, error_type: str, words: str
) -> None:
    answer = embed(served, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error_type"] == error_type
    assert words in answer.json()["error"]


def test_bodies_over_the_payload_limit_are_refused_before_reading(served: Any) -> None:
    big = b'{"inputs": "' + b"a" * 2_000_000 + b'"}'
    answer = embed(served, big)
    assert answer.status_code == 413
    assert "more than the limit of 2000000" in answer.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"inputs": "'
        for _ in range(30):
            yield b"a" * 100_000
        yield b'"}'

    answer = httpx.post(
        f"{served.url}/embed_sparse", content=chunks(), timeout=60,
        headers={"Authorization": f"Bearer {served.key}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 413 and "over the limit" in answer.json()["error"]


# -- key, public routes, info, metrics -------------------------------------------------------


def test_the_key_guards_everything_but_health_metrics_and_the_page(served: Any) -> None:
    guarded = [("POST", "/embed_sparse"), ("POST", "/search"), ("POST", "/documents"),
               ("GET", "/info"), ("GET", "/vocabulary"), ("GET", "/nowhere")]
    for value in (None, "Bearer wrong-key", f"Bearer {served.key}x", f"Basic {served.key}",
                  served.key):
        headers = {} if value is None else {"Authorization": value}
        for method, path in guarded:
            answer = httpx.request(method, f"{served.url}{path}", headers=headers, json={},
                                   timeout=30)
            assert answer.status_code == 401, (method, path, value)
            assert answer.json()["error_type"] == "Unauthorized"
            assert answer.headers["www-authenticate"] == "Bearer"
    for path in ("/health", "/metrics", "/", "/static/app.js", "/static/style.css"):
        assert httpx.get(f"{served.url}{path}", timeout=30).status_code == 200, path
    answer = httpx.get(f"{served.url}/nowhere", timeout=30,
                       headers={"Authorization": f"Bearer {served.key}"})
    assert answer.status_code == 404 and answer.json()["error_type"] == "NotFound"


def test_info_describes_the_model_and_the_limits(served: Any, tiny_model_dir: Any) -> None:
    info = httpx.get(f"{served.url}/info", timeout=30,
                     headers={"Authorization": f"Bearer {served.key}"}).json()
    encoder = served.reference.encoder
    assert info["server"] == "spladekit"
    assert (info["model_id"], info["model_sha"]) == (
        encoder.model_identity.name, encoder.model_identity.fingerprint
    )
    assert info["dim"] == encoder.dim and info["backend"] == "torch"
    assert (info["max_batch_tokens"], info["max_client_batch_size"], info["payload_limit"],
            info["max_concurrent_requests"]) == (16384, 32, 2_000_000, 512)
    assert info["prompts"]["query"] == {"instruction": "query: ", "top_k": 24}
    assert info["query_max_length"] == 32 and info["collection"] == "served"
    assert info["auth"] is True
    vocabulary = httpx.get(f"{served.url}/vocabulary", timeout=30,
                           headers={"Authorization": f"Bearer {served.key}"}).json()
    assert vocabulary == encoder.vocabulary


def test_metrics_count_requests_by_status_in_prometheus_format(served: Any) -> None:
    embed_400 = {"endpoint": "/embed_sparse", "status": "400"}
    embed_200 = {"endpoint": "/embed_sparse", "status": "200"}
    scraped = {"endpoint": "/metrics", "status": "200"}
    before: Scrape = served.process.scrape()
    assert embed(served, {"inputs": []}).status_code == 400
    for text in ("one", "two"):
        assert embed(served, {"inputs": text}).status_code == 200
    answer = httpx.get(f"{served.url}/metrics", timeout=30)
    media_type, *parameters = answer.headers["content-type"].split(";")
    assert media_type == "text/plain" and any(
        p.strip().startswith("version=") for p in parameters
    ), answer.headers["content-type"]
    after = Scrape(answer.text)

    def grew(name: str, labels: dict[str, str] | None = None) -> float:
        return after.value(name, labels) - before.value(name, labels, default=0.0)

    # Every answer counted once, by endpoint and status; the scrape before this one included.
    assert grew("spladekit_requests_total", embed_400) == 1
    assert grew("spladekit_requests_total", embed_200) == 2
    assert grew("spladekit_requests_total", scraped) == 1
    assert {"endpoint", "status"} == {
        k for labels in after.label_sets("spladekit_requests_total") for k in labels
    }
    assert grew("spladekit_request_duration_seconds_count", {"endpoint": "/embed_sparse"}) == 3
    # Two requests of one text each, one after the other: two encode calls of one text.
    assert grew("spladekit_batch_size_count") == 2 and grew("spladekit_batch_size_sum") == 2
    assert grew("spladekit_encode_duration_seconds_count") == 2
    assert grew("spladekit_queue_duration_seconds_count") == 2
    assert after.value("spladekit_queue_depth") == 0
    types = {
        "spladekit_requests": "counter", "spladekit_request_duration_seconds": "histogram",
        "spladekit_queue_depth": "gauge", "spladekit_batch_size": "histogram",
        "spladekit_batch_tokens": "histogram", "spladekit_encode_duration_seconds": "histogram",
        "spladekit_queue_duration_seconds": "histogram",
    }
    for name, kind in types.items():
        family = after.family(name)
        assert (family.type, bool(family.documentation)) == (kind, True), name
    # A histogram's buckets are cumulative and its +Inf bucket is its count.
    buckets = sorted(
        (float(sample.labels["le"]), sample.value)
        for sample in after.family("spladekit_batch_size").samples
        if sample.name == "spladekit_batch_size_bucket"
    )
    counts = [count for _, count in buckets]
    assert counts == sorted(counts) and buckets[-1][0] == float("inf")
    assert buckets[-1][1] == after.value("spladekit_batch_size_count")


# -- dynamic batching ------------------------------------------------------------------------


def test_concurrent_requests_are_merged_and_each_gets_its_own_rows(served: Any) -> None:
    """24 threads send single-text requests with mixed settings at once; every answer equals
    in-process encoding of its own text, and some encode calls served several requests."""
    ref = served.reference
    variants = {
        "plain": ({}, lambda t: ref([t])),
        "query": ({"prompt_name": "query"}, lambda t: ref.encode_queries([t])),
        "document": ({"prompt_name": "document"}, lambda t: ref.encode_documents([t])),
        "left": ({"prompt_name": "query", "truncation_direction": "left"},
                 lambda t: ref.encoder.encode([t], max_length=32, top_k=24, prefix="query: ",
                                              truncation="left")),
    }
    rng = random.Random(7)
    jobs = [
        (f"{rng.choice(TEXTS[:5])} request {i}", rng.choice(list(variants)))
        for i in range(24 * 6)
    ]
    calls_before = served.process.metric("spladekit_batch_size_count")
    texts_before = served.process.metric("spladekit_batch_size_sum")
    answers: dict[int, httpx.Response] = {}
    barrier = threading.Barrier(24)

    def client(worker: int) -> None:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            for n in range(worker, len(jobs), 24):
                text, variant = jobs[n]
                answers[n] = http.post(
                    f"{served.url}/embed_sparse", json={"inputs": text, **variants[variant][0]},
                    headers={"Authorization": f"Bearer {served.key}"},
                )

    threads = [threading.Thread(target=client, args=(w,)) for w in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(answers) == len(jobs)
    for n, (text, variant) in enumerate(jobs):
        assert answers[n].status_code == 200, answers[n].text
        assert_same_vectors(answers[n].json(), variants[variant][1](text))
    calls = served.process.metric("spladekit_batch_size_count") - calls_before
    texts = served.process.metric("spladekit_batch_size_sum") - texts_before
    assert texts == len(jobs)
    assert calls < len(jobs), "no encode call served more than one request"


# -- the collection --------------------------------------------------------------------------


DOCS = [
    {"id": "http-1", "text": "Graphene has a very high thermal conductivity.",
     "metadata": {"year": 2010, "field": "physics"}},
    {"id": "http-2", "text": "Vitamin D supplements reduce fractures in elderly women.",
     "metadata": {"year": 2021}},
    {"id": "http-3", "text": "Mitochondria produce ATP by oxidative phosphorylation.",
     "metadata": {"year": 2022}},
]


def call(served: Any, path: str, body: Any) -> httpx.Response:
    return post(served.url, path, body, served.key)


def test_documents_are_stored_and_the_answer_says_what(served: Any) -> None:
    answer = call(served, "/documents", {"documents": DOCS})
    assert answer.status_code == 200, answer.text
    vectors = served.reference.encode_documents([d["text"] for d in DOCS])
    empty = sum(1 for i in range(len(DOCS)) if vectors.indptr[i] == vectors.indptr[i + 1])
    assert answer.json() == {"collection": "served", "stored": ["http-1", "http-2", "http-3"],
                             "encoded": 3, "empty": empty}


def test_search_returns_hits_with_text_metadata_and_an_explanation(served: Any) -> None:
    assert call(served, "/documents", {"documents": DOCS}).status_code == 200
    query = "thermal conductivity of graphene"
    answer = call(served, "/search", {"query": query, "k": 3, "terms": 64})
    assert answer.status_code == 200, answer.text
    result = answer.json()
    top = result["hits"][0]
    assert (top["id"], top["text"], top["metadata"]) == (
        "http-1", DOCS[0]["text"], DOCS[0]["metadata"]
    )
    scores = [h["score"] for h in result["hits"]]
    assert scores == sorted(scores, reverse=True)
    ref = served.reference
    expected_terms = ref.decode(ref.encode_queries([query]), 64)[0]
    assert [t["token"] for t in result["query_terms"]] == [t for t, _ in expected_terms]
    # Each hit's terms are its shares of the score (query weight x document weight).
    assert top["terms"] and top["terms"][0]["token"] in {"graph", "##ene", "thermal"}
    assert sum(t["weight"] for t in top["terms"]) == pytest.approx(top["score"], rel=1e-4)

    answer = call(served, "/search", {"query": query, "k": 10,
                                      "filter": 'metadata["year"] >= 2021'})
    assert {h["id"] for h in answer.json()["hits"]} <= {"http-2", "http-3"}


def test_search_modes_bm25_and_hybrid_follow_the_library(served: Any) -> None:
    assert call(served, "/documents", {"documents": DOCS}).status_code == 200
    info = httpx.get(f"{served.url}/info", timeout=30,
                     headers={"Authorization": f"Bearer {served.key}"}).json()
    assert info["search_modes"] == ["splade", "bm25", "hybrid"]  # the collection has BM25
    query = "thermal conductivity of graphene"
    for mode in ("bm25", "hybrid"):
        answer = call(served, "/search", {"query": query, "k": 3, "mode": mode})
        assert answer.status_code == 200, answer.text
        hits = answer.json()["hits"]
        assert hits[0]["id"] == "http-1"
    fused = call(served, "/search", {"query": query, "k": 3, "mode": "hybrid", "rrf_k": 10})
    top = fused.json()["hits"][0]["score"]
    # RRF: a document first in both legs scores 2 / (rrf_k + 1).
    assert top == pytest.approx(2 / 11, rel=1e-5)
    weighted = call(
        served, "/search",
        {"query": query, "k": 3, "mode": "hybrid", "fusion": "weighted", "weights": [0.7, 0.3]},
    )
    assert weighted.status_code == 200 and 0 < weighted.json()["hits"][0]["score"] <= 1


def test_documents_replace_those_stored_under_the_same_id(served: Any) -> None:
    first = {"id": "http-replace", "text": "Bananas are rich in potassium."}
    assert call(served, "/documents", {"documents": [first]}).status_code == 200
    second = {"id": "http-replace", "text": "Quantum dots emit light of tunable colour.",
              "metadata": {"v": 2}}
    assert call(served, "/documents", {"documents": [second]}).status_code == 200
    hits = call(served, "/search", {"query": "quantum dots colour", "k": 1}).json()["hits"]
    assert (hits[0]["id"], hits[0]["text"], hits[0]["metadata"]) == (
        "http-replace", second["text"], {"v": 2}
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/search", {"query": "  "}, 422, "query is blank"),
        ("/search", {"query": "x", "k": 0}, 422, "k must be an int from 1 to 1000"),
        ("/search", {"query": "x", "k": 1001}, 422, "k must be an int from 1 to 1000"),
        ("/search", {"query": "x", "filter": 3}, 422, "filter must be a str (a Milvus expression)"),
        ("/search", {"query": "x", "boost": 2}, 422, "unknown field(s) boost"),
        ("/search", {"query": "x", "mode": "dense"}, 422, "mode must be one of splade, bm25"),
        ("/search", {"query": "x", "mode": "hybrid", "weights": [1]}, 422,
         "weights must be two numbers"),
        ("/search", {"k": 3}, 422, "missing field `query`"),
        ("/documents", {"documents": []}, 400, "cannot be empty"),
        ("/documents", {"documents": [{"id": "a", "text": "x"}] * 2}, 422, "ids must be unique"),
        ("/documents", {"documents": [{"id": f"d{i}", "text": "x"} for i in range(33)]}, 413,
         "maximum allowed batch size 32"),
        ("/documents", {"documents": [{"id": "a", "text": 1}]}, 422, "text must be a string"),
        ("/documents", {"documents": [{"id": "a", "text": "x", "metadata": [1]}]}, 422,
         "metadata must be an object"),
        ("/documents", {"documents": [{"id": "", "text": "x"}]}, 422, "1 to 512 UTF-8 bytes"),
        ("/documents", {"documents": [{"id": "a", "text": "x", "year": 1}]}, 422,
         "unknown field(s) year"),
        ("/documents", b'{"documents": [{"id": "a", "text": "x", "metadata": {"k": "\\udc80"}}]}',
         422, "metadata contains a lone surrogate"),
        ("/documents", b'{"documents": [{"id": "\\ud800", "text": "x"}]}', 422,
         "contains a lone surrogate"),
    ],
)
def test_invalid_search_and_documents_requests(
    served: Any, path: str, body: Any, status: int, words: str
) -> None:
    answer = call(served, path, body)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


def test_a_filter_milvus_cannot_parse_is_reported_with_its_message(served: Any) -> None:
    answer = call(served, "/search", {"query": "graphene", "filter": "year >"})
    assert answer.status_code == 424
    assert answer.json()["error_type"] == "Backend"
    assert "Milvus search failed" in answer.json()["error"]
