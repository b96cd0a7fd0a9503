"""The encoder actor: what Ray Data runs on ``workers`` actors, each loading the model once.

Only this module of the package imports torch (through the encoder): read and write tasks, which
import :mod:`.blocks` and :mod:`.sink`, stay light.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..encoder import SpladeEncoder
from ..options import EncoderConfig
from .blocks import SKIPPED, encoded_table, skipped_table
from .snapshot import StoredIds


class EncodeBatch:
    """Ray Data actor: loads the encoder once, then encodes batches of records.

    ``for_index``: an id repeated within a batch is encoded once (its first occurrence), and
    rows not encoded leave with ``skipped`` set, for the sink to count. With ``stored`` (the
    ids the collection held when the job started, :mod:`.snapshot`; or a Ray reference to
    them), each batch drops those ids before encoding, so a job run again encodes only what is
    missing, and a batch gives the same rows however often Ray runs it. ``threads`` caps
    torch's CPU threads at the actor's share of the machine; ``progress`` is a counter actor
    told of each batch.
    """

    def __init__(
        self,
        model: str,
        config: EncoderConfig,
        *,
        threads: int | None = None,
        for_index: bool = False,
        stored: Any = None,
        progress: Any = None,
    ) -> None:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        if stored is not None and not isinstance(stored, StoredIds):
            import ray

            stored = ray.get(stored)  # shared read-only from the node's object store
        self.encoder = SpladeEncoder(model, config)
        self.for_index = for_index
        self.stored: StoredIds | None = stored
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
        if self.stored is not None and todo:
            known = self.stored.contains([ids[i] for i in todo])
            todo = [i for i, stored in zip(todo, known.tolist(), strict=True) if not stored]
        vectors = self.encoder.encode_documents([texts[i] for i in todo])
        table = encoded_table(
            [ids[i] for i in todo], [texts[i] for i in todo], [metadata[i] for i in todo], vectors,
            file_layout=not self.for_index,  # files are read as they are by Milvus bulk import
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


__all__ = ["EncodeBatch"]
