"""Parity with the reference, pymilvus-model 0.3.4, on splade-tiny (scripts/make_golden.py).

The reference encoded every golden text alone (batch_size=1), the only way its vectors are free
of padding. spladekit must give the same non-zero set and weights within ATOL for each text,
whether it encodes the text alone or inside a batch of others.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "splade_tiny.json"
ATOL = 1e-5

FIXTURE: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = FIXTURE["vectors"]
TOP_K_DOCUMENTS: list[dict[str, Any]] = FIXTURE["top_k_documents"]
FULL_BY_NAME = {v["name"]: v for v in VECTORS}


@pytest.fixture(scope="module")
def golden_model_dir(tiny_model_dir: Path) -> Path:
    """The tiny model, checked to be the very weights the goldens were recorded with."""
    digest = hashlib.sha256((tiny_model_dir / "model.safetensors").read_bytes()).hexdigest()
    if digest != FIXTURE["meta"]["model_sha256"]:
        pytest.fail(
            f"{tiny_model_dir}/model.safetensors is not the model the goldens were made with "
            f"(sha256 {digest}, expected {FIXTURE['meta']['model_sha256']}); "
            "run scripts/fetch_test_model.py"
        )
    return tiny_model_dir


@pytest.fixture(scope="module")
def embed(golden_model_dir: Path) -> Any:
    from spladekit import SpladeEmbeddingFunction

    return SpladeEmbeddingFunction(model_name=str(golden_model_dir))


def _row(matrix: Any, i: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = int(matrix.indptr[i]), int(matrix.indptr[i + 1])
    order = np.argsort(matrix.indices[lo:hi])
    return matrix.indices[lo:hi][order], matrix.data[lo:hi][order]


def assert_same_vector(matrix: Any, i: int, golden: dict[str, Any]) -> None:
    """Row i has the golden's non-zero set, no explicit zeros, and weights within ATOL."""
    indices, values = _row(matrix, i)
    name = golden["name"]
    assert matrix.dtype == np.float32
    assert np.all(values > 0), f"{name}: explicit zeros or negative weights in row {i}"
    expected_idx = np.asarray(golden["indices"], dtype=np.int64)
    expected_val = np.asarray(golden["values"], dtype=np.float32)
    ours = dict(zip(indices.tolist(), values.tolist(), strict=True))
    theirs = dict(zip(expected_idx.tolist(), expected_val.tolist(), strict=True))
    extra = {j: ours[j] for j in ours.keys() - theirs.keys()}
    missing = {j: theirs[j] for j in theirs.keys() - ours.keys()}
    assert not extra and not missing, (
        f"{name}: non-zero sets differ; only ours {extra}, only the reference's {missing}"
    )
    diff = float(np.max(np.abs(values - expected_val), initial=0.0))
    assert diff <= ATOL, f"{name}: max abs difference {diff:.3g} > {ATOL}"


def test_fixture_covers_the_agreed_cases() -> None:
    names = [v["name"] for v in VECTORS]
    texts = {v["name"]: v["text"] for v in VECTORS}
    assert len(names) >= 30 and len(set(names)) == len(names)
    assert texts["empty"] == "" and texts["whitespace"].strip() == ""
    assert any(not t.isascii() for t in texts.values())
    assert FIXTURE["meta"]["batch_size"] == 1
    assert any(d["reference_explicit_zeros"] > 0 for d in TOP_K_DOCUMENTS)


def test_long_golden_text_is_truncated_at_the_model_limit(embed: Any) -> None:
    encoder = embed.encoder
    ids = encoder.tokenizer(FULL_BY_NAME["long"]["text"])["input_ids"]
    assert len(ids) > encoder.document_max_length == 512
    result = encoder.encode_with_stats(
        [FULL_BY_NAME["long"]["text"]], max_length=encoder.document_max_length
    )
    assert result.stats.truncated == 1


@pytest.mark.parametrize("golden", VECTORS, ids=[v["name"] for v in VECTORS])
def test_call_matches_reference_text_alone(embed: Any, golden: dict[str, Any]) -> None:
    out = embed([golden["text"]])
    assert out.shape == (1, FIXTURE["meta"]["dim"])
    assert_same_vector(out, 0, golden)


def test_batch_of_all_golden_texts_matches_each_text_alone(golden_model_dir: Path) -> None:
    # The reference fails this: padding tokens enter its max pooling, so most rows change when
    # the same texts share batches of 32 (see meta.reference_rows_changed_at_batch_size_32).
    from spladekit import SpladeEmbeddingFunction

    embed = SpladeEmbeddingFunction(model_name=str(golden_model_dir), batch_size=32)
    out = embed([v["text"] for v in VECTORS])
    assert out.shape == (len(VECTORS), FIXTURE["meta"]["dim"])
    for i, golden in enumerate(VECTORS):
        assert_same_vector(out, i, golden)


@pytest.mark.parametrize("golden", TOP_K_DOCUMENTS, ids=[d["name"] for d in TOP_K_DOCUMENTS])
def test_top_k_documents_match_reference_without_its_explicit_zeros(
    golden_model_dir: Path, golden: dict[str, Any]
) -> None:
    from spladekit import SpladeEmbeddingFunction

    k = golden["k"]
    embed = SpladeEmbeddingFunction(model_name=str(golden_model_dir), k_tokens_document=k)
    out = embed.encode_documents([golden["text"]])
    # The golden holds only the reference's non-zero entries: where a text has fewer than k
    # non-zeros the reference stores explicit zeros to make up k, and spladekit must not.
    full = np.sort(np.asarray(FULL_BY_NAME[golden["name"]]["values"], dtype=np.float32))[::-1]
    if full.size > k and full[k - 1] - full[k] <= ATOL:
        _assert_top_k_with_tie(out, golden, full, k)
    else:
        assert_same_vector(out, 0, golden)
    assert out.nnz == min(k, full.size)


def _assert_top_k_with_tie(out: Any, golden: dict[str, Any], full: np.ndarray, k: int) -> None:
    """A tie (within ATOL) at the k-th weight lets either implementation pick any tied entry.

    Then the entries clearly above the boundary must match, and each other entry of ours must be
    a boundary weight of the full golden vector.
    """
    indices, values = _row(out, 0)
    boundary = float(full[k - 1])
    theirs = dict(zip(golden["indices"], golden["values"], strict=True))
    ours = dict(zip(indices.tolist(), values.tolist(), strict=True))
    clear = {j for j, w in theirs.items() if w > boundary + ATOL}
    assert clear <= ours.keys(), f"{golden['name']}: missing clear top-k entries"
    for j, w in ours.items():
        target = theirs[j] if j in clear else boundary
        assert abs(w - target) <= ATOL, f"{golden['name']}: weight {w} at {j}, expected {target}"
