"""Line files (plain text or JSON lines) cut into shards right after a newline.

A line file is cut about every ``shard_bytes`` bytes; each shard knows the number of its first
line, so it gives exactly the records (ids, errors naming lines) the whole file gives there.
Finding the cuts reads the file once, at disk speed, on the planning process. Gzip files and
CSV/TSV tables are refused by name, never read as lines.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import IO, Any

from ..errors import InvalidArgumentError
from .records import Record, read_records
from .shard import Shard

# Bytes read per step while looking for cuts and counting lines.
_SCAN_CHUNK = 1 << 20


def read_line_shard(shard: Shard) -> Iterator[Record]:
    """The records of one line-file shard, exactly as reading the whole file gives them there."""
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


def line_shards(path: str, fmt: str, shard_bytes: int | None, several: bool) -> list[Shard]:
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


__all__ = ["line_shards", "read_line_shard", "refuse_unsupported"]
