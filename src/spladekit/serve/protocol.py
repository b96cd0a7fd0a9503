"""The wire contract: request bodies parsed and validated, TEI-style errors, response bodies.

``/embed_sparse`` takes text-embeddings-inference's request exactly (``inputs``, ``truncate``,
``truncation_direction``, ``prompt_name``; other fields are ignored, as TEI ignores them) and
answers with its response: one list per input of ``{"index": int, "value": float}``, non-zero
entries only (:func:`spladekit.vectors.to_tei_json` writes it). Errors are JSON
``{"error": str, "error_type": str}`` with TEI's types and status codes, raised through the
named constructors of :mod:`.errors`; :func:`api_error` maps what the library raises onto
them. ``/search`` and ``/documents`` are spladekit's own; their requests refuse unknown
fields, so that a misspelt option is an error rather than silently ignored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InputTypeError, InvalidArgumentError, StoreError
from ..profiles import PROMPT_NAMES, PromptName
from ..store.input_checks import check_ids
from ..store.protocol import SearchOptions
from ..validation import CheckedTexts, check_unicode, int_in_range, query_text
from .batcher import Overloaded, Stopped
from .errors import (
    STATUS,
    ApiError,
    ErrorType,
    backend,
    bad_request,
    empty,
    error_body,
    overloaded,
    payload_too_large,
    unhealthy,
    validation,
)

# TEI accepts both spellings of each direction.
_DIRECTIONS = {"right": "right", "Right": "right", "left": "left", "Left": "left"}


def invalid(exc: InputTypeError | InvalidArgumentError) -> ApiError:
    """A library validation error as a 422 answer."""
    return validation(str(exc))


def api_error(exc: Exception, backend_prefix: str = "") -> ApiError:
    """The one map from what the library and the batcher raise to an error answer.

    Known errors answer with their message alone (their traceback is noise to a caller);
    anything else is a 424 naming its type, chained to the exception for the server's log.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, Overloaded):
        error = overloaded(f"model is overloaded: {exc}")
    elif isinstance(exc, Stopped):
        error = unhealthy(str(exc))
    elif isinstance(exc, (InputTypeError, InvalidArgumentError)):
        error = invalid(exc)
    elif isinstance(exc, StoreError):
        error = backend(str(exc))
    else:
        error = backend(f"{backend_prefix}{type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error
    error.__suppress_context__ = True
    return error


# A request body's JSON: how deep it may nest, and how long a number may be written. Deeper
# or longer is refused while parsing (422, naming the field), never handed to the service.
MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 40


class _Unreadable:
    """A number parse_json will refuse: too many digits, or too large for a float."""

    def __init__(self, text: str, why: str) -> None:
        self.text = text
        self.why = why


def _parse_int(text: str) -> int | _Unreadable:
    if len(text) > MAX_NUMBER_CHARS:
        return _Unreadable(text, f"has {len(text)} digits, more than {MAX_NUMBER_CHARS}")
    return int(text)


def _parse_float(text: str) -> float | _Unreadable:
    value = float(text)
    if len(text) > MAX_NUMBER_CHARS or not math.isfinite(value):
        return _Unreadable(text, "is not a finite number of at most "
                           f"{MAX_NUMBER_CHARS} characters")
    return value


def parse_json(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object; lone surrogates in strings are refused later.

    Nesting deeper than :data:`MAX_JSON_DEPTH` and numbers longer than
    :data:`MAX_NUMBER_CHARS` (or beyond a float's range) are refused with 422, naming where.
    """
    try:
        value = json.loads(
            body, parse_constant=_no_constant, parse_int=_parse_int, parse_float=_parse_float
        )
    except RecursionError:
        raise validation(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise validation(f"the request body must be a JSON object, got {type(value).__name__}")
    _check_shape(value)
    return value


_WALKED = (dict, list, _Unreadable)


def _check_shape(value: object) -> None:
    """Refuse deep nesting and unreadable numbers, walking without recursion."""
    stack: list[tuple[object, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, _Unreadable):
            shown = item.text if len(item.text) <= 20 else item.text[:20] + "..."
            raise validation(f"{path or 'the body'}: the number {shown} {item.why}")
        if isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise validation(
                    f"{path or 'the body'} nests deeper than {MAX_JSON_DEPTH} levels",
                )
            # Only what can be refused is walked (no path is built for a plain string or
            # number); the rest keeps its order, so the same fault is found first.
            if isinstance(item, dict):
                stack.extend(
                    (v, depth + 1, f"{path}.{k}" if path else str(k))
                    for k, v in item.items() if isinstance(v, _WALKED)
                )
            else:
                stack.extend(
                    (v, depth + 1, f"{path}[{i}]")
                    for i, v in enumerate(item) if isinstance(v, _WALKED)
                )


def _no_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have (and Milvus refuses).
    raise bad_request(f"the request body is not valid JSON: {name} is not a number")


def _refuse_unknown(body: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise validation(
            f"{what} got unknown field(s) {', '.join(unknown)}; valid: {', '.join(known)}",
        )


def _bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise validation(f"{name} must be true or false, got {json.dumps(value)}")
    return value


def _utf8(value: object) -> bool:
    """Whether every string in a JSON value is valid Unicode (JSON escapes can make lone
    surrogates, which neither Milvus nor UTF-8 can hold)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- /embed_sparse ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbedRequest:
    """A parsed ``/embed_sparse`` request: texts and how to encode them."""

    texts: list[str]
    truncate: bool
    direction: Literal["right", "left"]
    prompt_name: PromptName | None

    @classmethod
    def parse(
        cls, body: Mapping[str, Any], *, max_inputs: int, auto_truncate: bool
    ) -> EmbedRequest:
        """Check a request in TEI's order: inputs present, not empty (400), not too many
        (413), each a valid string (422); then the options (422)."""
        if "inputs" not in body:
            raise validation("missing field `inputs`: a string or a list of strings")
        raw = body["inputs"]
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            raise validation(
                f"`inputs` must be a string or a list of strings, got {type(raw).__name__}",
            )
        if not items:
            raise empty("`inputs` cannot be empty")
        if len(items) > max_inputs:
            raise payload_too_large(
                f"batch size {len(items)} > maximum allowed batch size {max_inputs}; send the "
                "inputs in several requests",
            )
        for i, text in enumerate(items):
            if not isinstance(text, str):
                raise validation(
                    f"`inputs` must be a string or a list of strings, got "
                    f"{type(text).__name__} at position {i}",
                )
            try:
                check_unicode(f"inputs[{i}]", text)
            except InvalidArgumentError as exc:
                raise invalid(exc) from None
        direction = body.get("truncation_direction")
        if direction is not None and direction not in _DIRECTIONS:
            raise validation(
                f"truncation_direction must be \"right\" or \"left\", got {json.dumps(direction)}",
            )
        prompt = body.get("prompt_name")
        if prompt is not None and prompt not in PROMPT_NAMES:
            raise validation(
                f"prompt_name must be \"query\", \"document\" or absent, got {json.dumps(prompt)}",
            )
        return cls(
            texts=CheckedTexts(items),  # checked here, at the service's boundary: once
            truncate=_bool(body, "truncate", auto_truncate),
            direction="left" if direction is not None and _DIRECTIONS[direction] == "left"
            else "right",
            prompt_name=prompt,
        )


# -- /search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchRequest:
    """A parsed ``/search`` request: the query, ``k``, ``terms`` per explanation, and the
    search options (``filter``, ``mode``: splade, bm25 or hybrid, ``fusion``, ``rrf_k``,
    ``weights``), checked as :class:`~spladekit.SearchOptions` checks them."""

    query: str
    k: int = 10
    terms: int = 10
    options: SearchOptions = field(default_factory=SearchOptions)

    OPTION_FIELDS = ("filter", "mode", "fusion", "rrf_k", "weights")
    FIELDS = ("query", "k", "terms", *OPTION_FIELDS)
    # Each hit is explained (its stored vector fetched and decoded): bound the work per request.
    MAX_K = 1000
    MAX_TERMS = 64

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> SearchRequest:
        _refuse_unknown(body, cls.FIELDS, "/search")
        if "query" not in body:
            raise validation("missing field `query`: the words to search for")
        try:
            query = query_text(body["query"])
            k = int_in_range("k", body.get("k", 10), 1, cls.MAX_K)
            terms = int_in_range("terms", body.get("terms", 10), 1, cls.MAX_TERMS)
            changes = {name: body[name] for name in cls.OPTION_FIELDS if name in body}
            if isinstance(changes.get("weights"), list):
                changes["weights"] = tuple(changes["weights"])  # JSON has no tuples
            options = SearchOptions(**changes)
        except (InputTypeError, InvalidArgumentError) as exc:
            raise invalid(exc) from None
        return cls(query=query, k=k, terms=terms, options=options)


# -- /documents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentsRequest:
    """A parsed ``/documents`` request: documents with unique ids, texts and metadata."""

    ids: list[str]
    texts: list[str]
    metadata: list[dict[str, Any]]

    DOCUMENT_FIELDS = ("id", "text", "metadata")

    @classmethod
    def parse(cls, body: Mapping[str, Any], *, max_documents: int) -> DocumentsRequest:
        _refuse_unknown(body, ("documents",), "/documents")
        docs = body.get("documents")
        if not isinstance(docs, list):
            raise validation(
                "`documents` must be a list of {\"id\": str, \"text\": str, \"metadata\": "
                f"object}}, got {type(docs).__name__}",
            )
        if not docs:
            raise empty("`documents` cannot be empty")
        if len(docs) > max_documents:
            raise payload_too_large(
                f"{len(docs)} documents > maximum allowed batch size {max_documents}; send "
                "them in several requests",
            )
        raw_ids: list[object] = []
        texts: list[str] = []
        metadata: list[dict[str, Any]] = []
        for i, doc in enumerate(docs):
            if not isinstance(doc, dict):
                raise validation(f"documents[{i}] must be an object, got {type(doc).__name__}")
            _refuse_unknown(doc, cls.DOCUMENT_FIELDS, f"documents[{i}]")
            text, meta = doc.get("text"), doc.get("metadata")
            if not isinstance(text, str):
                raise validation(
                    f"documents[{i}].text must be a string, got {type(text).__name__}",
                )
            if meta is not None and not isinstance(meta, dict):
                raise validation(
                    f"documents[{i}].metadata must be an object, got {type(meta).__name__}",
                )
            try:
                check_unicode(f"documents[{i}].text", text)
            except InvalidArgumentError as exc:
                raise invalid(exc) from None
            if meta and not _utf8(meta):
                raise validation(
                    f"documents[{i}].metadata contains a lone surrogate (a broken \\u escape), "
                    "which is not valid Unicode text",
                )
            raw_ids.append(doc.get("id"))  # checked below, all at once
            texts.append(text)
            metadata.append(meta or {})
        try:
            ids = check_ids(raw_ids)
        except (InputTypeError, InvalidArgumentError) as exc:
            raise invalid(exc) from None
        return cls(ids, texts, metadata)


__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_CHARS",
    "PROMPT_NAMES",
    "STATUS",
    "ApiError",
    "DocumentsRequest",
    "EmbedRequest",
    "ErrorType",
    "PromptName",
    "SearchRequest",
    "error_body",
    "invalid",
    "parse_json",
]
