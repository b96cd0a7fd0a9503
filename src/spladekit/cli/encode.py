"""``spladekit encode`` and ``spladekit export-onnx``."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import IO, Any

import click

from ..corpus import Record, open_text, read_records
from ..files import atomic_text, refuse_same_file
from .options import EncoderChoice, encoder_options, progress_bar, quiet_option, ray_options

# Texts encoded per step: bounds memory, and each step's lines are written before the next.
ENCODE_CHUNK = 1024


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


format_option = click.option(
    "--format", "fmt", type=click.Choice(["auto", "jsonl", "text"]), default="auto",
    show_default=True,
    help="JSON lines (id, text, metadata), BEIR corpus.jsonl, or plain text lines.",
)


@click.command()
@click.argument("texts", nargs=-1)
@click.option(
    "--input", "-i", "input_path",
    help="Text file (one per line), JSON lines, BEIR corpus.jsonl, or - for stdin.",
)
@format_option
@click.option(
    "--queries", is_flag=True, help="Encode as queries (query max length) instead of documents."
)
@encoder_options
@click.option(
    "--top-k", type=click.IntRange(min=1), default=None, help="Keep at most K weights per text."
)
@click.option("--explain", is_flag=True, help="Add the tokens behind each weight.")
@click.option(
    "--output", "-o", default="-", type=click.Path(allow_dash=True),
    help="Output file (default stdout); with --ray, a new folder for Parquet files.",
)
@ray_options
@quiet_option()
def encode(
    texts: tuple[str, ...],
    input_path: str | None,
    fmt: str,
    queries: bool,
    encoder: EncoderChoice,
    top_k: int | None,
    explain: bool,
    output: str,
    ray_address: str | None,
    workers: int,
    cpus_per_worker: float | None,
    gpus_per_worker: float,
    quiet: bool,
) -> None:
    """Encode TEXTS (or --input / stdin) into SPLADE vectors, one JSON line per text.

    With --ray, TEXTS are CORPUS files (as for index: files, globs, BEIR folders, Parquet),
    encoded as documents on Ray Data into Parquet files in the folder -o DIR: columns id,
    vector (indices and values), text, metadata (JSON) and empty, ready for Milvus bulk import.
    """
    from .distributed import encode_with_ray, ray_settings

    options = ray_settings(ray_address, workers, cpus_per_worker, gpus_per_worker)
    if options is not None:
        if queries or top_k is not None or explain:
            raise click.UsageError("--ray encodes documents: --queries, --top-k and --explain "
                                   "do not apply")
        inputs = [*texts, *([input_path] if input_path else [])]
        encode_with_ray(inputs, fmt, output, encoder=encoder, quiet=quiet, options=options)
        return
    if input_path is not None:
        refuse_same_file(output, [input_path], "-o")
    # Written beside the target and moved over it when complete: a bad input or a missing
    # model leaves an earlier output as it was.
    with atomic_text(output) as handle:
        _encode_lines(texts, input_path, fmt, queries, encoder, top_k, explain, handle, quiet)


def _encode_lines(
    texts: tuple[str, ...],
    input_path: str | None,
    fmt: str,
    queries: bool,
    encoder: EncoderChoice,
    top_k: int | None,
    explain: bool,
    output: IO[str],
    quiet: bool,
) -> None:
    records = gather_records(texts, input_path, fmt)
    model = encoder.build()
    profile = model.profiles()["query" if queries else "document"]
    if top_k is not None:
        profile = replace(profile, top_k=top_k)
    limit = profile.max_length
    truncated = 0
    with progress_bar(len(records), "text", not quiet) as advance:
        for start in range(0, len(records), ENCODE_CHUNK):
            chunk = records[start : start + ENCODE_CHUNK]
            result = model.encode_profile([r.text for r in chunk], profile, progress=advance)
            truncated += result.stats.truncated
            tokens = model.decode(result.vectors) if explain else None
            for i, (record, row) in enumerate(zip(chunk, result.vectors, strict=True)):
                line: dict[str, Any] = {
                    "id": record.id,
                    "indices": row.indices.tolist(),
                    "values": row.data.tolist(),
                }
                if tokens is not None:
                    line["tokens"] = dict(tokens[i])
                output.write(json.dumps(line, ensure_ascii=False) + "\n")
    if truncated and not quiet:
        click.echo(
            f"note: {truncated} of {len(records)} texts were longer than {limit} tokens and were "
            "truncated (--long-documents window keeps all of them)",
            err=True,
        )


@click.command("export-onnx")
@click.argument("model")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--quantize", type=click.Choice(["int8", "int8-full"]), default=None,
    help="Also write an int8 model: int8 = quantised MLM head, int8-full = also every linear "
    "layer of the encoder (the fast mode; CPU only).",
)
@click.option("--opset", type=click.IntRange(18, 21), default=18, show_default=True)
def export_onnx_command(model: str, out_dir: str, quantize: str | None, opset: int) -> None:
    """Export MODEL to ONNX in OUT_DIR, SPLADE pooling included (finished (B, V) vectors).

    The folder loads like a model name: spladekit encode --model OUT_DIR ...
    """
    from ..onnx import export

    folder = export.export_onnx(model, out_dir, quantize=quantize, opset=opset)
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    click.echo(json.dumps({"folder": str(folder), "files": files}))


COMMANDS = [encode, export_onnx_command]
