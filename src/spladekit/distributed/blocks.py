"""The Arrow blocks that flow between the stages of a job, and the reading stage.

Blocks between the stages are Arrow tables. Records travel as ``id``, ``text`` and ``metadata``
(a JSON string: Arrow would otherwise merge the keys of every document's metadata into one
struct). Encoded rows add ``vector``, a struct of ``indices`` (uint32) and ``values``
(float32) lists, and ``empty`` (the vector has no weight).

On the way to a collection the rows carry the encoder's vectors and texts as they are:
``MilvusStore.upsert`` applies the collection's rules to them, once. Rows for files
(``file_layout=True``) follow those rules themselves, since Milvus bulk import reads them as
they are: an empty vector is stored as the collection's placeholder
(:func:`spladekit.store.schema.stored_matrix`) and texts are cut to what a VARCHAR field holds.
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
from ..store.input_checks import fit_text
from ..store.schema import stored_matrix
from ..vectors import arrow_to_csr, arrow_vector_type, empty_rows, to_arrow

VECTOR_TYPE = arrow_vector_type()
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


def encoded_table(
    ids: list[str],
    texts: list[str],
    metadata: list[str],
    vectors: csr_array,
    *,
    file_layout: bool = False,
) -> pa.Table:
    """Encoded rows (``ENCODED_SCHEMA``): as encoded, for ``MilvusStore.upsert``; with
    ``file_layout``, as a collection stores them (placeholder vectors, texts cut)."""
    if file_layout:
        vectors, empty = stored_matrix(vectors)
        texts = [fit_text(t) for t in texts]
    else:
        empty = empty_rows(vectors)
    return pa.Table.from_arrays(
        [pa.array(ids, pa.string()), to_arrow(vectors), pa.array(texts, pa.string()),
         pa.array(metadata, pa.string()), pa.array(empty, pa.bool_())],
        schema=ENCODED_SCHEMA,
    )


def stored_rows(
    table: pa.Table, dim: int
) -> tuple[list[str], csr_array, list[str], list[dict[str, Any]]]:
    """(ids, vectors, texts, metadata) of encoded rows, for ``MilvusStore.upsert``."""
    matrix = arrow_to_csr(table.column("vector"), dim)
    metadata = [json.loads(m) for m in table.column("metadata").to_pylist()]
    return table.column("id").to_pylist(), matrix, table.column("text").to_pylist(), metadata


def skipped_table(ids: list[str]) -> pa.Table:
    """Rows for ids found already stored: counted by the sink, never written."""
    n = len(ids)
    empty_vector = to_arrow(csr_array((n, 1), dtype=np.float32))
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
]
