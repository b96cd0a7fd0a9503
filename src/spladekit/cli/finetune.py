"""``spladekit finetune``: adapt a SPLADE model to a corpus, with labels or without."""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict

import click

from ..checkpoint.known import DEFAULT_MODEL
from ..finetune.mining import MiningConfig
from ..finetune.settings import TrainConfig
from .options import store_options

# The options' defaults are the library's, declared once.
_DEFAULTS = TrainConfig()
_MINING = MiningConfig()


def _window(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in value.split(":"))
    except ValueError:
        raise click.BadParameter(
            f"expected FIRST:LAST ranks such as 10:50, got {value!r}"
        ) from None
    return first, last


@click.command("finetune")
@click.argument("data", type=click.Path(exists=True))
@click.option("--model", default=DEFAULT_MODEL, show_default=True, envvar="SPLADEKIT_MODEL",
              help="The model to start from: a Hugging Face id or a folder.")
@click.option("--out", required=True, type=click.Path(),
              help="Folder to write the fine-tuned model to (must not exist; work is kept in "
              "OUT.work until the end, so the same command resumes an interrupted run).")
@click.option("--self-supervised", "self_supervised", flag_value=True, default=None,
              help="Train on pairs made from the corpus (title -> body, or span -> rest); the "
              "default when the folder has no qrels/train.tsv.")
@click.option("--inference-free", is_flag=True,
              help="Train only the document side; the query side is the corpus IDF.")
@store_options
@click.option("--collection", default=None,
              help="Mine negatives from this collection (the corpus indexed with --model) "
              "[default: index the corpus into Milvus Lite in the work folder].")
@click.option("--negatives", type=click.IntRange(min=0), default=_MINING.negatives,
              show_default=True,
              help="Hard negatives mined per pair (0: in-batch negatives only).")
@click.option("--mine-window", default="{}:{}".format(*_MINING.window), show_default=True,
              callback=_window,
              help="Ranks FIRST:LAST negatives are sampled from (the top holds unjudged "
              "positives).")
@click.option("--mine-mode", type=click.Choice(["hybrid", "splade"]), default=_MINING.mode,
              show_default=True, help="Search used to mine (hybrid needs a BM25 field).")
@click.option("--max-doc-nnz", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Mean non-zeros allowed per document [default: the base model's].")
@click.option("--max-query-nnz", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Mean non-zeros allowed per query [default: the base model's].")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="[default: 3 with labels, 1 for self-supervised pairs].")
@click.option("--batch-size", type=click.IntRange(min=2), default=_DEFAULTS.batch_size,
              show_default=True, help="Pairs per step (each one's negatives for the others).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="[default: 3e-4 for models 256 wide or less (splade-tiny), else 2e-5; a "
              "tenth of that for self-supervised pairs].")
@click.option("--max-length", type=click.IntRange(min=8), default=_DEFAULTS.max_length,
              show_default=True, help="Tokens per text while training (the model keeps its own "
              "maximum for encoding).")
@click.option("--seed", type=int, default=_DEFAULTS.seed, show_default=True)
@click.option("--device", default=_DEFAULTS.device, show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--patience", type=click.IntRange(min=1), default=_DEFAULTS.patience,
              show_default=True,
              help="Epochs without a better dev score before stopping early.")
@click.option("--max-pairs", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Self-supervised pairs made at most (a seeded sample of the corpus).")
@click.option("--eval-split", default="test", show_default=True,
              help="Qrels to evaluate base and fine-tuned model on (never trained on).")
@click.option("--no-eval", is_flag=True, help="Skip the before/after evaluation.")
@click.option("--reindex", default=None, metavar="NEW_COLLECTION",
              help="Index the corpus with the new model into this new collection at --uri.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or notes on stderr.")
def finetune_command(
    data: str, model: str, out: str, self_supervised: bool | None, inference_free: bool,
    uri: str, token: str | None, collection: str | None, negatives: int,
    mine_window: tuple[int, int], mine_mode: str, max_doc_nnz: float | None,
    max_query_nnz: float | None, epochs: int | None, batch_size: int, learning_rate: float | None,
    max_length: int, seed: int, device: str, patience: int, max_pairs: int, eval_split: str,
    no_eval: bool, reindex: str | None, as_json: bool, quiet: bool,
) -> None:
    """Fine-tune MODEL on DATA: a BEIR folder (train qrels, or none: self-supervised) or a JSONL
    of {"query", "positive", "negatives"?} pairs.

    Mines hard negatives from the corpus's collection, trains under a sparsity budget (the
    base model's non-zeros by default), evaluates base and fine-tuned model on the test qrels
    and prints one table. Killed at any point, the same command resumes.
    """
    from ..finetune import SparsityBudget, finetune
    from ..finetune.card import table_lines

    def say(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    budget = None
    if max_doc_nnz is not None or max_query_nnz is not None:
        budget = SparsityBudget(max_doc_nnz, max_query_nnz)
    # The trainer writes its progress and log lines to stdout: they go to stderr, so that
    # stdout holds only the result.
    with contextlib.redirect_stdout(sys.stderr):
        result = finetune(
            data, model=model, out=out, self_supervised=self_supervised,
            inference_free=inference_free, uri=uri, collection=collection, token=token,
            mining=(MiningConfig(negatives, mine_window, mine_mode, seed=seed) if negatives
                    else None),
            budget=budget,
            config=TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                               max_length=max_length, seed=seed, device=device, patience=patience),
            max_pairs=max_pairs, eval_split=None if no_eval else eval_split, reindex=reindex,
            show_progress=not quiet and not as_json, log=say,
        )
    if as_json:
        click.echo(json.dumps(result.to_dict(), default=str))
        return
    click.echo(f"fine-tuned model: {result.model_dir} (fingerprint {result.tuned.fingerprint})")
    click.echo(f"data: {result.data_rule}; dev: {result.dev_rule or 'none'}")
    training = result.training
    click.echo(
        f"training: {training.steps} steps, {training.epochs_run:.1f} epochs"
        f"{' (stopped early)' if training.stopped_early else ''}"
        f"{f', resumed from {training.resumed_from}' if training.resumed_from else ''}; "
        f"{training.precision}"
    )
    click.echo(
        f"non-zeros per document/query: before {result.nnz_before[0]}/{result.nnz_before[1]}, "
        f"after {result.nnz_after[0]}/{result.nnz_after[1]}; budget "
        f"{asdict(result.budget)} {'met' if result.budget_met else 'NOT met'}"
    )
    split = result.evaluation.get("split")
    if split:
        click.echo(f"quality on qrels/{split}.tsv:")
        for line in table_lines(result.evaluation):
            click.echo(line)
    if result.reindexed:
        click.echo(f"re-indexed into collection {result.reindexed!r}")
    click.echo(f"took {result.seconds:.0f} s")


COMMANDS = [finetune_command]
