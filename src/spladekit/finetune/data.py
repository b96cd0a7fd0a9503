"""Training data for a fine-tune: a BEIR folder's train qrels, a JSONL of pairs, or the corpus.

- A BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/train.tsv``, optional
  ``qrels/dev.tsv``) gives one pair per judged (query, relevant document).
- A JSONL file of ``{"query", "positive", "negatives"?}`` objects gives its pairs as written.
- A BEIR folder without ``qrels/train.tsv`` (or ``self_supervised=True``) gives pairs made from
  the corpus itself (:mod:`.selfsup`).

Bad data is refused by name (file and line), never skipped: a query without a judged
document, a judged id the corpus lacks, an empty text. The corpus is streamed, never held
whole: only the texts of judged documents are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..corpus import open_text
from ..errors import InvalidArgumentError
from ..evaluation import Qrels, read_qrels

CORPUS = "corpus.jsonl"
QUERIES = "queries.jsonl"
TRAIN_QRELS = "qrels/train.tsv"
DEV_QRELS = "qrels/dev.tsv"


@dataclass(frozen=True)
class Pair:
    """One training example: a query, a document that answers it, and optional negatives.

    ``positive_ids`` are the corpus ids that must never be mined as this query's negatives
    (every document judged relevant to it, or the document a self-supervised pair came from);
    empty for JSONL pairs, whose positives have no id.
    """

    query: str
    positive: str
    query_id: str
    positive_ids: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query, "positive": self.positive, "query_id": self.query_id,
            "positive_ids": list(self.positive_ids), "negatives": list(self.negatives),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Pair:
        return cls(
            obj["query"], obj["positive"], obj["query_id"], tuple(obj["positive_ids"]),
            tuple(obj["negatives"]),
        )


@dataclass(frozen=True)
class TrainingData:
    """What a fine-tune learns from, and where it came from.

    ``rule`` says how the pairs were made ("labels: qrels/train.tsv", "pairs: JSONL",
    "self-supervised: title -> body"...); ``dev_rule`` where the dev split came from (empty
    when there is none yet: :func:`hold_out` makes one). ``corpus`` is the BEIR corpus file
    (for mining and evaluation), None for JSONL pairs; ``digest`` a SHA-256 over the files read.
    """

    source: str
    rule: str
    train: list[Pair]
    dev: list[Pair] = field(default_factory=list)
    dev_rule: str = ""
    corpus: Path | None = None
    digest: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def file_digest(paths: list[Path]) -> str:
    """SHA-256 over the files' bytes, in the order given (names included, so a renamed split
    is a different data set)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a line that is not an object is named."""
    with open_text(str(path)) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    f"{path} line {line_no}: not valid JSON ({exc.msg}); each line must be one "
                    "JSON object"
                ) from None
            if not isinstance(obj, dict):
                raise InvalidArgumentError(
                    f"{path} line {line_no}: expected a JSON object, got {type(obj).__name__}"
                )
            yield line_no, obj


def text_field(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"{where}: {key!r} must be a string, got {type(value).__name__}"
        )
    if required and not value.strip():
        raise InvalidArgumentError(f"{where}: {key!r} is empty; every text needs words to learn")
    return value


def record_id(obj: dict[str, Any], where: str) -> str:
    raw = obj.get("_id", obj.get("id"))
    if not isinstance(raw, (str, int)) or isinstance(raw, bool) or raw == "":
        raise InvalidArgumentError(f"{where}: missing '_id' (a string); every record needs an id")
    return str(raw)


def corpus_texts(path: Path, wanted: set[str]) -> dict[str, str]:
    """Title and text of the wanted documents (as BEIR joins them), in one pass over the file."""
    found: dict[str, str] = {}
    for line_no, obj in json_lines(path):
        doc_id = record_id(obj, f"{path} line {line_no}")
        if doc_id not in wanted:
            continue
        where = f"{path} line {line_no} (document {doc_id!r})"
        body = text_field(obj, "text", where, required=False)
        title = text_field(obj, "title", where, required=False).strip()
        text = f"{title} {body}" if title and body else (title or body)
        if not text.strip():
            raise InvalidArgumentError(
                f"{where}: empty title and text, yet it is judged relevant; give it a text or "
                "remove its qrels lines"
            )
        found[doc_id] = text
    return found


def _queries(path: Path, wanted: set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line_no, obj in json_lines(path):
        qid = record_id(obj, f"{path} line {line_no}")
        if qid in wanted:
            out[qid] = text_field(obj, "text", f"{path} line {line_no} (query {qid!r})")
    return out


def _judged(path: Path) -> Qrels:
    """Qrels with every query that has a relevant document; a query with none is named."""
    qrels = read_qrels(path)
    for qid, judged in qrels.items():
        if not any(grade > 0 for grade in judged.values()):
            raise InvalidArgumentError(
                f"{path}: query {qid!r} has no judged relevant document (every grade is 0); "
                "a training query needs at least one positive: grade one document above 0 or "
                "remove its lines"
            )
    if not qrels:
        raise InvalidArgumentError(f"{path} holds no judgement; it needs at least one line")
    return qrels


def beir_pairs(root: Path, split_file: str) -> tuple[list[Pair], Qrels]:
    """One pair per judged (query, relevant document) of ``qrels/<split>.tsv``."""
    qrels_path = root / split_file
    qrels = _judged(qrels_path)
    queries = _queries(root / QUERIES, set(qrels))
    missing_q = [qid for qid in qrels if qid not in queries]
    if missing_q:
        raise InvalidArgumentError(
            f"{qrels_path}: query {missing_q[0]!r} ({len(missing_q)} in all) is judged but "
            f"{root / QUERIES} lacks it; add the query or remove its qrels lines"
        )
    wanted = {doc for judged in qrels.values() for doc in judged}
    texts = corpus_texts(root / CORPUS, wanted)
    for qid, judged in qrels.items():
        for doc in judged:
            if doc not in texts:
                raise InvalidArgumentError(
                    f"{qrels_path}: query {qid!r} judges document {doc!r}, which {root / CORPUS} "
                    "lacks; add the document or remove the qrels line"
                )
    pairs = []
    for qid, judged in qrels.items():
        positives = tuple(doc for doc, grade in judged.items() if grade > 0)
        pairs += [Pair(queries[qid], texts[doc], qid, positives) for doc in positives]
    return pairs, qrels


def jsonl_pairs(path: Path) -> list[Pair]:
    """Pairs from a JSONL file of ``{"query", "positive", "negatives"?}`` objects."""
    pairs = []
    for line_no, obj in json_lines(path):
        where = f"{path} line {line_no}"
        query = text_field(obj, "query", where)
        positive = text_field(obj, "positive", where)
        negatives = obj.get("negatives", [])
        if not isinstance(negatives, list):
            raise InvalidArgumentError(
                f"{where}: 'negatives' must be a list of strings, got {type(negatives).__name__}"
            )
        for i, negative in enumerate(negatives):
            if not isinstance(negative, str) or not negative.strip():
                raise InvalidArgumentError(
                    f"{where}: negatives[{i}] must be a non-empty string, got {negative!r:.40}"
                )
        pairs.append(Pair(query, positive, f"line {line_no}", (), tuple(negatives)))
    if not pairs:
        raise InvalidArgumentError(f"{path} holds no pair; each line needs a query and a positive")
    return pairs


def hold_out(
    data: TrainingData, fraction: float = 0.05, *, max_queries: int = 200, seed: int = 12
) -> TrainingData:
    """Data with a dev split: its own when it has one, else a seeded part of its queries (all
    pairs of a held-out query leave the train split together), at most ``max_queries``."""
    if data.dev:
        return data
    qids = sorted({pair.query_id for pair in data.train})
    n = min(max_queries, int(len(qids) * fraction))
    if n < 1 or len(qids) - n < 1:
        return replace(data, dev_rule="none (too few queries to hold any out)")
    held = set(random.Random(seed).sample(qids, n))
    return replace(
        data,
        train=[p for p in data.train if p.query_id not in held],
        dev=[p for p in data.train if p.query_id in held],
        dev_rule=f"held out from train: {n} of {len(qids)} queries (seed {seed})",
    )


def check_beir(root: Path) -> None:
    for required in (CORPUS, QUERIES):
        if not (root / required).is_file():
            raise InvalidArgumentError(
                f"{root} is not a BEIR folder: {required} is missing (expected corpus.jsonl, "
                "queries.jsonl and qrels/train.tsv; or give a JSONL file of query/positive pairs)"
            )


def source_files(path: Path) -> list[Path]:
    """The files a data source is read from (what its digest covers)."""
    if not path.is_dir():
        return [path]
    names = [CORPUS, QUERIES, TRAIN_QRELS, DEV_QRELS]
    return [path / name for name in names if (path / name).is_file()]


def has_labels(path: Path) -> bool:
    return not path.is_dir() or (path / TRAIN_QRELS).is_file()


def load_labelled(path: str | os.PathLike[str]) -> TrainingData:
    """Pairs from a BEIR folder's train qrels (dev from ``qrels/dev.tsv`` when present) or a
    JSONL file of pairs."""
    root = Path(path)
    if not root.exists():
        raise InvalidArgumentError(
            f"training data {str(root)!r} does not exist; give a BEIR folder or a JSONL file"
        )
    digest = file_digest(source_files(root))
    if not root.is_dir():
        pairs = jsonl_pairs(root)
        return TrainingData(
            str(root), "pairs: JSONL (query, positive, negatives)", pairs, digest=digest,
            counts={"pairs": len(pairs)},
        )
    check_beir(root)
    if not (root / TRAIN_QRELS).is_file():
        raise InvalidArgumentError(
            f"{root}: {TRAIN_QRELS} is missing; give labels there, or train without labels "
            "(self-supervised)"
        )
    train, qrels = beir_pairs(root, TRAIN_QRELS)
    dev: list[Pair] = []
    dev_rule = ""
    if (root / DEV_QRELS).is_file():
        dev, dev_qrels = beir_pairs(root, DEV_QRELS)
        dev_rule = f"{DEV_QRELS} ({len(dev_qrels)} queries)"
    return TrainingData(
        str(root), f"labels: {TRAIN_QRELS}", train, dev, dev_rule, root / CORPUS, digest,
        {"queries": len(qrels), "pairs": len(train)},
    )


__all__ = [
    "Pair",
    "TrainingData",
    "beir_pairs",
    "check_beir",
    "corpus_texts",
    "file_digest",
    "has_labels",
    "hold_out",
    "jsonl_pairs",
    "load_labelled",
    "source_files",
]
