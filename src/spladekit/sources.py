"""Corpus files: what CORPUS arguments name, cut into shards that can be read independently.

``spladekit index`` (one process) and the Ray path (:mod:`spladekit.distributed`) read inputs
through this module, so both see the same records: the same ids, the same text (BEIR title +
text) and the same metadata as :func:`spladekit.corpus.read_records` gives for a whole file.

Inputs are files, globs (``data/*.jsonl``, ``**`` allowed), BEIR folders (their
``corpus.jsonl``) and Parquet files or folders of them. Line files are plain text or JSON lines
(per file, as :func:`~spladekit.corpus.read_records` detects); Parquet files need an ``id`` (or
``_id``) and a ``text`` column, with optional ``title`` and ``metadata`` (a JSON object, as a
string or a struct). Gzip files and CSV/TSV tables are refused by name (decompress them, or
convert tables to JSON lines or Parquet), never read as lines.

Ids: a JSON or Parquet record keeps its own id. A plain-text line's id is its line number ("0",
"1", ...) when one file is read; when several are, it is ``<path>:<line number>`` with the path
as given (normalised), so lines of different files never share an id. Run a job again with the
same paths (from the same folder) and the ids are the same, which is what resuming relies on.

Shards: a line file is cut right after a newline about every ``shard_bytes`` bytes; each shard
knows the number of its first line, so it gives exactly the records (ids, errors naming lines)
the whole file gives there. Finding the cuts reads the file once, at disk speed, on the planning
process. A Parquet file is cut between row groups.
"""

from __future__ import annotations

import glob
import io
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .corpus import FORMATS, Record, read_records, record_from_mapping
from .errors import InputTypeError, InvalidArgumentError, MissingDependencyError
from .validation import choice, optional_positive_int

PARQUET_SUFFIX = ".parquet"
BEIR_CORPUS = "corpus.jsonl"
PARQUET_INSTALL = 'pip install "spladekit[parquet]"'
# Bytes read per step while looking for cuts and counting lines.
_SCAN_CHUNK = 1 << 20
# Parquet rows decoded per step.
_PARQUET_BATCH = 4096


@dataclass(frozen=True)
class Shard:
    """A piece of one corpus file that reads on its own into the records the file gives there.

    - ``fmt``: ``auto`` (only a file's first shard: it detects as the whole file would),
      ``jsonl`` or ``text`` for line files; ``parquet``;
    - ``start``/``end``: bytes of a line file, or row groups of a Parquet file;
    - ``first_line``: number of the shard's first line (or row), counted from 1 in the file;
    - ``id_prefix``: put before plain-text ids when several files are read;
    - ``rows``: lines (or rows) in the shard, an estimate of its records for progress bars;
    - ``size``: its bytes (uncompressed, for Parquet), to size the blocks it is read into.
    """

    path: str
    fmt: str
    start: int
    end: int
    first_line: int
    id_prefix: str = ""
    rows: int = 0
    size: int = 0


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """The files that CORPUS arguments name, in order, each once.

    A folder is a BEIR dataset (its ``corpus.jsonl``) or holds Parquet files (all of them,
    sorted); a glob expands to its matches, sorted. ``-`` (stdin) is kept as is.
    """
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Sequence):
        raise InputTypeError(
            f"inputs must be a list of paths, got {type(inputs).__name__}; wrap one path: [path]"
        )
    if not inputs:
        raise InvalidArgumentError("no input: give at least one file, glob or folder")
    files: list[str] = []
    for item in inputs:
        if not isinstance(item, (str, os.PathLike)):
            raise InputTypeError(f"inputs must be paths, got {type(item).__name__}")
        path = os.fspath(item)
        if path == "-" or os.path.isfile(path):
            files.append(path)
        elif os.path.isdir(path):
            files.extend(_folder_files(path))
        elif glob.has_magic(path):
            matches = sorted(glob.glob(path, recursive=True))
            if not matches:
                raise InvalidArgumentError(f"no file matches {path!r}")
            for match in matches:
                files.extend(_folder_files(match) if os.path.isdir(match) else [match])
        else:
            raise InvalidArgumentError(f"cannot read {path!r}: no such file or folder")
    seen: set[str] = set()
    unique = []
    for path in files:
        key = path if path == "-" else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append(path)
    if "-" in unique and len(unique) > 1:
        raise InvalidArgumentError("stdin (-) can only be read alone, not beside files")
    return unique


def _folder_files(folder: str) -> list[str]:
    corpus = os.path.join(folder, BEIR_CORPUS)
    if os.path.isfile(corpus):
        return [corpus]
    parquet = sorted(
        os.path.join(folder, name) for name in os.listdir(folder) if _is_parquet(name)
    )
    if not parquet:
        raise InvalidArgumentError(
            f"{folder!r} is a folder without {BEIR_CORPUS} (a BEIR dataset) or Parquet files; "
            "give the files to read, or a glob"
        )
    return parquet


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(PARQUET_SUFFIX)


