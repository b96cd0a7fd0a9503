"""``spladekit index`` and ``spladekit search``: a Milvus collection from the command line."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from ..corpus import open_text, read_records
from .encode import format_option
from .options import (
    EncoderChoice,
    allow_other_model_option,
    chunk_size_option,
    collection_option,
    encoder_options,
    index_algo_option,
    open_collection,
    progress_bar,
    quiet_option,
    search_options,
    store_options,
    with_bm25_options,
)

if TYPE_CHECKING:
    from ..store import SearchOptions

SNIPPET = 120


def count_lines(path: str) -> int | None:
    """Non-blank lines of a file, for the progress bar's total (None for stdin).

    Counted in bytes: decoding (and its errors, which reading reports) is the reader's job.
    """
    if path == "-":
        return None
    with open_text(path) as handle, open(handle.name, "rb") as raw:
        return sum(1 for line in raw if line.strip())


@click.command()
@click.argument("corpus")
@format_option
@store_options
@collection_option
@encoder_options
@chunk_size_option
@index_algo_option
@with_bm25_options
@click.option("--reencode", is_flag=True, help="Encode and replace documents already stored too.")
@allow_other_model_option
@quiet_option("No progress bar on stderr.")
def index(
    corpus: str,
    fmt: str,
    uri: str,
    token: str | None,
    collection: str,
    encoder: EncoderChoice,
    chunk_size: int,
    index_algo: str | None,
    bm25: bool,
    analyzer: str | None,
    reencode: bool,
    allow_other_model: bool,
    quiet: bool,
) -> None:
    """Encode CORPUS (a file, or - for stdin) and store it in a Milvus collection.

    Resumable: documents whose ids are already stored are skipped without encoding, so an
    interrupted run can be started again with the same command. Prints one JSON line with the
    counts (seen, encoded, skipped, empty, stored) when done.
    """
    from ..retrieval import Retriever

    total = count_lines(corpus)
    model = encoder.build()
    store = open_collection(
        uri, token, collection, model=model.model_identity,
        allow_other_model=allow_other_model, index_algo=index_algo, bm25=bm25,
        analyzer=analyzer,
    )
    try:
        retriever = Retriever(model, store, allow_other_model=allow_other_model)
        handle = sys.stdin if corpus == "-" else open_text(corpus)
        try:
            records = read_records(handle, "stdin" if corpus == "-" else corpus, fmt)
            with progress_bar(total, "doc", not quiet) as advance:
                report = retriever.index(
                    records, chunk_size=chunk_size, skip_existing=not reencode, progress=advance
                )
        finally:
            if handle is not sys.stdin:
                handle.close()
        stored = store.count()
    finally:
        store.close()
    summary = {
        "collection": collection,
        "uri": uri,
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
    uri: str,
    token: str | None,
    collection: str,
    encoder: EncoderChoice,
    k: int,
    options: SearchOptions,
    width: int,
    allow_other_model: bool,
) -> None:
    """Search the collection for each of QUERIES: one JSON line per hit, best first."""
    from ..retrieval import Retriever

    options = options.replace(with_text=width > 0)
    model = encoder.build()
    store = open_collection(
        uri, token, collection, model=model.model_identity,
        allow_other_model=allow_other_model, create=False,
    )
    try:
        retriever = Retriever(model, store, allow_other_model=allow_other_model)
        results = retriever.search_many(list(queries), k, options=options)
    finally:
        store.close()
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
