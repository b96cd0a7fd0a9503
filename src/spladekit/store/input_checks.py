"""The checks of what a store is given, the same in every store: ``k``, ids, texts, metadata,
and the documents of an upsert (:func:`check_upsert`), each refused with what was wrong, what
was received and what would be accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputTypeError, InvalidArgumentError
from ..validation import check_depth, document_id, int_in_range, ordered_text_list
from ..vectors import Row, to_milvus_rows
from .protocol import MAX_K

MAX_TEXT_BYTES = 65535  # what a VARCHAR field holds, in UTF-8 bytes


def check_k(k: object) -> int:
    return int_in_range("k", k, 1, MAX_K)


def check_ids(ids: object, *, unique: bool = True) -> list[str]:
    """A list of document ids: 1..512 UTF-8 bytes, no control characters."""
    id_list = ordered_text_list(ids, "ids")
    seen: dict[str, int] = {}
    for i, doc_id in enumerate(id_list):
        document_id(doc_id, f"id at position {i}")
        if unique and doc_id in seen:
            raise InvalidArgumentError(
                f"ids must be unique within one call; {doc_id!r} is at positions "
                f"{seen[doc_id]} and {i}"
            )
        seen.setdefault(doc_id, i)
    return id_list


def check_texts(texts: object, n: int) -> list[str]:
    """One valid Unicode text per id ("" for all when ``texts`` is None)."""
    if texts is None:
        return [""] * n
    text_list = ordered_text_list(texts, "texts")
    if len(text_list) != n:
        raise InvalidArgumentError(
            f"got {n} ids but {len(text_list)} texts; give one text per id"
        )
    return text_list


def check_metadata(metadata: object, n: int) -> list[dict[str, Any]]:
    """One JSON-serialisable dict (or None) per id."""
    if metadata is None:
        return [{} for _ in range(n)]
    if not isinstance(metadata, Sequence) or isinstance(metadata, (str, Mapping)):
        raise InputTypeError(
            f"metadata must be a list with one dict (or None) per id, got {type(metadata).__name__}"
        )
    if len(metadata) != n:
        raise InvalidArgumentError(f"got {n} ids but {len(metadata)} metadata entries")
    out: list[dict[str, Any]] = []
    for i, meta in enumerate(metadata):
        if meta is None:
            out.append({})
            continue
        if not isinstance(meta, Mapping):
            raise InputTypeError(
                f"metadata at position {i} must be a dict or None, got {type(meta).__name__}"
            )
        check_depth(meta, f"metadata at position {i}")
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"metadata at position {i} is not JSON-serialisable: {exc}"
            ) from exc
        out.append(dict(meta))
    return out


@dataclass(frozen=True)
class NewDocument:
    """One document of an upsert, checked: id, vector row ({} when empty), text, metadata."""

    id: str
    row: Row
    text: str
    metadata: dict[str, Any]


def check_upsert(
    ids: object, vectors: object, texts: object, metadata: object
) -> list[NewDocument]:
    """The documents of an upsert, every argument checked against the others."""
    id_list = check_ids(ids)
    rows = to_milvus_rows(vectors)
    if len(rows) != len(id_list):
        raise InvalidArgumentError(
            f"got {len(id_list)} ids but {len(rows)} vectors; give one vector per id"
        )
    text_list = check_texts(texts, len(id_list))
    meta_list = check_metadata(metadata, len(id_list))
    return [
        NewDocument(*parts) for parts in zip(id_list, rows, text_list, meta_list, strict=True)
    ]


def fit_text(text: str) -> str:
    """The text cut at a character boundary to what a VARCHAR field holds."""
    data = text.encode("utf-8")
    if len(data) <= MAX_TEXT_BYTES:
        return text
    return data[:MAX_TEXT_BYTES].decode("utf-8", errors="ignore")


__all__ = [
    "MAX_TEXT_BYTES",
    "NewDocument",
    "check_ids",
    "check_k",
    "check_metadata",
    "check_texts",
    "check_upsert",
    "fit_text",
]
