"""The ids a collection held when a job started: the job's existence check, fixed for its run.

Ray retries a task whose worker died by running it again, and keeps of the new run only the
outputs past those the first run had already delivered, counted by position. That is exact
only if a task gives the same outputs every time it runs. A check against the live collection
would not: a batch run again finds the rows its first run delivered already stored, skips them,
and its outputs shift, so a later one is taken for a duplicate and dropped (a document lost;
the worker-kill test caught exactly that). So the driver reads the stored ids once, before the
job, and every batch is checked against that snapshot: a batch's outputs depend on its records
only.

Ids are kept as sorted 16-byte BLAKE2b digests (16 bytes per stored document, shared by the
workers of a node through Ray's object store); two ids share a digest with probability about
2^-128 per pair. A new collection (or ``skip_existing=False``) needs no snapshot at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from ..store.milvus import MilvusStore

DIGEST_BYTES = 16


def digests(ids: Iterable[str]) -> NDArray[np.bytes_]:
    """The 16-byte digest of each id, in order."""
    return np.array(
        [hashlib.blake2b(i.encode("utf-8"), digest_size=DIGEST_BYTES).digest() for i in ids],
        dtype=f"S{DIGEST_BYTES}",
    )


class StoredIds:
    """A sorted set of id digests; :meth:`contains` checks a batch of ids against it.

    Read-only once built, so any number of threads and processes may share one.
    """

    def __init__(self, sorted_digests: NDArray[np.bytes_]) -> None:
        self.digests = sorted_digests

    @classmethod
    def of(cls, ids: Iterable[str]) -> StoredIds:
        return cls(np.sort(digests(ids)))

    @classmethod
    def from_store(cls, store: MilvusStore) -> StoredIds:
        """Every id stored in ``store``'s collection now."""
        parts = [digests(page) for page in store.iter_ids()]
        empty = np.zeros(0, dtype=f"S{DIGEST_BYTES}")
        return cls(np.sort(np.concatenate(parts)) if parts else empty)

    def __len__(self) -> int:
        return len(self.digests)

    def contains(self, ids: Sequence[str]) -> NDArray[np.bool_]:
        """For each id, whether it is in the set."""
        if not len(self.digests) or not ids:
            return np.zeros(len(ids), dtype=bool)
        wanted = digests(ids)
        at = np.minimum(np.searchsorted(self.digests, wanted), len(self.digests) - 1)
        found: NDArray[np.bool_] = self.digests[at] == wanted
        return found


__all__ = ["DIGEST_BYTES", "StoredIds", "digests"]
