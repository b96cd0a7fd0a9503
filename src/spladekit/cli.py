"""The ``spladekit`` command line: subcommands, JSON lines out, one-line errors."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from .backends import BACKENDS, PRECISIONS
from .corpus import Record, open_text, read_records
from .encoder import LONG_DOCUMENT_MODES
from .errors import SpladeError
from .models import DEFAULT_MODEL

if TYPE_CHECKING:
    from .encoder import SpladeEncoder

F = TypeVar("F", bound=Callable[..., Any])

# Inputs at least this long get a progress bar on stderr.
PROGRESS_MIN = 64
CHUNK = 1024


class _Group(click.Group):
    """Turns spladekit errors into one line on stderr and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SpladeError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except (BrokenPipeError, KeyboardInterrupt):
            ctx.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="spladekit")
def main() -> None:
    """SPLADE sparse vectors: encode texts, index and search them in Milvus, evaluate."""


@dataclass(frozen=True)
class EncoderOptions:
    """The encoder settings shared by every command that encodes."""

    model: str
    device: str
    batch_size: int
    backend: str | None
    precision: str
    long_documents: str

    def build(self) -> SpladeEncoder:
        from .encoder import SpladeEncoder

        return SpladeEncoder(
            self.model,
            device=self.device,
            batch_size=self.batch_size,
            backend=self.backend,
            precision=self.precision,
            long_documents=self.long_documents,
        )


_ENCODER_FIELDS = ("model", "device", "batch_size", "backend", "precision", "long_documents")


def model_options(func: F) -> F:
    """--model, --device, --batch-size, --backend, --precision, --long-documents.

    The command receives them as one ``encoder_options: EncoderOptions`` argument.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in _ENCODER_FIELDS}
        return func(*args, encoder_options=EncoderOptions(**values), **kwargs)

    options = [
        click.option(
            "--model",
            "model",
            default=DEFAULT_MODEL,
            show_default=True,
            envvar="SPLADEKIT_MODEL",
            help="Hugging Face id, local folder, or exported ONNX folder [env: SPLADEKIT_MODEL].",
        ),
        click.option(
            "--device",
            default="cpu",
            show_default=True,
            envvar="SPLADEKIT_DEVICE",
            help="cpu, cuda or cuda:N.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=32,
            show_default=True,
            help="Texts per forward pass.",
        ),
        click.option(
            "--backend",
            type=click.Choice(list(BACKENDS)),
            default=None,
            help="torch (exact) or onnx (ONNX Runtime; see export-onnx). Default: onnx for an "
            "exported folder, else torch.",
        ),
        click.option(
            "--precision",
            type=click.Choice(list(PRECISIONS)),
            default="fp32",
            show_default=True,
            help="fp32 (exact), bf16 (CPUs with native bf16, CUDA), fp16 (CUDA), int8 (onnx).",
        ),
        click.option(
            "--long-documents",
            type=click.Choice(list(LONG_DOCUMENT_MODES)),
            default="truncate",
            show_default=True,
            help="Texts over the model's limit: truncate, or encode in windows and max-pool.",
        ),
    ]
    decorated: Any = wrapper
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


@contextmanager
def progress_bar(total: int | None, unit: str, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr, or a no-op when disabled or the input is short."""
    if not enabled or (total is not None and total < PROGRESS_MIN):
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True) as bar:
        yield bar.update


def gather_records(texts: tuple[str, ...], input_path: str | None, fmt: str) -> list[Record]:
    """Texts from arguments, a file, or stdin (when neither is given or the file is '-')."""
    if texts and input_path:
        raise click.UsageError("give texts as arguments or --input, not both")
    if texts:
        return [Record(str(i), t) for i, t in enumerate(texts)]
    if input_path in (None, "-"):
        if input_path is None and sys.stdin.isatty():
            raise click.UsageError(
                "no texts: pass them as arguments, --input FILE, or pipe them in"
            )
        return list(read_records(sys.stdin, "stdin", fmt))
    with open_text(input_path) as handle:
        return list(read_records(handle, input_path, fmt))


