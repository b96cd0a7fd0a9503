"""Parquet corpora: files with an ``id`` (or ``_id``) and a ``text`` column (optional ``title``
and ``metadata``: a JSON object, as a string or a struct), cut between row groups.

Needs pyarrow: ``pip install "spladekit[parquet]"``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import InvalidArgumentError, MissingDependencyError
from .records import Record, record_from_mapping
from .shard import Shard

PARQUET_SUFFIX = ".parquet"
PARQUET_INSTALL = 'pip install "spladekit[parquet]"'
# Parquet rows decoded per step.
_PARQUET_BATCH = 4096


def is_parquet(path: str) -> bool:
    """Whether a path names a Parquet file (by its suffix)."""
    return path.lower().endswith(PARQUET_SUFFIX)


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


def parquet_shards(path: str, shard_bytes: int | None) -> list[Shard]:
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


def read_parquet(shard: Shard) -> Iterator[Record]:
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


__all__ = ["PARQUET_INSTALL", "PARQUET_SUFFIX", "is_parquet", "parquet_shards", "read_parquet"]
