"""The jobs: index a corpus into a Milvus server, or encode it into Parquet shards, on Ray Data.

Both read the corpus in parallel (shards of :mod:`spladekit.corpus`: the same records as
``spladekit index`` reads), encode with ``workers`` actors that each load the model once
(:class:`.encoding.EncodeBatch`), and write in parallel: upserts through
:class:`.sink.MilvusDatasink`, or Parquet files.

Indexing loses nothing and doubles nothing: the driver creates the collection, records the
model and reads the ids already stored before the job; each batch drops those ids before
encoding, so its output depends on its records only (:mod:`.snapshot` says why that matters to
Ray's retries); writes are upserts by id. Ray restarts a killed actor and runs its batch again;
a job whose driver died is resumed by running it again, which encodes only what is missing.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..checkpoint.identity import model_identity
from ..checkpoint.known import DEFAULT_MODEL
from ..checkpoint.loading import resolve_model_dir
from ..corpus import Shard, corpus_shards
from ..errors import InputTypeError, InvalidArgumentError
from ..options import EncoderConfig, Progress
from ..store.config import MEMORY_URI, StoreConfig, check_uri
from ..store.lite import is_lite_uri
from ..store.milvus import MilvusStore
from ..validation import positive_int
from .retry import RetryPolicy, open_existing
from .runtime import (
    LOCAL,
    RayOptions,
    cluster_cpus,
    cluster_gpus,
    connected,
    job_error,
    progress_reports,
    ray_module,
)

# Bytes of a line file per read task; Parquet files are cut between row groups near this.
DEFAULT_SHARD_BYTES = 16 * 1024 * 1024
# Documents per encoder batch: one encode call, one block to write.
DEFAULT_BATCH_SIZE = 256
# Seconds each Milvus call of a job may take when the store's settings name no timeout: a
# write task waiting forever on a server that went away would hold the job.
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class RayIndexReport:
    """What :func:`index_on_ray` did.

    ``seen``: records read; ``encoded``: encoded (and written, unless ``failed``);
    ``skipped``: already stored, or repeated within a batch; ``empty``: written with an empty
    vector; ``stored``: documents in the collection afterwards; ``failed``: encoded but not
    stored after the last retry (run the job again to store them); ``retries``: Milvus calls
    tried again after a transient failure; ``seconds``: wall time of the Ray job, startup
    included.
    """

    seen: int
    encoded: int
    skipped: int
    empty: int
    stored: int
    failed: int
    retries: int
    workers: int
    seconds: float

    @property
    def documents_per_second(self) -> float:
        """Encoded documents per second of wall time (0 when nothing was encoded)."""
        return self.encoded / self.seconds if self.encoded and self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RayEncodeReport:
    """What :func:`encode_on_ray` wrote: ``encoded`` rows (``empty`` of them with an empty
    vector) in ``files`` Parquet files under ``folder``, in ``seconds`` (startup included)."""

    encoded: int
    empty: int
    files: int
    folder: str
    workers: int
    seconds: float

    @property
    def documents_per_second(self) -> float:
        return self.encoded / self.seconds if self.encoded and self.seconds > 0 else 0.0


Inputs = Sequence[str | os.PathLike[str]] | Sequence[Shard]


def index_on_ray(
    inputs: Inputs,
    store: StoreConfig | None = None,
    *,
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    config: EncoderConfig | None = None,
    ray_options: RayOptions | None = None,
    fmt: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    skip_existing: bool = True,
    retry: RetryPolicy | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: Progress | None = None,
    **settings: Any,
) -> RayIndexReport:
    """Encode ``inputs`` (files, globs, BEIR folders, Parquet; or the shards
    :func:`spladekit.corpus.corpus_shards` planned) on Ray and upsert them into the collection
    ``store`` names on a Milvus server: a :class:`~spladekit.store.config.StoreConfig`, and/or
    its settings as keywords (``uri=``, ``collection=``, ``token=``, ``bm25=``...).

    Records, ids and vectors are those of ``spladekit index`` (:class:`~spladekit.Retriever`).
    ``ray_options`` says where and how wide (:class:`RayOptions`: ``local`` by default, one
    worker); ``batch_size`` documents go through an actor at a time. Ids stored when the job
    starts are skipped (read once, 16 bytes each in Ray's object store); ``skip_existing=False``
    encodes and replaces stored documents too. Upserts that fail transiently are tried again
    per ``retry`` (each Milvus call waits at most the store's ``timeout`` seconds, 60 when it
    names none). ``progress`` is called on this process with the number of documents just done.
    The store's ``inverted_index_algo``, ``bm25`` and ``analyzer`` apply when the collection is
    created, as for :class:`MilvusStore`. Milvus Lite cannot take a distributed job (one
    process holds its file): the store's ``uri`` must be a server.
    """
    options = _options(ray_options)
    if store is not None and not isinstance(store, StoreConfig):
        raise InputTypeError(f"store must be a StoreConfig, got {type(store).__name__}")
    store = StoreConfig.build(store or StoreConfig(), settings)
    if store.timeout is None:
        store = store.replace(timeout=DEFAULT_TIMEOUT)
    check_server_uri(store.uri)
    ray_module(options.address)  # a missing Ray is said before anything else is done
    config = worker_config(config, options)
    batch_size = positive_int("batch_size", batch_size)
    retry = retry or RetryPolicy()
    if not isinstance(retry, RetryPolicy):
        raise InputTypeError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    shards = plan(inputs, fmt, shard_bytes)
    identity = model_identity(model)
    from .sink import MilvusDatasink, WriteCounts
    from .snapshot import StoredIds

    started = time.perf_counter()
    # The driver creates the collection and records (or checks) the model before any worker
    # writes, as single-process indexing does, and reads the ids stored so far (see .snapshot).
    with MilvusStore(store, model=identity) as opened:
        snapshot = StoredIds.from_store(opened) if skip_existing and opened.count() else None
    sink = MilvusDatasink(store, retry)
    if shards:
        with connected(options) as ray, progress_reports(ray, progress) as counter:
            dataset = _encoded_dataset(
                ray, shards, model, config, options, batch_size, for_index=True,
                stored=None if snapshot is None else ray.put(snapshot), counter=counter,
            )
            _run(lambda: dataset.write_datasink(
                sink, ray_remote_args={"num_cpus": 0}, concurrency=options.workers
            ))
    seconds = time.perf_counter() - started
    totals: WriteCounts = sink.totals
    with open_existing(store) as opened:
        count = opened.count()
    return RayIndexReport(
        seen=totals.seen, encoded=totals.seen - totals.skipped, skipped=totals.skipped,
        empty=totals.empty, stored=count, failed=totals.failed, retries=totals.retries,
        workers=options.workers, seconds=seconds,
    )


def encode_on_ray(
    inputs: Inputs,
    out_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    config: EncoderConfig | None = None,
    ray_options: RayOptions | None = None,
    fmt: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    progress: Progress | None = None,
) -> RayEncodeReport:
    """Encode ``inputs`` on Ray into Parquet files in ``out_dir`` (created; must be empty).

    Each row holds ``id``, ``vector`` (a struct of ``indices`` and ``values`` lists), ``text``,
    ``metadata`` (a JSON object as a string) and ``empty``: the fields of a spladekit
    collection, so Milvus bulk import reads the files into one, and any engine reads the
    vectors. Empty vectors are stored as a placeholder, as in a collection
    (:mod:`spladekit.store.milvus`). Paths must be reachable by every worker.
    """
    options = _options(ray_options)
    ray_module(options.address)
    config = worker_config(config, options)
    batch_size = positive_int("batch_size", batch_size)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise InputTypeError(f"out_dir must be a folder path, got {type(out_dir).__name__}")
    folder = os.path.abspath(os.fspath(out_dir))
    if os.path.isfile(folder) or (os.path.isdir(folder) and os.listdir(folder)):
        raise InvalidArgumentError(
            f"{os.fspath(out_dir)!r} exists and is not an empty folder; give a new or empty "
            "folder for the Parquet files"
        )
    shards = plan(inputs, fmt, shard_bytes)
    resolve_model_dir(model)  # fail here, not on every worker, when the model cannot be found
    os.makedirs(folder, exist_ok=True)
    started = time.perf_counter()
    if shards:
        with connected(options) as ray, progress_reports(ray, progress) as counter:
            dataset = _encoded_dataset(
                ray, shards, model, config, options, batch_size, for_index=False, stored=None,
                counter=counter,
            )
            _run(lambda: dataset.write_parquet(
                folder, ray_remote_args={"num_cpus": 0}, concurrency=options.workers
            ))
    seconds = time.perf_counter() - started
    encoded, empty, files = _parquet_counts(folder)
    return RayEncodeReport(encoded, empty, files, folder, options.workers, seconds)


# -- helpers -------------------------------------------------------------------------------


def plan(inputs: Inputs, fmt: str, shard_bytes: int) -> list[Shard]:
    """The shards to read: ``inputs`` themselves when they are shards already."""
    if (
        isinstance(inputs, Sequence) and not isinstance(inputs, (str, bytes)) and inputs
        and all(isinstance(item, Shard) for item in inputs)
    ):
        return list(inputs)  # type: ignore[arg-type]
    return corpus_shards(inputs, fmt, shard_bytes=shard_bytes)  # type: ignore[arg-type]


def _options(options: RayOptions | None) -> RayOptions:
    if options is None:
        return RayOptions()
    if not isinstance(options, RayOptions):
        raise InputTypeError(f"ray_options must be a RayOptions, got {type(options).__name__}")
    return options


def check_server_uri(uri: object) -> None:
    """Refuse at once a URI that a distributed job cannot write to (Lite, memory)."""
    if isinstance(uri, str) and (uri == MEMORY_URI or is_lite_uri(uri)):
        raise InvalidArgumentError(
            f"a Ray job writes from many processes, and {uri!r} is "
            f"{'an in-memory store' if uri == MEMORY_URI else 'a Milvus Lite file'}, which "
            "one process holds; give a Milvus server address such as http://host:19530"
        )
    check_uri(uri)


def worker_config(config: EncoderConfig | None, options: RayOptions) -> EncoderConfig:
    """The encoder settings actors use: CUDA when they hold GPUs, refused combinations
    caught here rather than on every worker."""
    config = config or EncoderConfig()
    if not isinstance(config, EncoderConfig):
        raise InputTypeError(f"config must be an EncoderConfig, got {type(config).__name__}")
    if options.gpus_per_worker > 0:
        # Ray shows each actor only the GPUs it was given: "cuda" is the actor's own.
        return config if config.device.startswith("cuda") else config.replace(device="cuda")
    if config.device.startswith("cuda"):
        raise InvalidArgumentError(
            f"device {config.device!r} needs GPUs: give the workers some (gpus_per_worker), "
            "or encode on cpu"
        )
    if config.precision == "fp16":
        raise InvalidArgumentError(
            "precision 'fp16' runs on CUDA only: give the workers GPUs (gpus_per_worker), or "
            "use fp32"
        )
    return config


def _worker_model(model: str | os.PathLike[str]) -> str:
    """The model as workers load it: a local folder by absolute path (their working folder
    may differ from this process's), a hub id as is."""
    path = os.path.expanduser(os.fspath(model))
    return os.path.abspath(path) if os.path.isdir(path) else os.fspath(model)


def _encoded_dataset(
    ray: Any,
    shards: list[Shard],
    model: str | os.PathLike[str],
    config: EncoderConfig,
    options: RayOptions,
    batch_size: int,
    *,
    for_index: bool,
    stored: Any,
    counter: Any,
) -> Any:
    """Shards -> records -> encoded rows, as a lazy Ray dataset."""
    from .blocks import read_shards, shard_rows
    from .encoding import EncodeBatch

    data = ray.data
    cpus = options.worker_cpus(cluster_cpus(ray))
    _check_resources(ray, options, cpus)
    # Workers read by absolute path: their working folder need not be this process's.
    rows = shard_rows([_absolute(s) for s in shards])
    dataset = data.from_items(rows, override_num_blocks=len(rows))
    # Ray Data merges what a stage yields into blocks of up to target_max_block_size (128 MiB
    # by default), and an actor task takes a whole block: one block would go to one actor, and
    # reach the sink only when all of it is encoded. Blocks of about one batch spread the work
    # over every actor and write each batch as soon as it is encoded. (This dataset's context
    # is its own copy.)
    dataset.context.target_max_block_size = block_bytes(shards, batch_size)
    # Reading and writing reserve no CPU: with the actors holding every CPU, a stage that
    # waits for one would never start. They are cheap next to encoding, and bounded in number.
    dataset = dataset.map_batches(
        read_shards, fn_kwargs={"block_rows": batch_size}, batch_size=1, batch_format="pyarrow",
        num_cpus=0,
        compute=data.TaskPoolStrategy(size=max(1, min(len(rows), options.workers))),
    )
    return dataset.map_batches(
        EncodeBatch,
        fn_constructor_kwargs={
            "model": _worker_model(model), "config": config, "threads": max(1, int(cpus)),
            "for_index": for_index, "stored": stored, "progress": counter,
        },
        batch_size=batch_size, batch_format="pyarrow",
        compute=data.ActorPoolStrategy(size=options.workers),
        num_cpus=cpus, num_gpus=options.gpus_per_worker or None,
    )


def block_bytes(shards: Sequence[Shard], batch_size: int) -> int:
    """Bytes of about ``batch_size`` records of these shards (at least 16 KiB)."""
    size = sum(s.size for s in shards)
    rows = sum(s.rows for s in shards)
    return max(16 * 1024, batch_size * size // max(1, rows))


def _absolute(shard: Shard) -> Shard:
    from dataclasses import replace

    return replace(shard, path=os.path.abspath(shard.path))


def _check_resources(ray: Any, options: RayOptions, cpus: float) -> None:
    """On a local cluster, refuse a job whose actors cannot all start (it would wait
    forever); a remote cluster may scale up, so there the actors wait for room."""
    if options.address != LOCAL:
        return
    have_cpus, have_gpus = cluster_cpus(ray), cluster_gpus(ray)
    if options.workers * cpus > have_cpus:
        raise InvalidArgumentError(
            f"{options.workers} workers of {cpus:g} CPUs need {options.workers * cpus:g} CPUs; "
            f"this Ray cluster has {have_cpus:g}. Use fewer workers or fewer CPUs per worker"
        )
    if options.workers * options.gpus_per_worker > have_gpus:
        raise InvalidArgumentError(
            f"{options.workers} workers of {options.gpus_per_worker:g} GPUs need "
            f"{options.workers * options.gpus_per_worker:g} GPUs; this Ray cluster has "
            f"{have_gpus:g}"
        )


def _run(job: Callable[[], object]) -> None:
    """Run a Ray Data job; a failure on a worker comes back as spladekit's own error."""
    try:
        job()
    except Exception as exc:  # Ray's wrappers of a worker's error included
        raise job_error(exc) from exc


def _parquet_counts(folder: str) -> tuple[int, int, int]:
    """(rows, rows with an empty vector, files) of the Parquet files in ``folder``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files = sorted(glob.glob(os.path.join(folder, "*.parquet")))
    rows = empty = 0
    for path in files:
        flags = pq.read_table(path, columns=["empty"]).column("empty")
        rows += len(flags)
        empty += int(pc.sum(flags.cast("int64")).as_py() or 0)
    return rows, empty, len(files)


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_SHARD_BYTES",
    "DEFAULT_TIMEOUT",
    "RayEncodeReport",
    "RayIndexReport",
    "block_bytes",
    "check_server_uri",
    "encode_on_ray",
    "index_on_ray",
    "plan",
    "worker_config",
]
