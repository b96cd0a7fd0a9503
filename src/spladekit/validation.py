"""The one set of argument checks used at every public boundary.

Each check returns the validated value. A wrong type raises :class:`InputTypeError` (also a
``TypeError``), a wrong value :class:`InvalidArgumentError` (also a ``ValueError``); messages say
what was expected, what was got and, where it helps, what to do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TypeVar

from .errors import InputTypeError, InvalidArgumentError

T = TypeVar("T")

MIN_MAX_LENGTH = 3
"""The shortest token limit a text can have: [CLS], one token, [SEP]."""


def positive_int(name: str, value: object) -> int:
    """An ``int`` >= 1 (``bool`` is refused: ``True`` is not a count)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputTypeError(f"{name} must be a positive integer, got {type(value).__name__}")
    if value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer, got {value!r}")
    return value


def optional_positive_int(name: str, value: object) -> int | None:
    """``None`` or an ``int`` >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputTypeError(
            f"{name} must be a positive integer or None, got {type(value).__name__}"
        )
    if value < 1:
        raise InvalidArgumentError(f"{name} must be a positive integer or None, got {value!r}")
    return value


def optional_max_length(name: str, value: object) -> int | None:
    """``None`` or a token limit of at least :data:`MIN_MAX_LENGTH`."""
    length = optional_positive_int(name, value)
    if length is not None and length < MIN_MAX_LENGTH:
        raise InvalidArgumentError(
            f"{name} must be at least {MIN_MAX_LENGTH} ([CLS], a token, [SEP]), got {length}"
        )
    return length


def int_in_range(name: str, value: object, low: int, high: int) -> int:
    """An ``int`` from ``low`` to ``high`` inclusive."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputTypeError(
            f"{name} must be an int from {low} to {high}, got {type(value).__name__}"
        )
    if not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be an int from {low} to {high}, got {value!r}")
    return value


def non_negative_number(name: str, value: object) -> float:
    """A finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{name} must be a number >= 0, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise InvalidArgumentError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


def fraction(name: str, value: object) -> float:
    """A real number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{name} must be a number in [0, 1), got {type(value).__name__}")
    if not 0.0 <= value < 1.0:
        raise InvalidArgumentError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def flag(name: str, value: object) -> bool:
    """A ``bool`` (not a number or a string that reads like one)."""
    if not isinstance(value, bool):
        raise InputTypeError(f"{name} must be a bool, got {value!r}")
    return value


def choice(name: str, value: object, choices: Collection[T]) -> T:
    """One of ``choices``, matched exactly."""
    if value not in choices:
        listing = ", ".join(str(c) for c in choices)
        raise InvalidArgumentError(f"{name} must be one of {listing}; got {value!r}")
    return value  # type: ignore[return-value]


def string(name: str, value: object) -> str:
    """A ``str`` that is valid Unicode text (see :func:`check_unicode`)."""
    if not isinstance(value, str):
        raise InputTypeError(f"{name} must be a str, got {type(value).__name__}")
    return check_unicode(name, value)


def check_unicode(name: str, text: str) -> str:
    """Refuse lone surrogates: they are not text, and neither tokenizers nor Milvus take them.

    They come from decoding bytes with ``errors="surrogateescape"`` or from broken JSON
    escapes; re-decode the source with ``errors="replace"`` to keep the rest of the text.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            f"{name} contains a lone surrogate {text[exc.start]!r} at character {exc.start}, "
            "which is not valid Unicode text; decode the source with errors='replace' (or "
            "remove the character)"
        ) from None
    return text


class CheckedTexts(list[str]):
    """Texts that passed :func:`text_list` at a public boundary: checking them again (a
    retriever's queries reaching the encoder, a request's inputs reaching the encoder) returns
    them as they are, so each text is checked once on its way through."""


class CheckedQueries(CheckedTexts):
    """Texts that passed :func:`query_list`: each a str with a non-blank character."""


def text_list(value: object, what: str = "texts") -> list[str]:
    """A list of valid Unicode strings; errors name the offending position."""
    if isinstance(value, CheckedTexts):
        return value
    if isinstance(value, (str, bytes)):
        raise InputTypeError(
            f"{what} must be a list of str, got a single {type(value).__name__}; wrap it: [text]"
        )
    if not isinstance(value, Iterable):
        raise InputTypeError(f"{what} must be a list of str, got {type(value).__name__}")
    out = list(value)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InputTypeError(
                f"{what} must be a list of str, got {type(text).__name__} at position {i}"
            )
        check_unicode(f"{what}[{i}]", text)
    return CheckedTexts(out)


def ordered_text_list(value: object, what: str) -> list[str]:
    """:func:`text_list` of a sequence (a list or tuple: items paired by position with other
    arguments, so an unordered set is refused)."""
    if not isinstance(value, (str, bytes)) and not isinstance(value, Sequence):
        raise InputTypeError(f"{what} must be a list of str, got {type(value).__name__}")
    return text_list(value, what)


def query_text(value: object, what: str = "query") -> str:
    """A search query: a str with at least one non-blank character."""
    text = string(what, value)
    if not text.strip():
        raise InvalidArgumentError(
            f"{what} is {'empty' if not text else 'blank'}; give the words to search for"
        )
    return text


def query_list(value: Sequence[object], name: Callable[[int], str]) -> CheckedQueries:
    """Search queries (a sequence of :func:`query_text`), ``name(i)`` naming the i-th in
    errors; queries checked before come back as they are."""
    if isinstance(value, CheckedQueries):
        return value
    return CheckedQueries(query_text(q, name(i)) for i, q in enumerate(value))


# The document id rule, the same for every store and for corpus files.
MAX_ID_BYTES = 512
# How deep a document's metadata may nest (objects and lists), checked before serialising.
MAX_METADATA_DEPTH = 32


def document_id(value: str, what: str) -> str:
    """A document id: 1 to 512 UTF-8 bytes of valid Unicode without control characters;
    quotes, backslashes and any other character are fine."""
    check_unicode(what, value)
    size = len(value.encode("utf-8"))
    if not value or size > MAX_ID_BYTES:
        raise InvalidArgumentError(
            f"{what} must have 1 to {MAX_ID_BYTES} UTF-8 bytes, got {value[:40]!r} ({size} bytes)"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        # A Milvus server cannot match some of them in expressions (a newline breaks the
        # expression); spladekit's server encoding of quotes relies on their absence.
        raise InvalidArgumentError(f"{what} contains control characters: {value!r}")
    return value


def check_depth(value: object, what: str, limit: int = MAX_METADATA_DEPTH) -> None:
    """Refuse a value nested deeper than ``limit`` objects and lists (walked without
    recursion, so any depth, or a value that contains itself, gets this error rather than a
    RecursionError)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: list[object] = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth > limit:
            raise InvalidArgumentError(
                f"{what} nests deeper than {limit} levels of objects and lists; flatten it"
            )
        stack.extend((child, depth + 1) for child in children)


__all__ = [
    "MAX_ID_BYTES",
    "MAX_METADATA_DEPTH",
    "MIN_MAX_LENGTH",
    "CheckedQueries",
    "CheckedTexts",
    "check_depth",
    "check_unicode",
    "choice",
    "document_id",
    "flag",
    "fraction",
    "int_in_range",
    "non_negative_number",
    "optional_max_length",
    "optional_positive_int",
    "ordered_text_list",
    "positive_int",
    "query_list",
    "query_text",
    "string",
    "text_list",
]
