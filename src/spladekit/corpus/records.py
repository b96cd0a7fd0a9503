"""Reading texts to encode or index: plain text (one per line), JSON lines, BEIR corpus.jsonl."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import InvalidArgumentError
from ..validation import MAX_METADATA_DEPTH, check_depth, check_unicode, document_id

BOM = "\ufeff"
FORMATS = ("auto", "jsonl", "text")


@dataclass(frozen=True)
class Record:
    """One text with its id and optional metadata."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


def record_from_mapping(obj: object, where: str) -> Record:
    """A Record from one JSON object or table row (``id`` or BEIR ``_id``, ``text``, optional
    ``title`` and ``metadata``); ``where`` names it in errors ("corpus.jsonl line 3")."""
    if not isinstance(obj, dict):
        raise InvalidArgumentError(
            f"{where}: expected a JSON object with 'id' and 'text', got {type(obj).__name__}"
        )
    raw_id = obj.get("id", obj.get("_id"))
    if raw_id is None or isinstance(raw_id, (dict, list)):
        raise InvalidArgumentError(
            f"{where}: missing 'id' (or BEIR '_id'); every record needs an id"
        )
    text = obj.get("text")
    if not isinstance(text, str):
        raise InvalidArgumentError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    title = obj.get("title")
    if isinstance(title, str) and title.strip():
        # BEIR corpus.jsonl: title and text are joined, as BEIR's own evaluation does.
        text = f"{title.strip()} {text}" if text else title.strip()
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise InvalidArgumentError(
            f"{where}: 'metadata' must be a JSON object, got {type(meta).__name__}"
        )
    doc_id = str(raw_id)
    check_unicode(f"{where} text", text)
    # The store's rules, checked here so that an error names the file and line.
    document_id(doc_id, f"{where} id")
    check_depth(meta, f"{where} 'metadata'")
    return Record(doc_id, text, dict(meta or {}))


def read_records(
    lines: Iterable[str], source: str = "input", fmt: str = "auto", *, first_line: int = 1
) -> Iterator[Record]:
    """Records from JSON lines (``id``/``text``, BEIR ``_id``/``title``/``text``) or plain lines.

    ``fmt`` is ``auto`` (JSON lines when the first non-empty line starts with ``{``),
    ``jsonl`` or ``text``. Plain-text lines get ids "0", "1", ... by line number; blank lines in
    JSON input are skipped, in text input they are texts too (nothing is silently dropped).
    ``first_line`` is the number of the first of ``lines`` in its file, for reading a file in
    pieces (:mod:`spladekit.corpus`): ids and error messages stay those of the whole file.
    """
    if fmt not in FORMATS:
        raise InvalidArgumentError(f"format must be auto, jsonl or text, got {fmt!r}")
    mode = None if fmt == "auto" else fmt
    for line_no, raw in _numbered_lines(lines, source, first_line - 1):
        line = raw.rstrip("\n").rstrip("\r")
        if line_no == 1:
            line = line.removeprefix(BOM)  # a byte-order mark is not part of the first text
        if mode is None:
            if not line.strip():
                continue
            mode = "jsonl" if line.lstrip().startswith("{") else "text"
        if mode == "jsonl":
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except RecursionError:
                raise InvalidArgumentError(
                    f"{source} line {line_no}: the JSON nests deeper than Python can read; "
                    f"metadata may nest at most {MAX_METADATA_DEPTH} levels"
                ) from None
            except json.JSONDecodeError as exc:
                raise InvalidArgumentError(
                    f"{source} line {line_no}: not valid JSON ({exc.msg}); use one JSON object "
                    "per line, or read the file as plain text"
                ) from exc
            yield record_from_mapping(obj, f"{source} line {line_no}")
        else:
            check_unicode(f"{source} line {line_no}", line)
            yield Record(str(line_no - 1), line)


def _numbered_lines(
    lines: Iterable[str], source: str, before: int = 0
) -> Iterator[tuple[int, str]]:
    """(line number, line), turning a decoding failure into an error that names the byte."""
    iterator = iter(lines)
    line_no = before  # lines read so far
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            # Files are decoded in blocks, so the line is not known: name the byte instead.
            raise InvalidArgumentError(
                f"{source} is not UTF-8 text: byte 0x{exc.object[exc.start]:02x} cannot be "
                "decoded; convert the file to UTF-8 (for example iconv -f latin1 -t utf-8)"
            ) from None
        line_no += 1
        yield line_no, raw


def open_text(path: str) -> IO[str]:
    """Open a UTF-8 text file (a leading byte-order mark is skipped), or say why not."""
    try:
        return open(path, encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path!r}: {exc.strerror}") from exc


__all__ = ["FORMATS", "Record", "open_text", "read_records", "record_from_mapping"]
