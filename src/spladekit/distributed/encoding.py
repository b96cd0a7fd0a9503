"""What runs on Ray workers before writing: reading shards into records, and the encoder actor.

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

from ..corpus import Record
from ..encoder import SpladeEncoder
from ..options import EncoderConfig
from ..sources import Shard, read_shard
from ..store.base import fit_text
from ..store.milvus import EMPTY_PLACEHOLDER_WEIGHT
from .retry import RetryingStore, RetryPolicy, StoreSpec

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


def stored_rows(table: pa.Table) -> tuple[list[str], list[dict[int, float]], list[str],
                                          list[dict[str, Any]]]:
    """(ids, vectors, texts, metadata) of encoded rows, for ``MilvusStore.upsert``; an empty
    document's placeholder becomes ``{}`` again (upsert applies the placeholder itself and
    records ``empty``)."""
    ids = table.column("id").to_pylist()
    vectors = [
        {} if is_empty else dict(zip(v["indices"], v["values"], strict=True))
        for v, is_empty in zip(
            table.column("vector").to_pylist(), table.column("empty").to_pylist(), strict=True
        )
    ]
    texts = table.column("text").to_pylist()
    metadata = [json.loads(m) for m in table.column("metadata").to_pylist()]
    return ids, vectors, texts, metadata


class EncodeBatch:
    """Ray Data actor: loads the encoder once, then encodes batches of records.

    ``for_index``: an id repeated within a batch is encoded once (its first occurrence), and
    rows not encoded leave with ``skipped`` set, for the sink to count. With ``store``, each
    batch also drops the ids already stored before encoding, so a job run again encodes only
    what is missing. ``threads`` caps torch's CPU threads at the actor's share of the machine;
    ``progress`` is a counter actor told of each batch.
    """

    def __init__(
        self,
        model: str,
        config: EncoderConfig,
        *,
        threads: int | None = None,
        for_index: bool = False,
        store: StoreSpec | None = None,
        retry: RetryPolicy | None = None,
        progress: Any = None,
    ) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.encoder = SpladeEncoder(model, config)
        self.for_index = for_index
        self.store = RetryingStore(store, retry or RetryPolicy()) if store is not None else None
        self.progress = progress

    def __call__(self, batch: pa.Table) -> pa.Table:
        ids = batch.column("id").to_pylist()
        texts = batch.column("text").to_pylist()
        metadata = batch.column("metadata").to_pylist()
        todo = list(range(len(ids)))
        if self.for_index:
            first: dict[str, int] = {}
            for i, doc_id in enumerate(ids):
                first.setdefault(doc_id, i)
            todo = sorted(first.values())
        if self.store is not None and todo:
            wanted = [ids[i] for i in todo]
            stored = self.store.call(lambda store: store.existing_ids(wanted))
            todo = [i for i in todo if ids[i] not in stored]
        vectors = self.encoder.encode_documents([texts[i] for i in todo])
        table = encoded_table(
            [ids[i] for i in todo], [texts[i] for i in todo], [metadata[i] for i in todo], vectors
        )
        if self.for_index:
            skipped = sorted(set(range(len(ids))) - set(todo))
            table = pa.concat_tables([
                table.append_column(SKIPPED, pa.array([False] * len(todo), pa.bool_())),
                skipped_table([ids[i] for i in skipped]),
            ])
        if self.progress is not None:
            self.progress.add.remote(len(ids))
        return table

    def __del__(self) -> None:
        store = getattr(self, "store", None)
        if store is not None:
            store.close()


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
    "EncodeBatch",
    "encoded_table",
    "read_shards",
    "records_table",
    "shard_rows",
    "skipped_table",
    "stored_rows",
    "vector_array",
]
