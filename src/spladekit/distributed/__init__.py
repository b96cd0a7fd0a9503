"""Distributed indexing on Ray Data: corpora that outgrow one machine, into a Milvus server.

- :func:`~.jobs.index_on_ray`: read files in parallel, encode with actors that each load the
  model once (on CPUs or GPUs), upsert into a collection on a Milvus server, losing nothing and
  doubling nothing when a worker or the driver dies (run it again to resume);
- :func:`~.jobs.encode_on_ray`: the same encoding into Parquet files (Milvus bulk import, or any
  engine);
- :class:`~.runtime.RayOptions`: where (``local``, ``auto``, an address) and how wide.

Ray (``pip install "spladekit[ray]"``) is imported only when a job runs; without it the job
raises :class:`~spladekit.MissingDependencyError` with that command.
"""

from __future__ import annotations

from .jobs import RayEncodeReport, RayIndexReport, encode_on_ray, index_on_ray
from .retry import RetryPolicy
from .runtime import RayOptions

__all__ = [
    "RayEncodeReport",
    "RayIndexReport",
    "RayOptions",
    "RetryPolicy",
    "encode_on_ray",
    "index_on_ray",
]
