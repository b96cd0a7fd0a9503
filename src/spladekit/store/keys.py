"""Document ids as Milvus stores them, and the expressions that find them.

Any valid id (:func:`spladekit.validation.document_id`: quotes, backslashes and any Unicode
but control characters) can be written, replaced, read and deleted, on Milvus Lite and on a
server:

- expressions quote ids in double quotes with ``\\`` and ``"`` escaped, which both engines'
  expression grammar reads back exactly;
- a Milvus 2.5 server cannot upsert or delete a row whose primary key holds a single quote
  (it answers "internal error": it re-quotes the keys it found in single quotes, unescaped; and
  pymilvus's ``delete(ids=...)`` quotes them the same way, so ``O'Brien`` deletes ``O``). On a
  server spladekit therefore stores each ``'`` of an id as U+001E (a control character, which
  no valid id holds, so the mapping cannot collide) and maps it back on every read. Milvus
  Lite stores ids as given.
"""

from __future__ import annotations

from collections.abc import Sequence

from .schema import ID_FIELD

QUOTE = "'"
QUOTE_STORED = "\x1e"


def stored_id(doc_id: str, server: bool) -> str:
    """The primary key an id is stored under."""
    return doc_id.replace(QUOTE, QUOTE_STORED) if server else doc_id


def given_id(key: object, server: bool) -> str:
    """The id a stored primary key stands for."""
    text = str(key)
    return text.replace(QUOTE_STORED, QUOTE) if server else text


def quote(text: str) -> str:
    """A string literal for Milvus's expression grammar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def id_filter(ids: Sequence[str], server: bool) -> str:
    """The expression matching the rows of these ids."""
    return f"{ID_FIELD} in [{', '.join(quote(stored_id(i, server)) for i in ids)}]"


__all__ = ["given_id", "id_filter", "quote", "stored_id"]
