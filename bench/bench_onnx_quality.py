"""Speed and quality of the ONNX backend against torch fp32, measured in one run.

For torch fp32, ONNX fp32, ONNX int8 and, on CPUs with native bf16, torch bf16 (splade-tiny by
default) it prints:
- docs/s encoding the first N SciFact documents (title + " " + text), best of two rounds,
  and the ratio to torch fp32 measured in the same run;
- SciFact test nDCG@10 (300 queries, full 5,183-document corpus, exact dot-product ranking by
  spladekit's MemoryStore, pytrec_eval) and the relative change against torch fp32. A mode is
  recommended only if it loses at most 1% of fp32's nDCG@10.

    .venv/bin/python bench/bench_onnx_quality.py [--model DIR] [--docs 500] [--scifact DIR]

SciFact is read from ``_common.SCIFACT`` (../shared/data/scifact or $SPLADEKIT_SCIFACT; BEIR
layout; non-commercial licence, never copied). Cosine and top-10 kept: ``_common.parity`` on the
first 1,000 documents.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import SCIFACT, SPLADE_TINY, cpu_summary, parity, scifact_dataset
from scipy.sparse import csr_array

from spladekit import MemoryStore, SpladeEncoder
from spladekit.backends.cpu import cpu_has_bf16
from spladekit.evaluation import BeirDataset, ranking_metrics
from spladekit.onnx.export import export_onnx

MAX_LOSS = 0.01  # relative nDCG@10 loss allowed for a recommendation


def docs_per_second(encoder: SpladeEncoder, texts: list[str]) -> float:
    encoder.encode_documents(texts[:32])  # warm-up: allocations, kernel selection
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        encoder.encode_documents(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def ndcg_at_10(queries: csr_array, corpus: csr_array, dataset: BeirDataset) -> float:
    """nDCG@10 of exact SPLADE scores (spladekit's MemoryStore) over the whole corpus."""
    store = MemoryStore()
    store.upsert([r.id for r in dataset.corpus], corpus)
    hits = store.search(queries, 100, with_text=False, with_metadata=False)
    ranking = {q: [h.id for h in row] for q, row in zip(dataset.queries, hits, strict=True)}
    return ranking_metrics(ranking, dataset.qrels)["nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SPLADE_TINY)
    parser.add_argument("--docs", type=int, default=500, help="documents for the speed test")
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument(
        "--modes", default="", help="only these modes beside torch fp32, e.g. 'onnx int8-full'"
    )
    args = parser.parse_args()

    dataset = scifact_dataset(args.scifact, "test")
    docs = [r.text for r in dataset.corpus]
    query_texts = list(dataset.queries.values())
    print(
        f"# {len(docs)} documents, {len(query_texts)} test queries; CPU: {cpu_summary()}; "
        f"{len(os.sched_getaffinity(0))} cores available"
    )
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        folder = export_onnx(args.model, Path(tmp) / "onnx", quantize="int8-full")
        print(f"# export-onnx --quantize int8-full: {time.perf_counter() - start:.1f} s")
        encoders = {
            "torch fp32": SpladeEncoder(args.model),
            "onnx fp32": SpladeEncoder(folder, backend="onnx"),
            "onnx int8": SpladeEncoder(folder, backend="onnx", precision="int8"),
            "onnx int8-full": SpladeEncoder(folder, backend="onnx", precision="int8-full"),
        }
        if cpu_has_bf16():  # native bf16 only: spladekit refuses emulated bf16
            encoders["torch bf16"] = SpladeEncoder(args.model, precision="bf16")
        if args.modes:
            wanted = {"torch fp32", *(m.strip() for m in args.modes.split(","))}
            encoders = {k: v for k, v in encoders.items() if k in wanted}
        sample = docs[: args.docs]
        speed = {name: docs_per_second(enc, sample) for name, enc in encoders.items()}
        rows = {}
        corpus_rate = {}
        for name, enc in encoders.items():
            start = time.perf_counter()
            corpus = enc.encode_documents(docs)
            corpus_rate[name] = len(docs) / (time.perf_counter() - start)
            queries = enc.encode_queries(query_texts)
            rows[name] = (corpus, ndcg_at_10(queries, corpus, dataset))
            print(f"# {name}: corpus encoded at {corpus_rate[name]:.1f} docs/s", file=sys.stderr)

    base_speed, (base_corpus, base_ndcg) = speed["torch fp32"], rows["torch fp32"]
    print(
        f"\n| mode | docs/s ({args.docs} docs) | x torch fp32 | docs/s (full corpus) | "
        "nDCG@10 | vs torch fp32 | nDCG@10 diff | cosine vs torch fp32 | top-10 kept | "
        "recommended |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in encoders:
        corpus, ndcg = rows[name]
        loss = (base_ndcg - ndcg) / base_ndcg
        close = parity(base_corpus[:1000], corpus[:1000])
        print(
            f"| {name} | {speed[name]:.1f} | {speed[name] / base_speed:.2f} | "
            f"{corpus_rate[name]:.1f} | {ndcg:.4f} | {-loss:+.2%} | {ndcg - base_ndcg:+.4f} | "
            f"{close['cosine_mean']:.5f} | {close['top10_kept_mean']:.3f} | "
            f"{'yes' if loss <= MAX_LOSS else 'no'} |"
        )


if __name__ == "__main__":
    main()
