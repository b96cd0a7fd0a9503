"""``spladekit eval``: retrieval quality on a BEIR folder, beside a BM25 baseline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..store import open_store
from .options import (
    EncoderChoice,
    apply,
    chunk_size_option,
    encoder_options,
    fusion_option_list,
    progress_bar,
    quiet_option,
    store_options,
)

if TYPE_CHECKING:
    from ..store.protocol import Fusion


def fusion_options(func: Any) -> Any:
    return apply(func, fusion_option_list())


def eval_collection(dataset_dir: str, encoder: EncoderChoice) -> str:
    """A collection per dataset and model, so that eval never mixes in other documents."""

    def part(name: str) -> str:
        return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower() or "x"

    name = f"eval_{part(Path(dataset_dir).resolve().name)}_{part(Path(encoder.model).name)}"
    # Vectors from another backend, precision or long-document mode differ: never mix them.
    config = encoder.config
    variant = (config.backend or "auto", config.precision, config.long_documents)
    if variant[1:] != ("fp32", "truncate") or config.backend == "onnx":
        name += "_" + "_".join(part(v) for v in variant)
    return name[:255]


@click.command("eval")
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="Evaluate on qrels/<split>.tsv.")
@store_options
@click.option(
    "--collection", default=None,
    help="Collection name [default: eval_<dataset>_<model>, reused across runs].",
)
@encoder_options
@chunk_size_option
@click.option("--no-bm25", is_flag=True, help="Skip the BM25 baseline.")
@click.option(
    "--hybrid", is_flag=True,
    help="Also evaluate Milvus's BM25 and SPLADE+BM25 fused (collection eval_..._bm25).",
)
@fusion_options
@click.option(
    "--analyzer", default=None,
    help="Text analyzer of Milvus's BM25 [default: standard on Milvus Lite, english on a server].",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
@quiet_option("No progress bar on stderr.")
def eval_command(
    dataset_dir: str,
    split: str,
    uri: str,
    token: str | None,
    collection: str | None,
    encoder: EncoderChoice,
    chunk_size: int,
    no_bm25: bool,
    hybrid: bool,
    fusion: Fusion,
    rrf_k: int,
    weights: tuple[float, float] | None,
    analyzer: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Evaluate on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

    Indexes the corpus (reusing an existing index), runs the judged queries and prints nDCG@10,
    MRR@10 and Recall@100 beside a BM25 baseline computed in the same run, with documents/s and
    queries/s.
    """
    from ..evaluation import METRICS, evaluate, load_beir
    from ..retrieval import Retriever
    from ..store import SearchOptions

    if analyzer is not None and not hybrid:
        raise click.UsageError("--analyzer applies to --hybrid")
    fused = None
    if hybrid:
        fused = SearchOptions(
            fusion=fusion, rrf_k=rrf_k,
            weights=weights or SearchOptions().weights,
        )
    dataset = load_beir(dataset_dir, split)
    name = collection or eval_collection(dataset_dir, encoder) + ("_bm25" if hybrid else "")
    model = encoder.build()
    store = open_store(
        uri, token=token, collection=name, model=model.model_identity, allow_other_model=False,
        bm25=hybrid, analyzer=analyzer,
    )
    try:
        with progress_bar(len(dataset.corpus), "doc", not quiet) as advance:
            report = evaluate(
                Retriever(model, store), dataset, chunk_size=chunk_size,
                with_bm25=not no_bm25, hybrid=fused, progress=advance,
            )
        stored = store.count()
    finally:
        store.close()
    unique = len({r.id for r in dataset.corpus})
    if stored != unique and not quiet:
        click.echo(
            f"note: collection {name!r} holds {stored} documents but the corpus has {unique}; "
            "use a fresh --collection for exact figures",
            err=True,
        )
    if as_json:
        out = report.to_dict()
        out.update(collection=name, uri=uri, split=split, model=encoder.model)
        click.echo(json.dumps(out))
        return
    click.echo(
        f"{report.dataset} ({split}): {report.documents} documents, {report.queries} queries"
    )
    rows = [("spladekit", report.spladekit)]
    if report.milvus_bm25 is not None and report.hybrid is not None and report.fusion:
        settings = ", ".join(f"{k}={v}" for k, v in report.fusion.items() if k != "fusion")
        rows += [
            ("Milvus BM25", report.milvus_bm25),
            (f"hybrid ({report.fusion['fusion']}, {settings})", report.hybrid),
        ]
    if report.bm25 is not None:
        rows.append(("BM25 (bm25s)", report.bm25))
    width = max(14, *(len(label) + 2 for label, _ in rows))
    click.echo(f"{'system':<{width}}" + "".join(f"{m:>12}" for m in METRICS))
    for label, values in rows:
        click.echo(f"{label:<{width}}" + "".join(f"{values[m]:>12.4f}" for m in METRICS))
    if report.encoded:
        click.echo(
            f"indexing: {report.encoded} encoded, {report.reused} reused, "
            f"{report.documents_per_second:.1f} documents/s"
        )
    else:
        click.echo(f"indexing: all {report.reused} documents reused from collection {name!r}")
    speeds = report.queries_per_second_by_mode
    shown = (
        ", ".join(f"{mode} {qps:.1f} queries/s" for mode, qps in speeds.items())
        if speeds
        else f"{report.queries_per_second:.1f} queries/s"
    )
    click.echo(f"search: {shown} (encode + one batched search call)")


COMMANDS = [eval_command]
