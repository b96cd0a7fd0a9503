"""The unit of reading a corpus: a :class:`Shard` of one file, read on its own."""

from __future__ import annotations

from dataclasses import dataclass


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


__all__ = ["Shard"]
