"""One training step of ``spladekit finetune``: sentence-transformers' SPLADE head against the
fused one (``spladekit.finetune.fused``), same model, same batch, same loss.

    .venv/bin/python bench/bench_train_step.py [--model DIR] [--batch 32] [--negatives 2]
        [--length 256] [--repeats 3]

A step is what ``SparseEncoderTrainer`` runs per batch: queries, positives and negatives
through the model, ``SpladeLoss`` over ``SparseMultipleNegativesRankingLoss``, backward. Texts
are SciFact claims and abstracts (``_common.SCIFACT``), cut at ``--length`` tokens. Each path is
timed ``--repeats`` times after one warm-up step; the median is printed with the CPU line, and
the fused step's values and gradients are compared with the reference's on the same batch.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from pathlib import Path

import torch
from _common import SCIFACT, SPLADE_TINY, cpu_summary, scifact_documents, scifact_queries
from sentence_transformers import SparseEncoder
from sentence_transformers.sparse_encoder.losses import (
    SparseMultipleNegativesRankingLoss,
    SpladeLoss,
)

from spladekit.finetune.fused import fused_heads


def step(model: SparseEncoder, loss: SpladeLoss, columns: list[list[str]]) -> float:
    """One forward and backward pass; returns the loss."""
    torch.manual_seed(0)  # the same dropout on both paths
    features = [dict(model.preprocess(texts)) for texts in columns]
    parts = loss(features, None)
    total = sum(parts.values())
    total.backward()
    return float(total.detach())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=SPLADE_TINY)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--negatives", type=int, default=2)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(cpu_summary(), f"torch threads {torch.get_num_threads()}", flush=True)
    n = args.batch
    documents = scifact_documents(n * (args.negatives + 1), SCIFACT)
    columns = [scifact_queries(n, SCIFACT)]
    columns += [documents[i * n:(i + 1) * n] for i in range(args.negatives + 1)]
    model = SparseEncoder(str(args.model), device="cpu")
    model.max_seq_length = args.length
    model.train()
    loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model),
                      document_regularizer_weight=3e-5, query_regularizer_weight=5e-5)
    results: dict[str, float] = {}
    grads: dict[str, dict[str, torch.Tensor]] = {}
    values: dict[str, float] = {}
    for name in ("sentence-transformers", "fused"):
        context = fused_heads(model) if name == "fused" else contextlib.nullcontext(0)
        with context:
            model.zero_grad()
            values[name] = step(model, loss, columns)
            grads[name] = {k: p.grad.clone() for k, p in model.named_parameters()
                           if p.grad is not None}
            times = []
            for _ in range(args.repeats):
                model.zero_grad()
                started = time.perf_counter()
                step(model, loss, columns)
                times.append(time.perf_counter() - started)
        results[name] = statistics.median(times)
        print(f"{name:>22}: {results[name]:.2f} s per step (runs: "
              f"{', '.join(f'{t:.2f}' for t in times)})", flush=True)
    # Relative to the largest gradient of the model: some parameters' gradients are zero in
    # exact arithmetic (attention key biases: softmax ignores a shift), float noise in both.
    scale = max(float(g.abs().max()) for g in grads["sentence-transformers"].values())
    worst = max(
        float((grads["fused"][k] - g).abs().max()) / scale
        for k, g in grads["sentence-transformers"].items()
    )
    print(f"batch {n} pairs, {args.negatives} negatives, {args.length} tokens: fused "
          f"{results['sentence-transformers'] / results['fused']:.2f}x faster; loss "
          f"{values['fused']:.6f} vs {values['sentence-transformers']:.6f}; largest gradient "
          f"difference {worst:.2e} of the model's largest gradient")


if __name__ == "__main__":
    main()
