"""``spladekit index --ray`` and ``spladekit encode --ray``: the commands' Ray Data paths.

Ray's own output is kept off the terminal (no Ray Data progress bars, worker logs not sent to
the driver, Ray's C++ logs at fatal only) unless SPLADEKIT_DEBUG is set; the command draws one
progress bar of its own on stderr and prints one JSON line.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

import click

from ..corpus import corpus_shards
from .options import DEBUG_ENV, EncoderChoice, progress_bar

if TYPE_CHECKING:
    from ..store import StoreConfig

# Read by Ray's C++ core when it starts: its warnings would print on the command's stderr.
_RAY_LOG_LEVEL_ENV = "RAY_BACKEND_LOG_LEVEL"


def ray_settings(
    address: str | None, workers: int, cpus_per_worker: float | None, gpus_per_worker: float
) -> Any:
    """RayOptions from the options (None without --ray), quiet unless SPLADEKIT_DEBUG is set."""
    if address is None:
        if workers != 1 or cpus_per_worker is not None or gpus_per_worker:
            raise click.UsageError(
                "--workers, --cpus-per-worker and --gpus-per-worker apply to --ray jobs; add "
                "--ray local (or auto, or a cluster address)"
            )
        return None
    from ..distributed.runtime import RayOptions

    quiet = not os.environ.get(DEBUG_ENV)
    return RayOptions(
        address=address, workers=workers, cpus_per_worker=cpus_per_worker,
        gpus_per_worker=gpus_per_worker,
        init_kwargs={"log_to_driver": False, "logging_level": logging.ERROR} if quiet else {},
    )


def _import_ray(options: Any) -> None:
    """Import Ray (or say how to install it), its own output off the terminal unless
    debugging: that is the command's to draw."""
    from ..distributed.runtime import ray_module

    quiet = not os.environ.get(DEBUG_ENV)
    if quiet:
        os.environ.setdefault(_RAY_LOG_LEVEL_ENV, "fatal")
    ray = ray_module(options.address)
    if quiet:
        ray.data.DataContext.get_current().enable_progress_bars = False


def index_with_ray(
    corpus: tuple[str, ...],
    fmt: str,
    *,
    store: StoreConfig,
    encoder: EncoderChoice,
    chunk_size: int,
    reencode: bool,
    quiet: bool,
    options: Any,
) -> None:
    """Run the indexing job; print the report; exit 1 when documents could not be stored."""
    from ..distributed.jobs import DEFAULT_SHARD_BYTES, check_server_uri, index_on_ray

    check_server_uri(store.uri)  # a Lite file is refused before anything is read or started
    _import_ray(options)
    shards = corpus_shards(corpus, fmt, shard_bytes=DEFAULT_SHARD_BYTES)
    with progress_bar(sum(s.rows for s in shards), "doc", not quiet) as advance:
        report = index_on_ray(
            shards, store, model=encoder.model, config=encoder.config, ray_options=options,
            fmt=fmt, batch_size=chunk_size, skip_existing=not reencode, progress=advance,
        )
    summary = {
        "collection": store.collection,
        "uri": store.uri,
        "seen": report.seen,
        "encoded": report.encoded,
        "skipped": report.skipped,
        "empty": report.empty,
        "stored": report.stored,
        "failed": report.failed,
        "retries": report.retries,
        "workers": report.workers,
        "seconds": round(report.seconds, 3),
        "documents_per_second": round(report.documents_per_second, 2),
    }
    click.echo(json.dumps(summary))
    if report.failed:
        click.echo(
            f"error: {report.failed} documents were encoded but not stored (Milvus kept "
            "failing); run the same command again to store them",
            err=True,
        )
        raise click.exceptions.Exit(1)


def encode_with_ray(
    corpus: list[str],
    fmt: str,
    output: str,
    *,
    encoder: EncoderChoice,
    quiet: bool,
    options: Any,
) -> None:
    """Encode into Parquet files in the folder ``output``; print what was written."""
    from ..distributed.jobs import DEFAULT_SHARD_BYTES, encode_on_ray

    if not corpus:
        raise click.UsageError("--ray needs CORPUS files (or --input FILE) to encode")
    if output == "-":
        raise click.UsageError("--ray writes Parquet files: give a folder with -o DIR")
    _import_ray(options)
    shards = corpus_shards(corpus, fmt, shard_bytes=DEFAULT_SHARD_BYTES)
    with progress_bar(sum(s.rows for s in shards), "doc", not quiet) as advance:
        report = encode_on_ray(
            shards, output, model=encoder.model, config=encoder.config, ray_options=options,
            fmt=fmt, progress=advance,
        )
    click.echo(
        json.dumps(
            {
                "folder": report.folder,
                "files": report.files,
                "encoded": report.encoded,
                "empty": report.empty,
                "workers": report.workers,
                "seconds": round(report.seconds, 3),
                "documents_per_second": round(report.documents_per_second, 2),
            }
        )
    )


__all__ = ["encode_with_ray", "index_with_ray", "ray_settings"]
