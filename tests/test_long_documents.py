"""long_documents='window': text past the model's 512-token limit still counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spladekit import SpladeEncoder

FILLER = "the cell membrane regulates transport of ions and nutrients. " * 60  # > 512 tokens
TAIL = " volcano telescope"


@pytest.fixture(scope="module")
def windowed(tiny_model_dir: Path) -> SpladeEncoder:
    return SpladeEncoder(tiny_model_dir, long_documents="window", window_stride=256)


def weight_of(encoder: SpladeEncoder, vectors: object, token: str) -> float:
    index = encoder.tokenizer.convert_tokens_to_ids(token)
    return float(vectors[[0]].toarray()[0, index])  # type: ignore[index]


def test_a_term_only_after_token_512_survives_in_windows_but_not_truncation(
    windowed: SpladeEncoder, tiny_encoder: SpladeEncoder
) -> None:
    text = FILLER + TAIL
    assert len(tiny_encoder.tokenizer(text, verbose=False)["input_ids"]) > 600
    limit = tiny_encoder.document_max_length
    truncated = tiny_encoder.encode_with_stats([text], max_length=limit)
    assert weight_of(tiny_encoder, truncated.vectors, "volcano") == 0.0
    assert truncated.stats.truncated == 1
    windows = windowed.encode_with_stats([text], max_length=windowed.document_max_length)
    assert weight_of(windowed, windows.vectors, "volcano") > 0.5
    assert windows.stats.sequences > 1


def test_windowed_vector_is_the_max_over_its_windows(windowed: SpladeEncoder) -> None:
    text = FILLER + TAIL
    vector = windowed.encode_documents([text])
    # Rebuild the windows by hand and max-pool their truncate-mode vectors.
    tok = windowed.tokenizer
    content = tok(text, add_special_tokens=False, verbose=False)["input_ids"]
    plain = SpladeEncoder(windowed.model_dir)
    parts = []
    for start in range(0, len(content), 256):
        piece = tok.decode(content[start : start + 510])
        parts.append(plain.encode([piece]).toarray()[0])
        if start + 510 >= len(content):
            break
    expected = np.max(parts, axis=0)
    got = vector.toarray()[0]
    assert set(np.flatnonzero(got)) == set(np.flatnonzero(expected > 0))
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_short_texts_are_identical_in_both_modes(
    windowed: SpladeEncoder, tiny_encoder: SpladeEncoder
) -> None:
    texts = ["short text about graphene", "", "another one"]
    a = windowed.encode(texts).toarray()
    b = tiny_encoder.encode(texts).toarray()
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_windowed_batches_keep_input_order(windowed: SpladeEncoder) -> None:
    texts = ["alpha beta", FILLER + TAIL, "gamma"]
    together = windowed.encode(texts).toarray()
    for i, text in enumerate(texts):
        np.testing.assert_allclose(together[i], windowed.encode([text]).toarray()[0], atol=1e-5)
