"""The Ray Data datasink that upserts encoded rows into a collection on a Milvus server.

Each write task opens its own connection, upserts its rows in batches, and retries a batch on
transient failures (:mod:`.retry`) with a growing pause. A batch that still fails after the last
try is counted as failed, and so are the task's remaining rows, which it does not try: the
server is evidently away, and a later run of the same job stores them (writes are upserts by
id, and ids already stored are skipped before encoding). Other failures end the job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from ray.data import Datasink

from ..errors import StoreError
from ..store.config import StoreConfig
from ..vectors import MAX_DIMENSION
from .blocks import SKIPPED, stored_rows
from .retry import RetryingStore, RetryPolicy, is_transient

# Rows per upsert call.
WRITE_BATCH = 500


@dataclass(frozen=True)
class WriteCounts:
    """What write tasks did: rows seen, skipped (already stored), written, written empty,
    failed (not stored after the last retry), and retries made."""

    seen: int = 0
    skipped: int = 0
    written: int = 0
    empty: int = 0
    failed: int = 0
    retries: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self))
        )


class MilvusDatasink(Datasink):  # type: ignore[misc]
    """Upserts the encoder's rows into ``store``'s collection; ``totals`` holds the sum of every
    write task's :class:`WriteCounts` once the job is done (on the driver). ``dim`` bounds the
    vectors' indices (Milvus's own limit when not known)."""

    def __init__(
        self,
        store: StoreConfig,
        retry: RetryPolicy | None = None,
        batch_rows: int = WRITE_BATCH,
        dim: int = MAX_DIMENSION,
    ) -> None:
        self.store = store
        self.dim = dim
        self.retry = retry or RetryPolicy()
        self.batch_rows = batch_rows
        self.totals = WriteCounts()

    def write(self, blocks: Iterable[Any], ctx: Any) -> WriteCounts:
        """Write one task's blocks (Arrow tables from the encoder actors)."""
        store = RetryingStore(self.store, self.retry)
        seen = skipped = written = empty = failed = 0
        giving_up = False
        try:
            for block in blocks:
                table: pa.Table = block
                seen += table.num_rows
                if SKIPPED in table.column_names:
                    mask = table.column(SKIPPED)
                    skipped += int(pc.sum(mask.cast(pa.int64())).as_py() or 0)
                    table = table.drop_columns([SKIPPED]).filter(pc.invert(mask))
                for start in range(0, table.num_rows, self.batch_rows):
                    part = table.slice(start, self.batch_rows)
                    if giving_up:
                        failed += part.num_rows
                        continue
                    ids, vectors, texts, metadata = stored_rows(part, self.dim)
                    try:
                        result = store.call(
                            lambda s: s.upsert(ids, vectors, texts, metadata)  # noqa: B023
                        )
                    except (StoreError, ConnectionError, TimeoutError) as exc:
                        if not is_transient(exc):
                            raise
                        # Transient, and the retries are spent: the server is away.
                        giving_up = True
                        failed += part.num_rows
                        continue
                    written += result.count
                    empty += len(result.empty_ids)
        finally:
            store.close()
        return WriteCounts(seen, skipped, written, empty, failed, store.retries)

    def on_write_complete(self, write_result: Any) -> None:
        totals = WriteCounts()
        for counts in write_result.write_returns:
            totals = totals + counts
        self.totals = totals


__all__ = ["WRITE_BATCH", "MilvusDatasink", "WriteCounts"]
