"""Reading texts to encode or index: plain text (one per line), JSON lines, BEIR corpus.jsonl."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .errors import InvalidArgumentError


@dataclass(frozen=True)
class Record:
    """One text with its id and optional metadata."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _from_json(obj: object, line_no: int, source: str) -> Record:
    if not isinstance(obj, dict):
        raise InvalidArgumentError(
            f"{source} line {line_no}: expected a JSON object with 'id' and 'text', got "
            f"{type(obj).__name__}"
        )
    raw_id = obj.get("id", obj.get("_id"))
    if raw_id is None or isinstance(raw_id, (dict, list)):
        raise InvalidArgumentError(
            f"{source} line {line_no}: missing 'id' (or BEIR '_id'); every record needs an id"
        )
    text = obj.get("text")
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"{source} line {line_no}: 'text' must be a string, got {type(text).__name__}"
        )
    title = obj.get("title")
    if isinstance(title, str) and title.strip():
        # BEIR corpus.jsonl: title and text are joined, as BEIR's own evaluation does.
        text = f"{title.strip()} {text}" if text else title.strip()
    meta = obj.get("metadata")
    metadata = dict(meta) if isinstance(meta, dict) else {}
    return Record(str(raw_id), text, metadata)


def read_records(
    lines: Iterable[str], source: str = "input", fmt: str = "auto"
) -> Iterator[Record]:
    """Records from JSON lines (``id``/``text``, BEIR ``_id``/``title``/``text``) or plain lines.

    ``fmt`` is ``auto`` (JSON lines when the first non-empty line starts with ``{``),
    ``jsonl`` or ``text``. Plain-text lines get ids "0", "1", ... by line number; blank lines in
    JSON input are skipped, in text input they are texts too (nothing is silently dropped).
    """
    if fmt not in ("auto", "jsonl", "text"):
        raise InvalidArgumentError(f"format must be auto, jsonl or text, got {fmt!r}")
    mode = None if fmt == "auto" else fmt
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n").rstrip("\r")
        if mode is None:
            if not line.strip():
                continue
            mode = "jsonl" if line.lstrip().startswith("{") else "text"
        if mode == "jsonl":
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    f"{source} line {line_no}: not valid JSON ({exc.msg}); use one JSON object "
                    "per line, or --format text"
                ) from exc
            yield _from_json(obj, line_no, source)
        else:
            yield Record(str(line_no - 1), line)


def open_text(path: str) -> IO[str]:
    """Open a UTF-8 text file with a clear error when it is missing."""
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path!r}: {exc.strerror}") from exc


__all__ = ["Record", "open_text", "read_records"]
