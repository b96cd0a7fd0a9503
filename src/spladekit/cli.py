"""The ``spladekit`` command line: subcommands, JSON lines out, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

import click

from .corpus import Record, open_text, read_records
from .errors import SpladeError
from .models import DEFAULT_MODEL

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


def model_options(func: F) -> F:
    """--model, --device, --batch-size: shared by every command that encodes."""
    func = click.option(
        "--batch-size", type=click.IntRange(min=1), default=32, show_default=True,
        help="Texts per forward pass.",
    )(func)
    func = click.option(
        "--device", default="cpu", show_default=True, envvar="SPLADEKIT_DEVICE",
        help="cpu, cuda or cuda:N.",
    )(func)
    func = click.option(
        "--model", "model", default=DEFAULT_MODEL, show_default=True, envvar="SPLADEKIT_MODEL",
        help="Hugging Face id or local folder [env: SPLADEKIT_MODEL].",
    )(func)
    return func


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
            raise click.UsageError("no texts: pass them as arguments, --input FILE, or pipe them in")
        return list(read_records(sys.stdin, "stdin", fmt))
    with open_text(input_path) as handle:
        return list(read_records(handle, input_path, fmt))


@main.command()
@click.argument("texts", nargs=-1)
@click.option("--input", "-i", "input_path", help="Text file (one per line), JSON lines, BEIR corpus.jsonl, or - for stdin.")
@click.option("--format", "fmt", type=click.Choice(["auto", "jsonl", "text"]), default="auto", show_default=True)
@click.option("--queries", is_flag=True, help="Encode as queries (query max length) instead of documents.")
@model_options
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Keep at most K weights per text.")
@click.option("--explain", is_flag=True, help="Add the tokens behind each weight.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", help="Output file (default stdout).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary on stderr.")
def encode(
    texts: tuple[str, ...],
    input_path: str | None,
    fmt: str,
    queries: bool,
    model: str,
    device: str,
    batch_size: int,
    top_k: int | None,
    explain: bool,
    output: IO[str],
    quiet: bool,
) -> None:
    """Encode TEXTS (or --input / stdin) into SPLADE vectors, one JSON line per text."""
    from .encoder import SpladeEncoder

    records = gather_records(texts, input_path, fmt)
    encoder = SpladeEncoder(model, device=device, batch_size=batch_size)
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
            "truncated",
            err=True,
        )


if __name__ == "__main__":  # pragma: no cover
    main()
