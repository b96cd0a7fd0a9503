"""Search quality and speed on a BEIR dataset: SPLADE, Milvus BM25 and hybrid, Lite and server.

One run, in this order: encode the corpus and the judged queries once (splade-tiny by default); BM25
(bm25s) on the same data; exact SPLADE scores (spladekit's MemoryStore: scipy dot products); then
for each backend (a Milvus Lite file, and the real Milvus server from
scripts/fetch_milvus_server.py) store the vectors and texts in a collection with Milvus's BM25, and
for each mode (splade, bm25, hybrid) run all queries in one batched call (quality, queries/s) and
one query per call (latency p50/p99, ``_common.percentile``); SPLADE's top 10 is compared with the
exact one (recall@10, which must be 1.0 at drop_ratio_search=0). Then the fusion settings are swept
(RRF constants, weighted fusion) on each backend.

    .venv/bin/python bench/bench_search.py [--data DIR] [--model DIR] [--max-docs N]

``--data`` is a BEIR folder, by default ``_common.SCIFACT`` (../shared/data/scifact or
$SPLADEKIT_SCIFACT), read by ``spladekit.evaluation.load_beir``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from _common import (
    SCIFACT,
    SPLADE_TINY,
    cpu_summary,
    milvus_server,
    model_folder,
    percentile,
    scifact_dataset,
)

from spladekit import MemoryStore, SearchOptions, SpladeEncoder
from spladekit.evaluation import bm25_rank, ranking_metrics
from spladekit.store.milvus import MilvusStore

METRICS = ("nDCG@10", "MRR@10", "Recall@100")
MODES = ("splade", "bm25", "hybrid")
SWEEP = [
    {"fusion": "rrf", "rrf_k": 10},
    {"fusion": "rrf", "rrf_k": 30},
    {"fusion": "rrf", "rrf_k": 60},
    {"fusion": "rrf", "rrf_k": 100},
    {"fusion": "weighted", "weights": (0.3, 0.7)},
    {"fusion": "weighted", "weights": (0.5, 0.5)},
    {"fusion": "weighted", "weights": (0.7, 0.3)},
]
LATENCY_QUERIES = 150


def recall_against_exact(found: list[list[str]], exact: list[list[str]]) -> float:
    values = [len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True) if e]
    return sum(values) / len(values)


class Run:
    """The encoded data of one run, searched on several stores."""

    def __init__(self, dataset: Any, encoder: SpladeEncoder) -> None:
        self.dataset = dataset
        self.ids = [r.id for r in dataset.corpus]
        self.texts = [r.text for r in dataset.corpus]
        self.qids = list(dataset.queries)
        self.query_texts = [dataset.queries[q] for q in self.qids]
        started = time.perf_counter()
        self.docs = encoder.encode_documents(self.texts)
        self.docs_per_s = len(self.ids) / (time.perf_counter() - started)
        started = time.perf_counter()
        self.queries = encoder.encode_queries(self.query_texts)
        self.queries_per_s = len(self.qids) / (time.perf_counter() - started)

    def search(self, store: Any, k: int, options: SearchOptions, rows: Any = None) -> list[Any]:
        vectors = None if options.mode == "bm25" else (self.queries if rows is None else rows)
        texts = self.query_texts if rows is None else None
        return store.search(vectors, k, texts=texts, options=options)

    def quality(self, store: Any, options: SearchOptions) -> tuple[dict[str, float], float]:
        started = time.perf_counter()
        hits = self.search(store, 100, options.replace(with_text=False, with_metadata=False))
        qps = len(self.qids) / (time.perf_counter() - started)
        ranking = {q: [h.id for h in row] for q, row in zip(self.qids, hits, strict=True)}
        return ranking_metrics(ranking, self.dataset.qrels), qps

    def latency(self, store: Any, options: SearchOptions) -> tuple[float, float, list[list[str]]]:
        times, found = [], []
        for i in range(min(LATENCY_QUERIES, len(self.qids))):
            vector = None if options.mode == "bm25" else self.queries[[i]]
            started = time.perf_counter()
            hits = store.search(vector, 10, texts=[self.query_texts[i]], options=options)[0]
            times.append(time.perf_counter() - started)
            found.append([h.id for h in hits])
        return 1000 * percentile(times, 50), 1000 * percentile(times, 99), found


def bench_backend(
    label: str, store: MilvusStore, run: Run, exact10: list[list[str]], ratio: float = 0.0
) -> dict[str, Any]:
    rows: dict[str, Any] = {"backend": label, "drop_ratio_search": ratio, "modes": {}}
    started = time.perf_counter()
    for start in range(0, len(run.ids), 1000):
        part = slice(start, start + 1000)
        store.upsert(run.ids[part], run.docs[part], run.texts[part])
    store.flush()
    rows["insert_docs_per_s"] = len(run.ids) / (time.perf_counter() - started)
    rows["analyzer"] = store.bm25_analyzer
    for mode in MODES:
        options = SearchOptions(mode=mode, drop_ratio_search=ratio if mode != "bm25" else 0.0)
        run.latency(store, options)  # warm-up pass on a few queries happens inside too
        metrics, qps = run.quality(store, options)
        p50, p99, found = run.latency(store, options)
        entry = {**metrics, "batched_queries_per_s": qps, "p50_ms": p50, "p99_ms": p99}
        if mode == "splade":
            entry["recall@10_vs_exact"] = recall_against_exact(found, exact10[: len(found)])
        rows["modes"][mode] = entry
    if ratio == 0.0:
        rows["sweep"] = []
        for setting in SWEEP:
            options = SearchOptions(mode="hybrid", **setting)  # type: ignore[arg-type]
            metrics, _ = run.quality(store, options)
            rows["sweep"].append({**setting, **metrics})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SCIFACT, help="A BEIR folder (SciFact).")
    parser.add_argument(
        "--model", default=str(SPLADE_TINY), help="A model folder, or tiny | bert-base | ..."
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--no-server", action="store_true", help="Milvus Lite only.")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    parser.add_argument(
        "--max-docs", type=int, default=None,
        help="Use only the first N documents: a quick check of the script, not a figure.",
    )
    args = parser.parse_args()

    dataset = scifact_dataset(args.data, args.split)
    if args.max_docs:
        dataset = replace(dataset, corpus=dataset.corpus[: args.max_docs])
    encoder = SpladeEncoder(model_folder(args.model))
    run = Run(dataset, encoder)
    started = time.perf_counter()
    bm25 = ranking_metrics(bm25_rank(dataset.corpus, dataset.queries, 100), dataset.qrels)
    bm25_s = time.perf_counter() - started
    exact_store = MemoryStore()
    exact_store.upsert(run.ids, run.docs)
    exact, _ = run.quality(exact_store, SearchOptions())
    exact10 = [[h.id for h in hits] for hits in exact_store.search(run.queries, 10)]

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        with MilvusStore(str(Path(tmp) / "bench.db"), collection="bench", bm25=True) as store:
            results.append(bench_backend("Milvus Lite 3.2.2", store, run, exact10))
        helper = None if args.no_server else milvus_server()
        if helper is not None and helper.platform_supported() and helper.binary_path().is_file():
            with helper.MilvusServer(Path(tmp) / "server") as server:
                for ratio in (0.0, 0.2):
                    name = f"bench{int(ratio * 10)}"
                    with MilvusStore(server.uri, collection=name, bm25=True) as store:
                        label = "Milvus server 2.5.1"
                        results.append(bench_backend(label, store, run, exact10, ratio))
        elif not args.no_server:
            print("note: no Milvus server binary; run scripts/fetch_milvus_server.py")

    print(
        f"dataset: {dataset.name} ({args.split}), {len(run.ids)} documents, "
        f"{len(run.qids)} queries"
    )
    print(f"model: {args.model}; CPU: {cpu_summary()}")
    print(
        f"encoding: {run.docs_per_s:.1f} documents/s, {run.queries_per_s:.1f} queries/s "
        f"(one process, {encoder.device})\n"
    )
    def line(label: str, metrics: dict[str, float]) -> str:
        return f"{label:<52}" + "".join(f"{metrics[m]:>11.4f}" for m in METRICS)

    print(f"{'system':<52}" + "".join(f"{m:>11}" for m in METRICS))
    print(line("BM25 (bm25s, stemmed, English stop words)", bm25))
    print(line("SPLADE, exact (MemoryStore)", exact))
    for row in results:
        drop = f", drop={row['drop_ratio_search']}" if row["drop_ratio_search"] else ""
        names = {
            "splade": "SPLADE",
            "bm25": f"Milvus BM25 ({row['analyzer']})",
            "hybrid": "hybrid (RRF k=60)",
        }
        for mode, entry in row["modes"].items():
            print(line(f"{names[mode]}, {row['backend']}{drop}", entry))
    print(f"(bm25s index + search: {bm25_s:.1f} s)\n")
    columns = f"{'p50 ms':>9}{'p99 ms':>9}{'q/s batch':>11}{'R@10 exact':>12}"
    print(f"{'query latency (one query per call, k=10)':<52}{columns}")
    for row in results:
        drop = f", drop={row['drop_ratio_search']}" if row["drop_ratio_search"] else ""
        for mode, entry in row["modes"].items():
            recall = entry.get("recall@10_vs_exact")
            shown = f"{recall:>12.4f}" if recall is not None else f"{'-':>12}"
            print(
                f"{mode + ', ' + row['backend'] + drop:<52}{entry['p50_ms']:>9.1f}"
                f"{entry['p99_ms']:>9.1f}{entry['batched_queries_per_s']:>11.1f}{shown}"
            )
    print()
    for row in results:
        if "sweep" not in row:
            continue
        print(f"fusion settings, {row['backend']}:")
        for entry in row["sweep"]:
            rrf = entry["fusion"] == "rrf"
            setting = f"rrf k={entry['rrf_k']}" if rrf else f"weighted {entry['weights']}"
            print(line(f"  {setting}", entry))
    if args.json:
        payload = {"cpu": cpu_summary(), "bm25s": bm25, "exact": exact, "backends": results}
        args.json.write_text(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
