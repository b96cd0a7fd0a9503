"""Training pairs without labels, made from the corpus itself.

Two rules, chosen per document:

- **title -> body**: a document with a title gives the pair (title, body), the title removed
  from the body where the body repeats it (else the pair is trivially solved by copying);
- **span -> rest** (inverse cloze): a document without a title gives one of its sentences (a
  span of words where it has no sentence breaks) as the query and the rest of the document,
  that span removed, as the positive.

Documents too short to split (fewer than :data:`MIN_WORDS` words in the rest) give no pair and
are counted. When the corpus has more documents than ``max_pairs``, a seeded uniform sample
of them is kept (reservoir sampling: the corpus is streamed, never held whole).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidArgumentError
from .data import (
    CORPUS,
    Pair,
    TrainingData,
    check_beir,
    file_digest,
    json_lines,
    record_id,
    text_field,
)

# The rest of a document must keep this many words to be a positive worth learning from.
MIN_WORDS = 8
# A span query: this many words when the document has no sentence to take.
SPAN_WORDS = 16
SELF_SUPERVISED = "self-supervised"
"""How the rule of pairs made from the corpus begins."""
TITLE_RULE = "title -> body"
CLOZE_RULE = "span -> rest (inverse cloze)"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class _Doc:
    doc_id: str
    title: str
    body: str


def _documents(path: Path) -> Iterator[_Doc]:
    for line_no, obj in json_lines(path):
        where = f"{path} line {line_no}"
        doc_id = record_id(obj, where)
        where = f"{where} (document {doc_id!r})"
        yield _Doc(
            doc_id, text_field(obj, "title", where, required=False).strip(),
            text_field(obj, "text", where, required=False).strip(),
        )


def without_title(title: str, body: str) -> str:
    """The body with a repeated title taken out (at its start, or wherever it appears)."""
    if not title:
        return body
    if body.lower().startswith(title.lower()):
        return body[len(title):].lstrip(" .:-\n\t")
    at = body.lower().find(title.lower())
    if at >= 0:
        return (body[:at] + body[at + len(title):]).strip()
    return body


def title_pair(doc: _Doc) -> Pair | None:
    body = without_title(doc.title, doc.body)
    if len(body.split()) < MIN_WORDS:
        return None
    return Pair(doc.title, body, f"title:{doc.doc_id}", (doc.doc_id,))


def cloze_pair(doc: _Doc, rng: random.Random) -> Pair | None:
    """A sentence (or a span of words) as the query, the rest of the document as positive."""
    sentences = [s for s in _SENTENCE_END.split(doc.body) if s.strip()]
    if len(sentences) >= 2:
        i = rng.randrange(len(sentences))
        query = sentences[i].strip()
        rest = " ".join(s.strip() for j, s in enumerate(sentences) if j != i)
    else:
        words = doc.body.split()
        if len(words) < SPAN_WORDS + MIN_WORDS:
            return None
        start = rng.randrange(len(words) - SPAN_WORDS + 1)
        query = " ".join(words[start:start + SPAN_WORDS])
        rest = " ".join(words[:start] + words[start + SPAN_WORDS:])
    if len(rest.split()) < MIN_WORDS or not query.strip():
        return None
    return Pair(query, rest, f"span:{doc.doc_id}", (doc.doc_id,))


def self_supervised(
    folder: str | Path, *, max_pairs: int = 10_000, seed: int = 12
) -> TrainingData:
    """Pairs made from a BEIR folder's corpus (see the module's rules), at most ``max_pairs``.

    The data's ``rule`` names the rules that ran with their counts, e.g.
    ``self-supervised: title -> body (5183 pairs)``; ``counts`` has ``documents``,
    ``title_pairs``, ``span_pairs`` and ``too_short`` (documents that gave no pair).
    """
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError(
            f"self-supervised training needs a BEIR folder with {CORPUS}, got {str(root)!r}"
        )
    check_beir(root)
    rng = random.Random(seed)
    kept: list[_Doc] = []
    seen = 0
    for doc in _documents(root / CORPUS):
        # Reservoir sampling: each document is kept with probability max_pairs / seen.
        seen += 1
        if len(kept) < max_pairs:
            kept.append(doc)
        else:
            slot = rng.randrange(seen)
            if slot < max_pairs:
                kept[slot] = doc
    if not seen:
        raise InvalidArgumentError(f"{root / CORPUS} holds no document to make pairs from")
    kept.sort(key=lambda d: d.doc_id)
    pairs: list[Pair] = []
    counts = {"documents": seen, "sampled": len(kept), "title_pairs": 0, "span_pairs": 0,
              "too_short": 0}
    for doc in kept:
        pair = title_pair(doc) if doc.title else cloze_pair(doc, rng)
        if pair is None:
            counts["too_short"] += 1
            continue
        counts["title_pairs" if doc.title else "span_pairs"] += 1
        pairs.append(pair)
    if not pairs:
        raise InvalidArgumentError(
            f"{root / CORPUS}: no document is long enough to make a training pair (each needs "
            f"a title and a body of {MIN_WORDS}+ words, or {SPAN_WORDS + MIN_WORDS}+ words); "
            "give labelled pairs instead"
        )
    made = [
        f"{rule} ({counts[key]} pairs)"
        for rule, key in ((TITLE_RULE, "title_pairs"), (CLOZE_RULE, "span_pairs"))
        if counts[key]
    ]
    counts["pairs"] = len(pairs)
    return TrainingData(
        str(root), f"{SELF_SUPERVISED}: " + ", ".join(made), pairs, corpus=root / CORPUS,
        digest=file_digest([root / CORPUS]), counts=counts,
    )


__all__ = [
    "CLOZE_RULE",
    "SELF_SUPERVISED",
    "TITLE_RULE",
    "cloze_pair",
    "self_supervised",
    "title_pair",
    "without_title",
]
