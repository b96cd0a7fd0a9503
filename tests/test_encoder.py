"""SpladeEncoder and SpladeEmbeddingFunction: the contract users rely on (real splade-tiny)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_array

from spladekit import (
    InputTypeError,
    InvalidArgumentError,
    ModelNotAvailableError,
    SpladeEmbeddingFunction,
    SpladeEncoder,
)

DOCS = [
    "Artificial intelligence was founded as an academic discipline in 1956.",
    "Alan Turing was the first person to conduct substantial research in AI.",
    "Born in Maida Vale, London, Turing was raised in southern England.",
]
QUERIES = ["When was artificial intelligence founded", "Where was Alan Turing born?"]
# Texts of very different lengths, so that length sorting reorders them and padding varies.
MIXED = [
    "short",
    "A much longer text about protein folding, enzymes and their kinetics " * 6,
    "",
    "medium length sentence about graphene conductivity",
    "   ",
    "Vitamin D deficiency is associated with increased risk of fractures " * 3,
    "x",
]


@pytest.fixture(scope="module")
def ef(tiny_model_dir: Path) -> SpladeEmbeddingFunction:
    return SpladeEmbeddingFunction(model_name=str(tiny_model_dir))


def assert_rows_match(a: csr_array, b: csr_array, tol: float = 1e-5) -> None:
    assert a.shape == b.shape
    for i in range(a.shape[0]):
        ra, rb = a[[i]], b[[i]]
        assert ra.indices.tolist() == rb.indices.tolist(), f"row {i}: different non-zero sets"
        np.testing.assert_allclose(ra.data, rb.data, atol=tol, rtol=0)


def test_results_are_2d_float32_csr_arrays_of_vocabulary_width(ef: SpladeEmbeddingFunction) -> None:
    docs = ef.encode_documents(DOCS)
    queries = ef.encode_queries(QUERIES)
    assert ef.dim == 30522
    assert isinstance(docs, csr_array) and isinstance(queries, csr_array)
    assert docs.shape == (3, 30522) and queries.shape == (2, 30522)
    assert docs.dtype == np.float32 and queries.dtype == np.float32
    assert docs.has_sorted_indices
    assert all(
        np.all(np.diff(docs.indices[docs.indptr[i] : docs.indptr[i + 1]]) > 0) for i in range(3)
    )


def test_a_single_text_still_gives_a_2d_result(ef: SpladeEmbeddingFunction) -> None:
    assert ef.encode_queries(["one"]).shape == (1, 30522)


def test_vectors_hold_no_explicit_zeros_and_no_negatives(ef: SpladeEmbeddingFunction) -> None:
    m = ef.encode_documents(MIXED)
    assert np.all(m.data > 0)
    assert np.all(np.isfinite(m.data))


def test_a_text_gets_the_same_vector_alone_and_in_any_batch(tiny_model_dir: Path) -> None:
    enc = SpladeEncoder(tiny_model_dir, batch_size=3)
    together = enc.encode(MIXED)
    alone = [enc.encode([t]) for t in MIXED]
    for i, single in enumerate(alone):
        assert_rows_match(together[[i]], single, tol=1e-5)


def test_output_order_follows_input_order_after_length_sorting(tiny_encoder: SpladeEncoder) -> None:
    forward = tiny_encoder.encode(MIXED)
    backward = tiny_encoder.encode(MIXED[::-1])
    assert_rows_match(forward, backward[::-1], tol=1e-5)


def test_token_budget_splits_batches_without_changing_vectors(tiny_model_dir: Path) -> None:
    small_budget = SpladeEncoder(tiny_model_dir, max_tokens_per_batch=64)
    default = SpladeEncoder(tiny_model_dir)
    assert_rows_match(small_budget.encode(MIXED), default.encode(MIXED))


def test_empty_list_gives_zero_rows(ef: SpladeEmbeddingFunction) -> None:
    for m in (ef.encode_documents([]), ef.encode_queries([]), ef([])):
        assert m.shape == (0, 30522)
        assert m.dtype == np.float32


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("a bare string", "got a single str"),
        (b"bytes", "got a single bytes"),
        (None, "got NoneType"),
        (42, "got int"),
        (["fine", None], "got NoneType at position 1"),
        (["fine", "also fine", 3.5], "got float at position 2"),
    ],
)
def test_bad_input_raises_type_error_naming_the_position(
    ef: SpladeEmbeddingFunction, bad: object, fragment: str
) -> None:
    for method in (ef.encode_documents, ef.encode_queries, ef):
        with pytest.raises(TypeError, match=fragment) as info:
            method(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, InputTypeError)


def test_tuples_and_generators_of_strings_are_accepted(ef: SpladeEmbeddingFunction) -> None:
    assert ef.encode_documents(tuple(DOCS)).shape == (3, 30522)
    assert ef.encode_documents(d for d in DOCS).shape == (3, 30522)


def test_empty_and_whitespace_strings_encode_to_the_special_tokens_vector(
    ef: SpladeEmbeddingFunction,
) -> None:
    # The tokenizer drops whitespace, so both are "[CLS] [SEP]" like in the reference.
    m = ef(["", "   ", "\n\t"])
    assert m.nnz > 0
    # Equal up to float rounding: BLAS may sum a row differently at another batch position.
    assert_rows_match(m[[0]], m[[1]])
    assert_rows_match(m[[0]], m[[2]])


def test_very_long_texts_are_truncated_without_error(tiny_encoder: SpladeEncoder) -> None:
    long_text = "mitochondria regulate apoptosis " * 2000
    result = tiny_encoder.encode_with_stats([long_text, "short"])
    m = result.vectors
    assert m.shape == (2, 30522)
    assert result.stats.truncated == 1
    # Truncation keeps the first max_length tokens, so the vector equals the one for a prefix.
    prefix = " ".join(long_text.split()[:600])
    assert_rows_match(m[[0]], tiny_encoder.encode([prefix]))


def test_top_k_keeps_the_k_largest_weights(tiny_encoder: SpladeEncoder) -> None:
    full = tiny_encoder.encode(DOCS)
    top = tiny_encoder.encode(DOCS, top_k=5)
    for i in range(3):
        row_full, row_top = full[[i]], top[[i]]
        assert row_top.nnz == 5
        expected = np.sort(row_full.data)[-5:]
        np.testing.assert_allclose(np.sort(row_top.data), expected)
        assert set(row_top.indices) <= set(row_full.indices)


def test_top_k_larger_than_the_vector_writes_no_zeros(tiny_encoder: SpladeEncoder) -> None:
    full = tiny_encoder.encode(["tiny"])
    top = tiny_encoder.encode(["tiny"], top_k=10_000)
    assert top.nnz == full.nnz
    assert np.all(top.data > 0)


def test_threshold_drops_small_weights(tiny_model_dir: Path, tiny_encoder: SpladeEncoder) -> None:
    full = tiny_encoder.encode(DOCS)
    pruned = SpladeEncoder(tiny_model_dir, threshold=1.0).encode(DOCS)
    assert np.all(pruned.data > 1.0)
    assert pruned.nnz == int((full.data > 1.0).sum())
    per_call = tiny_encoder.encode(DOCS, threshold=1.0)
    assert_rows_match(per_call, pruned, tol=0)


def test_instructions_are_prepended_and_k_tokens_applied(tiny_model_dir: Path) -> None:
    plain = SpladeEmbeddingFunction(model_name=str(tiny_model_dir))
    ef = SpladeEmbeddingFunction(
        model_name=str(tiny_model_dir),
        query_instruction="query: ",
        doc_instruction="passage: ",
        k_tokens_query=4,
        k_tokens_document=7,
    )
    q = ef.encode_queries(QUERIES)
    d = ef.encode_documents(DOCS)
    assert np.diff(q.indptr).tolist() == [4, 4]
    assert np.diff(d.indptr).tolist() == [7, 7, 7]
    expected_q = plain.encoder.encode(["query: " + t for t in QUERIES], top_k=4)
    assert_rows_match(q, expected_q, tol=0)
    # __call__ uses neither instruction nor top-k.
    assert_rows_match(ef(DOCS), plain(DOCS), tol=0)


def test_separate_max_lengths_for_queries_and_documents(tiny_model_dir: Path) -> None:
    enc = SpladeEncoder(tiny_model_dir, query_max_length=8, document_max_length=64)
    text = "the protein binds the receptor and triggers a long cascade of signals " * 10
    q = enc.encode_queries([text])
    assert enc.encode_with_stats([text], max_length=enc.query_max_length).stats.tokens == 8
    d = enc.encode_documents([text])
    assert enc.encode_with_stats([text], max_length=enc.document_max_length).stats.tokens == 64
    assert q.nnz < d.nnz


def test_decode_returns_tokens_heaviest_first(ef: SpladeEmbeddingFunction) -> None:
    vectors = ef.encode_documents(DOCS[:1])
    pairs = ef.decode(vectors, top_k=5)[0]
    assert len(pairs) == 5
    weights = [w for _, w in pairs]
    assert weights == sorted(weights, reverse=True)
    assert {"artificial", "intelligence"} <= {t for t, _ in pairs}
    assert len(ef.decode(vectors)[0]) == vectors.nnz


def test_decode_rejects_dense_input(ef: SpladeEmbeddingFunction) -> None:
    with pytest.raises(TypeError, match="scipy sparse matrix"):
        ef.decode(np.zeros((1, 30522)))


def test_query_document_scores_rank_the_relevant_document_first(
    ef: SpladeEmbeddingFunction,
) -> None:
    scores = (ef.encode_queries(QUERIES) @ ef.encode_documents(DOCS).T).toarray()
    assert scores[0].argmax() == 0  # "When was AI founded" -> the 1956 sentence
    assert scores[1].argmax() == 2  # "Where was Turing born" -> Maida Vale


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"device": "gpu"}, "device must be 'cpu', 'cuda' or 'cuda:N'"),
        ({"backend": "tensorflow"}, "backend must be one of torch, onnx"),
        ({"precision": "fp8"}, "precision must be one of"),
        ({"threshold": -1}, "threshold must be a number >= 0"),
        ({"long_documents": "split"}, "long_documents must be one of truncate, window"),
        ({"trust_remote_code": True}, "trust_remote_code=True is refused"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(
    tiny_model_dir: Path, kwargs: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=fragment):
        SpladeEncoder(tiny_model_dir, **kwargs)  # type: ignore[arg-type]


def test_cuda_without_a_gpu_says_so(tiny_model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(InvalidArgumentError, match="CUDA is not available"):
        SpladeEncoder(tiny_model_dir, device="cuda:0")


def test_missing_hub_model_fails_offline_with_instructions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotAvailableError) as info:
        SpladeEmbeddingFunction(model_name="naver/splade_v2_max")
    message = str(info.value)
    assert "not in the local Hugging Face cache" in message
    assert "Hub could not be reached" in message
    assert "pass its path as model_name" in message


def test_missing_local_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="no model folder at"):
        SpladeEncoder(str(tmp_path / "does-not-exist"))
    with pytest.raises(ModelNotAvailableError, match=r"has no config\.json"):
        SpladeEncoder(tmp_path)


def test_import_loads_no_torch_until_a_model_is_built(tiny_model_dir: Path) -> None:
    code = (
        "import sys, spladekit\n"
        "from spladekit import SpladeEmbeddingFunction, SpladeEncoder, to_milvus_rows\n"
        "assert 'torch' not in sys.modules, 'torch imported at import time'\n"
        "assert 'transformers' not in sys.modules\n"
        "assert 'pymilvus' not in sys.modules\n"
        f"SpladeEncoder({str(tiny_model_dir)!r})\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("truncation", ["right", "left"])
def test_count_tokens_counts_what_encode_feeds_the_model(
    tiny_encoder: SpladeEncoder, truncation: str
) -> None:
    texts = [*MIXED, "protein " * 700]
    for max_length, prefix in ((None, ""), (16, "query: ")):
        counts = tiny_encoder.count_tokens(
            texts, max_length=max_length, prefix=prefix, truncation=truncation  # type: ignore[arg-type]
        )
        for text, count in zip(texts, counts, strict=True):
            stats = tiny_encoder.encode_with_stats(
                [text], max_length=max_length, prefix=prefix, truncation=truncation  # type: ignore[arg-type]
            ).stats
            assert count == stats.tokens
    assert tiny_encoder.count_tokens([]) == []


def test_count_tokens_refuses_a_long_text_as_encode_does(tiny_encoder: SpladeEncoder) -> None:
    texts = ["fine", "word " * 40]
    with pytest.raises(InvalidArgumentError) as counted:
        tiny_encoder.count_tokens(texts, max_length=16, truncation="error")
    with pytest.raises(InvalidArgumentError) as encoded:
        tiny_encoder.encode(texts, max_length=16, truncation="error")
    assert str(counted.value) == str(encoded.value)
    assert "text at position 1 has 42 tokens, more than the limit of 16" in str(counted.value)


def test_count_tokens_counts_every_window_of_long_documents(tiny_model_dir: Path) -> None:
    windowed = SpladeEncoder(tiny_model_dir, long_documents="window", window_stride=100)
    texts = ["short text", "protein folding " * 400, ""]
    counts = windowed.count_tokens(texts, max_length=128)
    for text, count in zip(texts, counts, strict=True):
        assert count == windowed.encode_with_stats([text], max_length=128).stats.tokens
    assert counts[1] > 2 * 128  # several windows
