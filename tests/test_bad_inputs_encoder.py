"""Bad texts and options for the encoders (SpladeEncoder, SpladeEmbeddingFunction).

Each gets a SpladeError that names the problem, what was got and what to do: value problems are
also ValueErrors, type problems also TypeErrors. Texts of the wrong type, constructor and encode
options, nothing to encode, huge texts, lone surrogates and control characters.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spladekit import (
    InputTypeError,
    InvalidArgumentError,
    MemoryStore,
    SpladeEmbeddingFunction,
    SpladeEncoder,
    SpladeError,
)
from support.bad_inputs import SURROGATE

# -- types --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "fragment"),
    [
        ("a single string", "got a single str; wrap it: [text]"),
        (b"bytes", "got a single bytes"),
        (123, "must be a list of str, got int"),
        (None, "must be a list of str, got NoneType"),
        (["ok", 7], "got int at position 1"),
        (["ok", None], "got NoneType at position 1"),
    ],
)
def test_texts_of_the_wrong_type_are_named(
    tiny_encoder: SpladeEncoder, texts: object, fragment: str
) -> None:
    with pytest.raises(InputTypeError, match=re.escape(fragment)) as info:
        tiny_encoder.encode(texts)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"k_tokens_query": 0}, InvalidArgumentError, "k_tokens_query must be a positive"),
        ({"k_tokens_document": -3}, InvalidArgumentError, "got -3"),
        ({"k_tokens_query": "5"}, InputTypeError, "got str"),
        ({"k_tokens_query": True}, InputTypeError, "got bool"),
        ({"batch_size": 0}, InvalidArgumentError, "batch_size must be a positive integer"),
        ({"batch_size": 2.5}, InputTypeError, "got float"),
        ({"query_instruction": 5}, InputTypeError, "query_instruction must be a str"),
        ({"device": 0}, InputTypeError, "device must be a str"),
        ({"threshold": float("nan")}, InvalidArgumentError, "threshold must be a number >= 0"),
        ({"query_max_length": 2}, InvalidArgumentError, "at least 3"),
        ({"no_such_option": 1}, InvalidArgumentError, "unsupported model loading argument"),
    ],
)
def test_constructor_arguments_value_and_type_errors_are_told_apart(
    tiny_model_dir: Path, kwargs: dict[str, object], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment) as info:
        SpladeEmbeddingFunction(str(tiny_model_dir), **kwargs)  # type: ignore[arg-type]
    expected_builtin = TypeError if error is InputTypeError else ValueError
    assert isinstance(info.value, expected_builtin) and isinstance(info.value, SpladeError)


def test_encode_options_are_checked(tiny_encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match="top_k must be a positive integer"):
        tiny_encoder.encode(["x"], top_k=0)
    with pytest.raises(InputTypeError, match="top_k must be a positive integer or None"):
        tiny_encoder.encode(["x"], top_k="3")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="truncation must be one of right, left"):
        tiny_encoder.encode(["x"], truncation="middle")  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="prefix must be a str"):
        tiny_encoder.encode(["x"], prefix=None)  # type: ignore[arg-type]
    with pytest.raises(InputTypeError, match="scipy sparse matrix"):
        tiny_encoder.decode([[1.0, 2.0]])


# -- empty --------------------------------------------------------------------------------------


def test_nothing_to_encode_gives_an_empty_matrix(tiny_encoder: SpladeEncoder) -> None:
    assert tiny_encoder.encode([]).shape == (0, tiny_encoder.dim)


# -- huge ---------------------------------------------------------------------------------------


class _Seen:
    """A tokenizer that records the length of every text it is given, then tokenises it."""

    def __init__(self, inner: Any, lengths: list[int]) -> None:
        self._inner, self._lengths = inner, lengths

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def encode(self, text: str, *args: Any, **kwargs: Any) -> Any:
        self._lengths.append(len(text))
        return self._inner.encode(text, *args, **kwargs)


def test_a_huge_text_is_cut_before_tokenising_and_says_so(
    tiny_encoder: SpladeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = "graphene conducts heat " * 400_000  # ~9 MB of text
    tokens = tiny_encoder.routes["document"].tokens
    lengths: list[int] = []
    batch = tokens._encode_batch
    monkeypatch.setattr(tokens, "_fast", _Seen(tokens._fast, lengths))
    monkeypatch.setattr(
        tokens, "_encode_batch",
        lambda texts, **kw: (lengths.extend(len(t) for t in texts), batch(texts, **kw))[1],
    )
    result = tiny_encoder.encode_with_stats([huge, "short"])
    # The tokenizer saw a prefix of the huge text, never the 9 MB (the cost of a huge text is
    # bounded by the limit, not by its size).
    assert lengths and max(lengths) < len(huge) // 100, lengths
    monkeypatch.undo()
    assert result.stats.truncated == 1 and result.stats.tokens <= 512 + 3
    prefix = " ".join(huge.split()[:600])
    np.testing.assert_allclose(
        result.vectors.row(0).toarray(), tiny_encoder.encode([prefix]).toarray(), atol=1e-5
    )


def test_a_text_over_the_limit_can_be_refused_instead_of_cut(tiny_encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match=r"text at position 1 has \d+ tokens, more than"):
        tiny_encoder.encode(["short", "word " * 600], truncation="error")
    text = "the cell membrane regulates transport of ions. " * 80 + "volcano telescope"
    volcano = tiny_encoder.tokenizer.convert_tokens_to_ids("volcano")
    left = tiny_encoder.encode([text], truncation="left")
    right = tiny_encoder.encode([text], truncation="right")
    assert left.toarray()[0, volcano] > 0.5 and right.toarray()[0, volcano] == 0  # the end kept


# -- surrogates and control characters ----------------------------------------------------------


def test_a_lone_surrogate_in_a_text_is_named(tiny_encoder: SpladeEncoder) -> None:
    with pytest.raises(InvalidArgumentError, match=r"texts\[1\] contains a lone surrogate") as info:
        tiny_encoder.encode(["fine", SURROGATE])
    assert "at character 3" in str(info.value) and "errors='replace'" in str(info.value)


def test_control_characters_are_text_but_not_ids(tiny_encoder: SpladeEncoder) -> None:
    vectors = tiny_encoder.encode(["graphene\x00conducts\x07heat\x1b"])
    assert vectors.nnz > 0
    with pytest.raises(InvalidArgumentError, match="contains control characters"):
        MemoryStore().upsert(["bad\x00id"], [{1: 1.0}])
