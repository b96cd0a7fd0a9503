"""Search quality and speed on a BEIR dataset: spladekit through Milvus Lite and a Milvus server.

One run, in this order: encode the corpus and the judged queries once (splade-tiny by default);
BM25 (bm25s) on the same data; exact scores by scipy sparse dot products; then for each backend
(a Milvus Lite file, and the real Milvus server from scripts/fetch_milvus_server.py) insert the
vectors, run all queries in one batched call (quality, queries/s) and one query per call
(latency p50/p99, queries/s), and compare the top 10 with the exact one (recall@10, which must
be 1.0 at drop_ratio_search=0).

    .venv/bin/python bench/bench_search.py [--data ../shared/data/scifact] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_array

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the Milvus server helper lives with the tests

from milvus_server import MilvusServer, binary_path, platform_supported  # noqa: E402
from spladekit import SpladeEncoder  # noqa: E402
from spladekit.evaluate import bm25_rank, load_beir, ranking_metrics  # noqa: E402
from spladekit.store.milvus import MilvusStore  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "scifact"
DEFAULT_MODEL = Path.home() / ".cache" / "spladekit" / "models" / "splade-tiny"


def exact_top(queries: csr_array, docs: csr_array, k: int) -> list[list[int]]:
    scores = (queries @ docs.T).toarray()
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")[:k]
        out.append([int(i) for i in order if row[i] > 0])
    return out


def recall_against_exact(found: list[list[str]], exact: list[list[str]]) -> float:
    values = [len(set(f) & set(e)) / len(e) for f, e in zip(found, exact, strict=True) if e]
    return sum(values) / len(values)


def bench_backend(
    label: str,
    uri: str,
    ids: list[str],
    texts: list[str],
    docs: csr_array,
    queries: csr_array,
    qids: list[str],
    qrels: dict[str, dict[str, int]],
    exact10: list[list[str]],
    drop_ratio: float = 0.0,
    reuse: bool = False,
) -> dict[str, Any]:
    row: dict[str, Any] = {"backend": label, "drop_ratio_search": drop_ratio}
    with MilvusStore(uri, collection="bench") as store:
        if not reuse:
            started = time.perf_counter()
            for start in range(0, len(ids), 1000):
                part = slice(start, start + 1000)
                store.upsert(ids[part], docs[part], texts[part])
            store.flush()
            row["insert_docs_per_s"] = len(ids) / (time.perf_counter() - started)
        store.search(queries[[0]], k=10, drop_ratio_search=drop_ratio)  # warm-up
        # All queries in one call, as Retriever.search_many sends them.
        started = time.perf_counter()
        batched = store.search(
            queries, k=100, drop_ratio_search=drop_ratio, with_text=False, with_metadata=False
        )
        row["batched_queries_per_s"] = len(qids) / (time.perf_counter() - started)
        ranking = {q: [h.id for h in hits] for q, hits in zip(qids, batched, strict=True)}
        row.update(ranking_metrics(ranking, qrels))
        # One query per call: latency as one user sees it (text fetched, k=10).
        latencies = []
        single: list[list[str]] = []
        for i in range(queries.shape[0]):
            started = time.perf_counter()
            hits = store.search(queries[[i]], k=10, drop_ratio_search=drop_ratio)[0]
            latencies.append(time.perf_counter() - started)
            single.append([h.id for h in hits])
        row["p50_ms"] = 1000 * statistics.median(latencies)
        row["p99_ms"] = 1000 * float(np.percentile(latencies, 99))
        row["single_queries_per_s"] = len(latencies) / sum(latencies)
        row["recall@10_vs_exact"] = recall_against_exact(single, exact10)
        row["recall@10_vs_exact_batched"] = recall_against_exact(
            [r[:10] for r in ranking.values()], exact10
        )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--split", default="test")
    parser.add_argument("--no-server", action="store_true", help="Milvus Lite only.")
    parser.add_argument("--json", action="store_true", help="Print the rows as JSON too.")
    parser.add_argument(
        "--max-docs",
        type=int,
        default=None,
        help="Use only the first N documents: a quick check of the script, not a figure.",
    )
    args = parser.parse_args()

    dataset = load_beir(args.data, args.split)
    if args.max_docs:
        dataset = replace(dataset, corpus=dataset.corpus[: args.max_docs])
    ids = [r.id for r in dataset.corpus]
    texts = [r.text for r in dataset.corpus]
    qids = list(dataset.queries)
    encoder = SpladeEncoder(args.model)

    started = time.perf_counter()
    docs = encoder.encode_documents(texts)
    encode_docs_s = time.perf_counter() - started
    started = time.perf_counter()
    queries = encoder.encode_queries([dataset.queries[q] for q in qids])
    encode_queries_s = time.perf_counter() - started

    started = time.perf_counter()
    bm25 = ranking_metrics(bm25_rank(dataset.corpus, dataset.queries, 100), dataset.qrels)
    bm25_s = time.perf_counter() - started
    exact_ranking = exact_top(queries, docs, 100)
    exact = ranking_metrics(
        {q: [ids[i] for i in row] for q, row in zip(qids, exact_ranking, strict=True)},
        dataset.qrels,
    )
    exact10 = [[ids[i] for i in row[:10]] for row in exact_ranking]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lite_uri = str(Path(tmp) / "bench.db")
        rows.append(
            bench_backend(
                "Milvus Lite 3.2.2",
                lite_uri,
                ids,
                texts,
                docs,
                queries,
                qids,
                dataset.qrels,
                exact10,
            )
        )
        if not args.no_server and platform_supported() and binary_path().is_file():
            with MilvusServer(Path(tmp) / "server") as server:
                for ratio in (0.0, 0.2):
                    rows.append(
                        bench_backend(
                            "Milvus server 2.5.1",
                            server.uri,
                            ids,
                            texts,
                            docs,
                            queries,
                            qids,
                            dataset.qrels,
                            exact10,
                            drop_ratio=ratio,
                            reuse=ratio > 0,
                        )
                    )
        elif not args.no_server:
            print(
                "note: no Milvus server binary; run scripts/fetch_milvus_server.py",
                file=sys.stderr,
            )

    print(f"dataset: {dataset.name} ({args.split}), {len(ids)} documents, {len(qids)} queries")
    print(f"model: {args.model}")
    print(
        f"encoding: {len(ids) / encode_docs_s:.1f} documents/s, "
        f"{len(qids) / encode_queries_s:.1f} queries/s (one process, {encoder.device})"
    )
    print()
    print(f"{'system':<40}{'nDCG@10':>9}{'MRR@10':>9}{'R@100':>9}")
    print(f"{'BM25 (bm25s, stemmed)':<40}" + "".join(f"{bm25[m]:>9.4f}" for m in bm25))
    print(f"{'spladekit, exact (scipy)':<40}" + "".join(f"{exact[m]:>9.4f}" for m in exact))
    for row in rows:
        name = f"spladekit, {row['backend']}" + (
            f" drop={row['drop_ratio_search']}" if row["drop_ratio_search"] else ""
        )
        metrics = "".join(f"{row[m]:>9.4f}" for m in ("nDCG@10", "MRR@10", "Recall@100"))
        print(f"{name:<40}{metrics}")
    print(f"(BM25 index + search: {bm25_s:.1f} s)")
    print()
    print(
        f"{'search (vectors already encoded)':<40}{'p50 ms':>9}{'p99 ms':>9}{'q/s 1-by-1':>12}"
        f"{'q/s batch':>11}{'R@10 exact':>12}{'insert d/s':>12}"
    )
    for row in rows:
        name = row["backend"] + (
            f" drop={row['drop_ratio_search']}" if row["drop_ratio_search"] else ""
        )
        rate = row.get("insert_docs_per_s")
        insert = f"{rate:>12.0f}" if rate is not None else f"{'-':>12}"
        print(
            f"{name:<40}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}"
            f"{row['single_queries_per_s']:>12.1f}{row['batched_queries_per_s']:>11.1f}"
            f"{row['recall@10_vs_exact']:>12.4f}" + insert
        )
    if len(rows) > 1:
        lite, remote = rows[0], rows[1]
        latency = lite["p50_ms"] / remote["p50_ms"]
        batched = remote["batched_queries_per_s"] / lite["batched_queries_per_s"]
        print()
        print(f"server vs Lite: p50 latency {latency:.1f}x lower, batched queries/s {batched:.1f}x")
    if args.json:
        print(json.dumps({"bm25": bm25, "exact": exact, "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
