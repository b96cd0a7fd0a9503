"""The Arrow blocks that flow between the stages of a job, and the reading stage.

Blocks between the stages are Arrow tables. Records travel as ``id``, ``text`` and ``metadata``
(a JSON string: Arrow would otherwise merge the keys of every document's metadata into one
struct). Encoded rows add ``vector``, a struct of ``indices`` (uint32) and ``values``
(float32) lists, and ``empty``; they follow the collection's rules (see
:mod:`spladekit.store.milvus`): a vector with no weight is stored as the placeholder
``{0: EMPTY_PLACEHOLDER_WEIGHT}`` with ``empty`` true, and texts are cut to what a VARCHAR
field holds. That is also the layout Milvus bulk import reads from Parquet.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import Any

import numpy as np
import pyarrow as pa
from scipy.sparse import csr_array

from ..corpus import Record, Shard, read_shard
from ..store.base import fit_text
from ..store.milvus import EMPTY_PLACEHOLDER_WEIGHT

VECTOR_TYPE = pa.struct(
    [pa.field("indices", pa.list_(pa.uint32())), pa.field("values", pa.list_(pa.float32()))]
)
RECORD_SCHEMA = pa.schema(
    [pa.field("id", pa.string()), pa.field("text", pa.string()),
     pa.field("metadata", pa.string())]
)
ENCODED_SCHEMA = pa.schema(
    [pa.field("id", pa.string()), pa.field("vector", VECTOR_TYPE),
     pa.field("text", pa.string()), pa.field("metadata", pa.string()),
     pa.field("empty", pa.bool_())]
)
# Rows found already stored travel on to the sink (for its counts) with this flag, no vector.
SKIPPED = "skipped"


def shard_rows(shards: list[Shard]) -> list[dict[str, Any]]:
    """Shards as plain rows for ``ray.data.from_items``."""
    return [asdict(shard) for shard in shards]


def read_shards(batch: pa.Table, block_rows: int) -> Iterator[pa.Table]:
    """Ray Data stage: each shard row of ``batch`` -> its records, in blocks of ``block_rows``.

    Ray Data gives each actor task one block (or a bundle of small ones): blocks of one
    encoder batch each are what spreads a shard over every actor.
    """
    names = [f.name for f in fields(Shard)]
    for row in batch.to_pylist():
        shard = Shard(**{name: row[name] for name in names})
        records: list[Record] = []
        for record in read_shard(shard):
            records.append(record)
            if len(records) == block_rows:
                yield records_table(records)
                records = []
        if records:
            yield records_table(records)


def records_table(records: list[Record]) -> pa.Table:
    return pa.table(
        {
            "id": [r.id for r in records],
            "text": [r.text for r in records],
            "metadata": [json.dumps(r.metadata, ensure_ascii=False) for r in records],
        },
        schema=RECORD_SCHEMA,
    )


def vector_array(vectors: csr_array) -> tuple[pa.StructArray, np.ndarray]:
    """(the ``vector`` column, the ``empty`` flags) of encoded rows, empty rows replaced by the
    placeholder."""
    lengths = np.diff(vectors.indptr)
    empty = lengths == 0
    if empty.any():
        rows = np.flatnonzero(empty)
        placeholder = csr_array(
            (np.full(len(rows), EMPTY_PLACEHOLDER_WEIGHT, np.float32),
             (rows, np.zeros(len(rows), np.int64))),
            shape=vectors.shape,
        )
        vectors = csr_array(vectors + placeholder)
    offsets = pa.array(vectors.indptr.astype(np.int32))
    indices = pa.ListArray.from_arrays(offsets, pa.array(vectors.indices.astype(np.uint32)))
    values = pa.ListArray.from_arrays(offsets, pa.array(vectors.data.astype(np.float32)))
    column = pa.StructArray.from_arrays([indices, values], fields=list(VECTOR_TYPE))
    return column, empty


def encoded_table(
    ids: list[str], texts: list[str], metadata: list[str], vectors: csr_array
) -> pa.Table:
    """Encoded rows in the collection's layout (``ENCODED_SCHEMA``)."""
    column, empty = vector_array(vectors)
    return pa.Table.from_arrays(
        [pa.array(ids, pa.string()), column, pa.array([fit_text(t) for t in texts], pa.string()),
         pa.array(metadata, pa.string()), pa.array(empty, pa.bool_())],
        schema=ENCODED_SCHEMA,
    )


def stored_rows(
    table: pa.Table, dim: int
) -> tuple[list[str], csr_array, list[str], list[dict[str, Any]]]:
    """(ids, vectors, texts, metadata) of encoded rows, for ``MilvusStore.upsert``.

    The vectors come as one (rows, ``dim``) matrix built from the Arrow buffers (no Python loop
    per weight); an empty document's placeholder is left out again (upsert applies it itself
    and records ``empty``).
    """
    vector = table.column("vector").combine_chunks()
    indices_list, values_list = vector.field("indices"), vector.field("values")
    offsets = indices_list.offsets.to_numpy()
    first, last = int(offsets[0]), int(offsets[-1])
    indices = indices_list.values.to_numpy()[first:last].astype(np.int64)
    values = values_list.values.to_numpy()[first:last]
    lengths = np.diff(offsets)
    empty = np.asarray(table.column("empty").to_numpy(zero_copy_only=False), dtype=bool)
    if empty.any():
        keep = ~np.repeat(empty, lengths)
        indices, values = indices[keep], values[keep]
        lengths = np.where(empty, 0, lengths)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    matrix = csr_array((values, indices, indptr), shape=(table.num_rows, dim))
    metadata = [json.loads(m) for m in table.column("metadata").to_pylist()]
    return table.column("id").to_pylist(), matrix, table.column("text").to_pylist(), metadata


def skipped_table(ids: list[str]) -> pa.Table:
    """Rows for ids found already stored: counted by the sink, never written."""
    n = len(ids)
    empty_vector = pa.array([{"indices": [], "values": []}] * n, VECTOR_TYPE)
    return pa.Table.from_arrays(
        [pa.array(ids, pa.string()), empty_vector, pa.array([""] * n, pa.string()),
         pa.array(["{}"] * n, pa.string()), pa.array([False] * n, pa.bool_()),
         pa.array([True] * n, pa.bool_())],
        schema=ENCODED_SCHEMA.append(pa.field(SKIPPED, pa.bool_())),
    )


__all__ = [
    "ENCODED_SCHEMA",
    "SKIPPED",
    "VECTOR_TYPE",
    "encoded_table",
    "read_shards",
    "records_table",
    "shard_rows",
    "skipped_table",
    "stored_rows",
    "vector_array",
]
