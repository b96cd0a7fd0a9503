"""Texts are checked once, at the public boundary they enter by, however far they travel."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from spladekit import MemoryStore, Record, Retriever, SpladeEmbeddingFunction, validation
from spladekit.errors import InputTypeError, InvalidArgumentError

QUERY = "vitamin D and bone fractures"


@pytest.fixture()
def checks(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each text went through the Unicode check (the per-text check)."""
    seen: Counter[str] = Counter()
    original = validation.check_unicode

    def counting(name: str, text: str) -> str:
        seen[text] += 1
        return original(name, text)

    monkeypatch.setattr(validation, "check_unicode", counting)
    return seen


@pytest.fixture(scope="module")
def function(tiny_model_dir: Path) -> SpladeEmbeddingFunction:
    return SpladeEmbeddingFunction(str(tiny_model_dir))


def test_the_embedding_function_checks_each_text_once(
    function: SpladeEmbeddingFunction, checks: Counter[str]
) -> None:
    function.encode_queries([QUERY, "a second query"])
    function.encode_documents(["a document"])
    assert [checks[t] for t in (QUERY, "a second query", "a document")] == [1, 1, 1]


def test_a_search_checks_its_query_once_on_the_way_to_the_encoder_and_the_store(
    function: SpladeEmbeddingFunction, checks: Counter[str]
) -> None:
    retriever = Retriever(function, MemoryStore())
    retriever.index([Record("bones", "Vitamin D deficiency is associated with fractures.")])
    checks.clear()
    assert retriever.search(QUERY, k=1)
    retriever.explain(QUERY, k=1)
    assert checks[QUERY] == 2  # one search, one explanation: once each


def test_checking_once_still_refuses_what_it_refused(
    function: SpladeEmbeddingFunction,
) -> None:
    retriever = Retriever(function, MemoryStore())
    with pytest.raises(InvalidArgumentError, match="query is blank"):
        retriever.search("   ")
    with pytest.raises(InvalidArgumentError, match="lone surrogate"):
        retriever.search("bad \udc80 text")
    with pytest.raises(InputTypeError, match="queries must be a list of str"):
        function.encode_queries("not a list")