def corpus_shards(
    inputs: Sequence[str], fmt: str = "auto", *, shard_bytes: int | None = None
) -> list[Shard]:
    """Plan the reading of ``inputs``: shards of about ``shard_bytes`` bytes (one per file when
    None), in input order. ``fmt`` (``auto``, ``jsonl``, ``text``) applies to line files."""
    choice("format", fmt, FORMATS)
    shard_bytes = optional_positive_int("shard_bytes", shard_bytes)
    files = expand_inputs(inputs)
    if "-" in files:
        raise InvalidArgumentError(
            "stdin (-) cannot be cut into shards; save it to a file and give the file"
        )
    several = len(files) > 1
    shards: list[Shard] = []
    for path in files:
        if _is_parquet(path):
            shards.extend(_parquet_shards(path, shard_bytes))
        else:
            shards.extend(_line_shards(path, fmt, shard_bytes, several))
    return shards


def read_shard(shard: Shard) -> Iterator[Record]:
    """The records of one shard, exactly as reading its whole file gives them there."""
    if shard.fmt == "parquet":
        yield from _read_parquet(shard)
        return
    handle = _open_binary(shard.path)
    try:
        text = io.TextIOWrapper(
            io.BufferedReader(_ByteRange(handle, shard.start, shard.end)),
            # As open_text: a byte-order mark starts only a file, and universal newlines.
            encoding="utf-8-sig" if shard.start == 0 else "utf-8",
            newline=None,
        )
        records = read_records(text, shard.path, shard.fmt, first_line=shard.first_line)
        if not shard.id_prefix:
            yield from records
            return
        for record in records:
            yield Record(shard.id_prefix + record.id, record.text, record.metadata)
    finally:
        handle.close()


def read_corpus(inputs: Sequence[str], fmt: str = "auto") -> Iterator[Record]:
    """Every record of ``inputs``, file after file (what one process reads)."""
    for shard in corpus_shards(inputs, fmt):
        yield from read_shard(shard)


# -- line files ----------------------------------------------------------------------------


def _open_binary(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path!r}: {exc.strerror}") from exc


class _ByteRange(io.RawIOBase):
    """Bytes ``start`` to ``end`` of an open binary file, as a readable stream."""

    def __init__(self, handle: IO[bytes], start: int, end: int) -> None:
        super().__init__()
        handle.seek(start)
        self._handle = handle
        self._left = end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        data = self._handle.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


_GZIP_MAGIC = b"\x1f\x8b"
_TABLE_SUFFIXES = {".csv": "CSV", ".tsv": "TSV"}


def refuse_unsupported(path: str) -> None:
    """Refuse, by name, a file that would otherwise be read wrongly as lines: gzip (by its
    magic bytes or suffix) and CSV/TSV tables (by suffix), whose header is not a text."""
    handle = _open_binary(path)
    with handle:
        head = handle.read(len(_GZIP_MAGIC))
    if head == _GZIP_MAGIC or path.lower().endswith(".gz"):
        raise InvalidArgumentError(
            f"{path!r} is gzip-compressed, which spladekit does not read; decompress it first "
            f"(gunzip -k {os.path.basename(path)}) and give the uncompressed file"
        )
    kind = _TABLE_SUFFIXES.get(os.path.splitext(path)[1].lower())
    if kind is not None:
        raise InvalidArgumentError(
            f"{path!r} is a {kind} table, which spladekit does not read (its header and "
            "columns are not texts); convert it to JSON lines with 'id' and 'text' fields, or "
            "to Parquet with id and text columns"
        )


def _line_shards(path: str, fmt: str, shard_bytes: int | None, several: bool) -> list[Shard]:
    refuse_unsupported(path)
    mode, content_end = (fmt, 0) if fmt != "auto" else _detect(path)
    if mode is None:
        return []  # only blank lines: the file holds no record
    prefix = os.path.normpath(path) + ":" if several and mode == "text" else ""
    cuts, total_lines = _cuts(path, shard_bytes)
    # In auto mode the first shard detects the format itself, so it must hold the first
    # non-blank line; blank lines before it are not records.
    cuts = [(0, 0)] + [c for c in cuts[1:] if c[0] >= content_end]
    size = os.path.getsize(path)
    shards = []
    for i, (start, before) in enumerate(cuts):
        end, after = cuts[i + 1] if i + 1 < len(cuts) else (size, total_lines)
        shards.append(
            Shard(
                path, fmt if i == 0 else mode, start, end, before + 1, prefix, after - before,
                end - start,
            )
        )
    return shards


def _detect(path: str) -> tuple[str | None, int]:
    """(format of the first non-blank line, byte offset just after it), as read_records sees
    it: ``jsonl`` when it starts with ``{``; ``None`` when every line is blank."""
    handle = _open_binary(path)
    with handle:
        offset = 0
        for number, raw in enumerate(handle):
            offset += len(raw)
            # Decoding errors are reported, with their byte, when the shard is read.
            decoded = raw.decode("utf-8-sig" if number == 0 else "utf-8", errors="replace")
            for line in io.StringIO(decoded, newline=None):  # universal newlines, as open()
                line = line.rstrip("\n")
                if line.strip():
                    return ("jsonl" if line.lstrip().startswith("{") else "text"), offset
    return None, offset


