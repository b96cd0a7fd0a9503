"""What CORPUS arguments name, planned into shards that can be read independently.

Inputs are files, globs (``data/*.jsonl``, ``**`` allowed), BEIR folders (their
``corpus.jsonl``) and Parquet files or folders of them. ``spladekit index`` (one process) and the
Ray path (:mod:`spladekit.distributed`) read inputs through here, so both see the same records.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence

from ..errors import InputTypeError, InvalidArgumentError
from ..validation import choice, optional_positive_int
from .lines import line_shards, read_line_shard
from .parquet import is_parquet, parquet_shards, read_parquet
from .records import FORMATS, Record
from .shard import Shard

BEIR_CORPUS = "corpus.jsonl"


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
        os.path.join(folder, name) for name in os.listdir(folder) if is_parquet(name)
    )
    if not parquet:
        raise InvalidArgumentError(
            f"{folder!r} is a folder without {BEIR_CORPUS} (a BEIR dataset) or Parquet files; "
            "give the files to read, or a glob"
        )
    return parquet


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
        if is_parquet(path):
            shards.extend(parquet_shards(path, shard_bytes))
        else:
            shards.extend(line_shards(path, fmt, shard_bytes, several))
    return shards


def read_shard(shard: Shard) -> Iterator[Record]:
    """The records of one shard, exactly as reading its whole file gives them there."""
    if shard.fmt == "parquet":
        return read_parquet(shard)
    return read_line_shard(shard)


def read_corpus(inputs: Sequence[str], fmt: str = "auto") -> Iterator[Record]:
    """Every record of ``inputs``, file after file (what one process reads)."""
    for shard in corpus_shards(inputs, fmt):
        yield from read_shard(shard)


__all__ = ["BEIR_CORPUS", "corpus_shards", "expand_inputs", "read_corpus", "read_shard"]