@main.command()
@click.argument("texts", nargs=-1)
@click.option(
    "--input",
    "-i",
    "input_path",
    help="Text file (one per line), JSON lines, BEIR corpus.jsonl, or - for stdin.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "text"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--queries", is_flag=True, help="Encode as queries (query max length) instead of documents."
)
@model_options
@click.option(
    "--top-k", type=click.IntRange(min=1), default=None, help="Keep at most K weights per text."
)
@click.option("--explain", is_flag=True, help="Add the tokens behind each weight.")
@click.option(
    "--output",
    "-o",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Output file (default stdout).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")
def encode(
    texts: tuple[str, ...],
    input_path: str | None,
    fmt: str,
    queries: bool,
    encoder_options: EncoderOptions,
    top_k: int | None,
    explain: bool,
    output: IO[str],
    quiet: bool,
) -> None:
    """Encode TEXTS (or --input / stdin) into SPLADE vectors, one JSON line per text."""
    records = gather_records(texts, input_path, fmt)
    encoder = encoder_options.build()
    method = encoder.encode_queries if queries else encoder.encode_documents
    truncated = 0
    with progress_bar(len(records), "text", not quiet) as advance:
        for start in range(0, len(records), CHUNK):
            chunk = records[start : start + CHUNK]
            vectors = method([r.text for r in chunk], top_k=top_k, progress=advance)
            truncated += encoder.last_stats.truncated
            tokens = encoder.decode(vectors) if explain else None
            for i, record in enumerate(chunk):
                row = vectors[[i]]
                line: dict[str, Any] = {
                    "id": record.id,
                    "indices": row.indices.tolist(),
                    "values": row.data.tolist(),
                }
                if tokens is not None:
                    line["tokens"] = dict(tokens[i])
                output.write(json.dumps(line, ensure_ascii=False) + "\n")
    if truncated and not quiet:
        limit = encoder.query_max_length if queries else encoder.document_max_length
        click.echo(
            f"note: {truncated} of {len(records)} texts were longer than {limit} tokens and were "
            "truncated (--long-documents window keeps all of them)",
            err=True,
        )


# -- Milvus: index, search, eval ---------------------------------------------------------

DEFAULT_URI = "spladekit.db"
DEFAULT_COLLECTION = "spladekit"
SNIPPET = 120


def store_options(func: F) -> F:
    """--uri, --token: where the Milvus collection lives."""
    func = click.option(
        "--token",
        envvar="MILVUS_TOKEN",
        default=None,
        help="Milvus server token, user:password or API key [env: MILVUS_TOKEN].",
    )(func)
    func = click.option(
        "--uri",
        envvar="SPLADEKIT_URI",
        default=DEFAULT_URI,
        show_default=True,
        help="Milvus Lite file (*.db) or server address such as http://localhost:19530 "
        "[env: SPLADEKIT_URI].",
    )(func)
    return func


def collection_option(func: F) -> F:
    return click.option(
        "--collection",
        envvar="SPLADEKIT_COLLECTION",
        default=DEFAULT_COLLECTION,
        show_default=True,
        help="Collection name [env: SPLADEKIT_COLLECTION].",
    )(func)


def _count_lines(path: str) -> int | None:
    """Non-blank lines of a file, for the progress bar's total (None for stdin)."""
    if path == "-":
        return None
    with open_text(path) as handle:
        return sum(1 for line in handle if line.strip())


chunk_size_option = click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Documents encoded and written per step; each written step survives a crash.",
)


@main.command()
@click.argument("corpus")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jsonl", "text"]),
    default="auto",
    show_default=True,
    help="JSON lines (id, text, metadata), BEIR corpus.jsonl, or plain text lines.",
)
@store_options
@collection_option
@model_options
@chunk_size_option
@click.option(
    "--index-algo",
    default=None,
    help="inverted_index_algo for a new collection: DAAT_MAXSCORE (default), "
    "DAAT_WAND or TAAT_NAIVE.",
)
@click.option("--reencode", is_flag=True, help="Encode and replace documents already stored too.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar on stderr.")
def index(
    corpus: str,
    fmt: str,
    uri: str,
    token: str | None,
    collection: str,
    encoder_options: EncoderOptions,
    chunk_size: int,
    index_algo: str | None,
    reencode: bool,
    quiet: bool,
) -> None:
    """Encode CORPUS (a file, or - for stdin) and store it in a Milvus collection.

    Resumable: documents whose ids are already stored are skipped without encoding, so an
    interrupted run can be started again with the same command. Prints one JSON line with the
    counts (seen, encoded, skipped, empty) when done.
    """
    from .milvus import MilvusStore
    from .retrieval import Retriever

    total = _count_lines(corpus)
    encoder = encoder_options.build()
    store = MilvusStore(uri, token=token, collection=collection, inverted_index_algo=index_algo)
    with store:
        retriever = Retriever(encoder, store)
        handle = sys.stdin if corpus == "-" else open_text(corpus)
        try:
            records = read_records(handle, "stdin" if corpus == "-" else corpus, fmt)
            with progress_bar(total, "doc", not quiet) as advance:
                report = retriever.index(
                    records, batch_size=chunk_size, skip_existing=not reencode, progress=advance
                )
        finally:
            if handle is not sys.stdin:
                handle.close()
        stored = store.count()
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