def _count_lines(piece: bytes, after_cr: bool) -> int:
    """Line breaks in ``piece`` (\\n, \\r\\n or a lone \\r, as text mode reads them);
    ``after_cr``: the previous piece ended with \\r (with a leading \\n it is one break)."""
    breaks = piece.count(b"\n") + piece.count(b"\r") - piece.count(b"\r\n")
    return breaks - 1 if after_cr and piece.startswith(b"\n") else breaks


def _cuts(path: str, shard_bytes: int | None) -> tuple[list[tuple[int, int]], int]:
    """Cut points (byte offset, line breaks before it), the first at 0, each right after a
    newline about ``shard_bytes`` after the previous one; and the file's number of lines."""
    cuts = [(0, 0)]
    lines = 0
    position = 0  # file offset of the current chunk
    after_cr = False
    target = shard_bytes if shard_bytes is not None else -1
    handle = _open_binary(path)
    with handle:
        size = os.fstat(handle.fileno()).st_size
        while True:
            chunk = handle.read(_SCAN_CHUNK)
            if not chunk:
                break
            done = 0  # bytes of this chunk already counted
            while shard_bytes is not None and target < position + len(chunk):
                newline = chunk.find(b"\n", max(done, target - position))
                if newline < 0:
                    break  # the cut falls in a later chunk
                lines += _count_lines(chunk[done : newline + 1], after_cr)
                after_cr = False
                done = newline + 1
                if position + done < size:
                    cuts.append((position + done, lines))
                target = position + done + shard_bytes
            rest = chunk[done:]
            if rest:
                lines += _count_lines(rest, after_cr)
                after_cr = rest.endswith(b"\r")
            position += len(chunk)
            last = chunk[-1:]
    if size and last not in (b"\n", b"\r"):
        lines += 1  # a last line without a line break
    return cuts, lines


# -- Parquet -------------------------------------------------------------------------------


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading Parquet needs pyarrow, which is not installed: {PARQUET_INSTALL}"
        ) from exc
    return pq


def _parquet_file(path: str) -> Any:
    pq = _parquet()
    try:
        return pq.ParquetFile(path)
    except OSError as exc:
        raise InvalidArgumentError(f"cannot read {path!r} as Parquet: {exc}") from exc
    except Exception as exc:  # pyarrow.ArrowInvalid: not a Parquet file
        raise InvalidArgumentError(f"{path!r} is not a Parquet file: {exc}") from exc


def _parquet_columns(path: str, names: Sequence[str]) -> list[str]:
    have = set(names)
    if "text" not in have or not have & {"id", "_id"}:
        raise InvalidArgumentError(
            f"{path} has columns {', '.join(names)}; a corpus in Parquet needs 'id' (or '_id') "
            "and 'text' (optional: 'title', 'metadata')"
        )
    return [c for c in ("id", "_id", "text", "title", "metadata") if c in have]


def _parquet_shards(path: str, shard_bytes: int | None) -> list[Shard]:
    meta = _parquet_file(path).metadata
    _parquet_columns(path, meta.schema.to_arrow_schema().names)
    groups = [(meta.row_group(i).num_rows, meta.row_group(i).total_byte_size)
              for i in range(meta.num_row_groups)]
    shards = []
    first = 0
    row = 1
    while first < len(groups):
        last, size = first, 0
        while last < len(groups) and (
            last == first or shard_bytes is None or size + groups[last][1] <= shard_bytes
        ):
            size += groups[last][1]
            last += 1
        rows = sum(n for n, _ in groups[first:last])
        shards.append(Shard(path, "parquet", first, last, row, "", rows, size))
        row += rows
        first = last
    return shards


def _read_parquet(shard: Shard) -> Iterator[Record]:
    handle = _parquet_file(shard.path)
    columns = _parquet_columns(shard.path, handle.schema_arrow.names)
    row = shard.first_line
    for batch in handle.iter_batches(
        batch_size=_PARQUET_BATCH, row_groups=range(shard.start, shard.end), columns=columns
    ):
        for values in batch.to_pylist():
            where = f"{shard.path} row {row}"
            meta = values.get("metadata")
            if isinstance(meta, str):
                values["metadata"] = _json_object(meta, where)
            elif isinstance(meta, list):  # a Parquet map arrives as (key, value) pairs
                values["metadata"] = dict(meta)
            yield record_from_mapping(values, where)
            row += 1


def _json_object(text: str, where: str) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"{where}: 'metadata' is not valid JSON ({exc.msg}); store a JSON object"
        ) from exc


__all__ = [
    "PARQUET_INSTALL",
    "Shard",
    "corpus_shards",
    "expand_inputs",
    "read_corpus",
    "read_shard",
    "refuse_unsupported",
]
