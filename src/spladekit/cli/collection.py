"""``spladekit index`` and ``spladekit search``: a Milvus collection from the command line."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from ..corpus import corpus_shards, read_records, read_shard
from ..store import open_store
from .encode import format_option
from .options import (
    EncoderChoice,
    allow_other_model_option,
    chunk_size_option,
    collection_option,
    encoder_options,
    inverted_index_algo_option,
    progress_bar,
    quiet_option,
    ray_options,
    search_options,
    store_config,
    store_options,
    with_bm25_options,
)

if TYPE_CHECKING:
    from ..store import SearchOptions, StoreConfig

SNIPPET = 120


@click.command()
@click.argument("corpus", nargs=-1, required=True)
@format_option
@store_config
@store_options
@collection_option
@encoder_options
@chunk_size_option
@inverted_index_algo_option
@with_bm25_options
@click.option("--reencode", is_flag=True, help="Encode and replace documents already stored too.")
@allow_other_model_option
@ray_options
@quiet_option("No progress bar on stderr.")
def index(
    corpus: tuple[str, ...],
    fmt: str,
    store: StoreConfig,
    encoder: EncoderChoice,
    chunk_size: int,
    reencode: bool,
    ray_address: str | None,
    workers: int,
    cpus_per_worker: float | None,
    gpus_per_worker: float,
    quiet: bool,
) -> None:
    """Encode CORPUS... and store it in a Milvus collection.

    CORPUS: text or JSON lines files, globs, BEIR folders, Parquet files or folders (or - for
    stdin, alone). Plain-text lines get their line number as id ("0", "1"...); with several
    files, "<path>:<line number>".

    Resumable: documents whose ids are already stored are skipped without encoding, so an
    interrupted run can be started again with the same command. Prints one JSON line with the
    counts (seen, encoded, skipped, empty, stored) when done.

    With --ray, the job runs on Ray Data (into a Milvus server): files are read in parallel,
    --workers actors encode, writes are upserts retried on transient failures; the line adds
    failed (not stored: run the command again) and retries.
    """
    from .distributed import index_with_ray, ray_settings

    options = ray_settings(ray_address, workers, cpus_per_worker, gpus_per_worker)
    if options is not None:
        index_with_ray(
            corpus, fmt, store=store, encoder=encoder, chunk_size=chunk_size,
            reencode=reencode, quiet=quiet, options=options,
        )
        return
    from ..retrieval import Retriever

    stdin = corpus == ("-",)
    shards = [] if stdin else corpus_shards(corpus, fmt)
    total = None if stdin else sum(s.rows for s in shards)
    model = encoder.build()
    opened = open_store(store, model=model.model_identity)
    try:
        retriever = Retriever(model, opened, allow_other_model=store.allow_other_model)
        records = (
            read_records(sys.stdin, "stdin", fmt) if stdin
            else (record for shard in shards for record in read_shard(shard))
        )
        with progress_bar(total, "doc", not quiet) as advance:
            report = retriever.index(
                records, chunk_size=chunk_size, skip_existing=not reencode, progress=advance
            )
        stored = opened.count()
    finally:
        opened.close()
    summary = {
        "collection": store.collection,
        "uri": store.uri,
        "seen": report.seen,
        "encoded": report.encoded,
        "skipped": report.skipped,
        "empty": report.empty,
        "stored": stored,
        "seconds": round(report.seconds, 3),
        "documents_per_second": round(report.documents_per_second, 2),
    }
    click.echo(json.dumps(summary))


@click.command()
@click.argument("queries", nargs=-1, required=True)
@store_config
@store_options
@collection_option
@encoder_options
@search_options
@click.option(
    "--width", type=click.IntRange(min=0), default=SNIPPET, show_default=True,
    help="Characters of each text to show (0: none).",
)
@allow_other_model_option
def search(
    queries: tuple[str, ...],
    store: StoreConfig,
    encoder: EncoderChoice,
    k: int,
    options: SearchOptions,
    width: int,
) -> None:
    """Search the collection for each of QUERIES: one JSON line per hit, best first."""
    from ..retrieval import Retriever

    options = options.replace(with_text=width > 0)
    model = encoder.build()
    opened = open_store(store, model=model.model_identity, create=False)
    try:
        retriever = Retriever(model, opened, allow_other_model=store.allow_other_model)
        results = retriever.search_many(list(queries), k, options=options)
    finally:
        opened.close()
    for query, hits in zip(queries, results, strict=True):
        for rank, hit in enumerate(hits, start=1):
            line: dict[str, Any] = {
                "query": query,
                "rank": rank,
                "id": hit.id,
                "score": round(hit.score, 6),
            }
            if width > 0:
                text = " ".join(hit.text.split())
                line["text"] = text if len(text) <= width else text[: width - 1] + "…"
            if hit.metadata:
                line["metadata"] = hit.metadata
            click.echo(json.dumps(line, ensure_ascii=False))


COMMANDS = [index, search]