@main.command()
@click.argument("queries", nargs=-1, required=True)
@store_options
@collection_option
@model_options
@click.option(
    "-k",
    "--top-k",
    "k",
    type=click.IntRange(1, 16384),
    default=10,
    show_default=True,
    help="Hits per query.",
)
@click.option(
    "--drop-ratio-search",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.0,
    show_default=True,
    help="Ignore this fraction of each query's smallest weights (server only).",
)
@click.option(
    "--filter",
    "filter_expr",
    default=None,
    help="Milvus expression on stored fields, e.g. 'metadata[\"year\"] > 2020'.",
)
@click.option(
    "--width",
    type=click.IntRange(min=0),
    default=SNIPPET,
    show_default=True,
    help="Characters of each text to show (0: none).",
)
def search(
    queries: tuple[str, ...],
    uri: str,
    token: str | None,
    collection: str,
    encoder_options: EncoderOptions,
    k: int,
    drop_ratio_search: float,
    filter_expr: str | None,
    width: int,
) -> None:
    """Search the collection for each of QUERIES: one JSON line per hit, best first."""
    from .milvus import MilvusStore
    from .retrieval import Retriever

    encoder = encoder_options.build()
    with MilvusStore(uri, token=token, collection=collection, create=False) as store:
        results = Retriever(encoder, store).search_many(
            list(queries),
            k,
            drop_ratio_search=drop_ratio_search,
            filter=filter_expr,
            with_text=width > 0,
        )
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


def _eval_collection(dataset_dir: str, options: EncoderOptions) -> str:
    """A collection per dataset and model, so that eval never mixes in other documents."""
    import re
    from pathlib import Path

    def part(name: str) -> str:
        return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower() or "x"

    name = f"eval_{part(Path(dataset_dir).resolve().name)}_{part(Path(options.model).name)}"
    # Vectors from another backend, precision or long-document mode differ: never mix them.
    variant = (options.backend or "auto", options.precision, options.long_documents)
    if variant[1:] != ("fp32", "truncate") or options.backend == "onnx":
        name += "_" + "_".join(part(v) for v in variant)
    return name[:255]


@main.command("eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="Evaluate on qrels/<split>.tsv.")
@store_options
@click.option(
    "--collection",
    default=None,
    help="Collection name [default: eval_<dataset>_<model>, reused across runs].",
)
@model_options
@chunk_size_option
@click.option("--no-bm25", is_flag=True, help="Skip the BM25 baseline.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar on stderr.")
def eval_command(
    dataset_dir: str,
    split: str,
    uri: str,
    token: str | None,
    collection: str | None,
    encoder_options: EncoderOptions,
    chunk_size: int,
    no_bm25: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Evaluate on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

    Indexes the corpus (reusing an existing index), runs the judged queries and prints nDCG@10,
    MRR@10 and Recall@100 beside a BM25 baseline computed in the same run, with documents/s and
    queries/s.
    """
    from .evaluate import METRICS, evaluate, load_beir
    from .milvus import MilvusStore
    from .retrieval import Retriever

    dataset = load_beir(dataset_dir, split)
    name = collection or _eval_collection(dataset_dir, encoder_options)
    encoder = encoder_options.build()
    with MilvusStore(uri, token=token, collection=name) as store:
        with progress_bar(len(dataset.corpus), "doc", not quiet) as advance:
            report = evaluate(
                Retriever(encoder, store),
                dataset,
                index_batch_size=chunk_size,
                with_bm25=not no_bm25,
                progress=advance,
            )
        stored = store.count()
    unique = len({r.id for r in dataset.corpus})
    if stored != unique and not quiet:
        click.echo(
            f"note: collection {name!r} holds {stored} documents but the corpus has {unique}; "
            "use a fresh --collection for exact figures",
            err=True,
        )
    if as_json:
        out = report.to_dict()
        out.update(collection=name, uri=uri, split=split, model=encoder_options.model)
        click.echo(json.dumps(out))
        return
    click.echo(
        f"{report.dataset} ({split}): {report.documents} documents, {report.queries} queries"
    )
    click.echo(f"{'system':<14}" + "".join(f"{m:>12}" for m in METRICS))
    rows = [("spladekit", report.spladekit)]
    if report.bm25 is not None:
        rows.append(("BM25 (bm25s)", report.bm25))
    for label, values in rows:
        click.echo(f"{label:<14}" + "".join(f"{values[m]:>12.4f}" for m in METRICS))
    if report.encoded:
        click.echo(
            f"indexing: {report.encoded} encoded, {report.reused} reused, "
            f"{report.documents_per_second:.1f} documents/s"
        )
    else:
        click.echo(f"indexing: all {report.reused} documents reused from collection {name!r}")
    click.echo(
        f"search: {report.queries_per_second:.1f} queries/s (encode + one batched Milvus call)"
    )


@main.command("export-onnx")
@click.argument("model")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--quantize",
    type=click.Choice(["int8"]),
    default=None,
    help="Also write an int8 model (quantised MLM head; CPU only).",
)
@click.option("--opset", type=click.IntRange(18, 21), default=18, show_default=True)
def export_onnx_command(model: str, out_dir: str, quantize: str | None, opset: int) -> None:
    """Export MODEL to ONNX in OUT_DIR, SPLADE pooling included (finished (B, V) vectors).

    The folder loads like a model name: spladekit encode --model OUT_DIR ...
    """
    from .onnx_export import export_onnx

    folder = export_onnx(model, out_dir, quantize=quantize, opset=opset)
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    click.echo(json.dumps({"folder": str(folder), "files": files}))


if __name__ == "__main__":  # pragma: no cover
    main()
