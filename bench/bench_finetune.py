"""``spladekit finetune`` on SciFact with splade-tiny: quality before and after, sparsity, time.

    .venv/bin/python bench/bench_finetune.py [--scenario supervised|self-supervised|inference-free]
        [--model DIR] [--scifact DIR] [--epochs N] [--max-length N] [--json OUT]

Each scenario is one call of ``spladekit.finetune`` (the same code as the command line), timed
whole: mining (the corpus indexed with the base model into Milvus Lite, hybrid SPLADE + BM25
search), the base model's evaluation, training, the fine-tuned model's evaluation. SciFact is
read from ``_common.SCIFACT`` (../shared/data/scifact or $SPLADEKIT_SCIFACT), never copied.

- ``supervised``: qrels/train.tsv only (a dev split held out from it for early stopping); the
  figures are on qrels/test.tsv, which training never reads;
- ``self-supervised``: no labels, pairs made from the corpus (title -> body);
- ``inference-free``: splade-tiny's document side fine-tuned under the corpus IDF query side,
  beside the IDF-only model (the base of that run), with query latency (one query per call,
  text to vector, p50/p99 over 300 test queries).

Figures compare only within one run of this script on one machine: it prints the CPU line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SCIFACT, SPLADE_TINY, cpu_summary, percentile, scifact_dataset

from spladekit import SpladeEncoder
from spladekit.finetune import MiningConfig, TrainConfig, finetune
from spladekit.finetune.card import table_lines

SCENARIOS = ("supervised", "self-supervised", "inference-free")


def query_latency_ms(model: Path, queries: list[str]) -> dict[str, float]:
    """p50/p99 of encode_queries([q]) after a warm-up of 20."""
    encoder = SpladeEncoder(model)
    for q in queries[:20]:
        encoder.encode_queries([q])
    times = []
    for q in queries:
        started = time.perf_counter()
        encoder.encode_queries([q])
        times.append((time.perf_counter() - started) * 1000)
    return {"p50": percentile(times, 50), "p99": percentile(times, 99)}


def run(scenario: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, max_length=args.max_length,
                         seed=args.seed, device=args.device)
    started = time.perf_counter()
    result = finetune(
        args.scifact, model=args.model, out=work / scenario, config=config,
        self_supervised=scenario == "self-supervised",
        inference_free=scenario == "inference-free",
        mining=MiningConfig(negatives=args.negatives, window=(10, 50), seed=args.seed),
        max_pairs=args.max_pairs, log=lambda m: print(f"  [{scenario}] {m}", flush=True),
    )
    seconds = time.perf_counter() - started
    out: dict[str, Any] = {
        "scenario": scenario,
        "seconds": round(seconds, 1),
        "data": result.data_rule,
        "dev": result.dev_rule,
        "mining": result.mining.mode if result.mining else None,
        "nnz_before": result.nnz_before,
        "nnz_after": result.nnz_after,
        "budget_met": result.budget_met,
        "training": {
            "steps": result.training.steps, "epochs": result.training.epochs_run,
            "stopped_early": result.training.stopped_early,
            "loss_before": result.training.loss_before,
            "loss_after": result.training.loss_after,
            "controller": result.training.controller,
            "dev_curve": [
                {k: round(v, 4) for k, v in e.items() if k.startswith("eval_dev") or k == "epoch"}
                for e in result.training.history
            ],
        },
        "evaluation": result.evaluation,
        "table": table_lines(result.evaluation),
    }
    if scenario == "inference-free":
        queries = list(scifact_dataset(args.scifact).queries.values())[:300]
        out["query_latency_ms"] = {
            "fine-tuned (IDF query side)": query_latency_ms(result.model_dir, queries),
            "splade-tiny (masked-LM queries)": query_latency_ms(args.model, queries),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=SCENARIOS, action="append")
    parser.add_argument("--model", type=Path, default=SPLADE_TINY)
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--negatives", type=int, default=2)
    parser.add_argument("--max-pairs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--json", type=Path, default=None, help="Write the figures here too.")
    args = parser.parse_args()
    print(cpu_summary(), flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
        for scenario in args.scenario or SCENARIOS:
            figures = run(scenario, args, Path(tmp))
            results.append(figures)
            print(f"\n== {scenario}: {figures['seconds']:.0f} s wall, {figures['data']}")
            print(f"   dev: {figures['dev']}; mining: {figures['mining']}")
            print(f"   non-zeros (document, query): before {figures['nnz_before']}, after "
                  f"{figures['nnz_after']}, budget met: {figures['budget_met']}")
            print(f"   training: {figures['training']}")
            for line in figures["table"]:
                print("   " + line)
            if "query_latency_ms" in figures:
                print(f"   query latency: {figures['query_latency_ms']}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_summary(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
