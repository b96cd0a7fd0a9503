"""Quality and query latency of an inference-free query side against SPLADE alone and BM25.

    .venv/bin/python bench/bench_inference_free.py [--model DIR] [--scifact DIR] [--n-latency 300]

On SciFact (BEIR layout, ``_common.SCIFACT``: ../shared/data/scifact or $SPLADEKIT_SCIFACT,
never copied; test split: 300
queries, 5,183 documents) three systems, in one process:

- ``inference-free``: the model's document encoder (splade-tiny by default) with a query side
  of IDF weights computed from the SciFact corpus (``spladekit.build_inference_free``, cached
  in the model cache, see _inference_free_model.py): a query is a tokenizer call
  and a lookup;
- ``splade``: the same model alone (queries through the masked-LM);
- ``bm25``: spladekit.evaluation's baseline (bm25s, English stop words, Snowball stemmer).

Metrics come from ``spladekit.evaluation``: ``evaluate`` indexes the corpus into an exact
``MemoryStore`` with the inference-free model and runs its queries (plus BM25); SPLADE alone
searches the same store (the document routes are the same model, checked on the first 64
documents), so the corpus is encoded once. nDCG@10, MRR@10 and Recall@100 as pytrec_eval
counts them.

Latency, one query per call after a warm-up of 20 (``latency_ms``), over the first ``--n-latency``
test queries, p50 by ``_common.percentile``: ``encode`` is ``encode_queries([q])`` (query text to
sparse vector); ``search`` is the whole query, text to top 10: ``Retriever.search(q, 10)`` on the
MemoryStore for the SPLADE systems, tokenize + retrieve on a prebuilt bm25s index for BM25.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any

from _common import SCIFACT, SPLADE_TINY, cpu_summary, parity, percentile, scifact_dataset
from _inference_free_model import cached_inference_free
from _reference_runner import latency_ms

from spladekit import MemoryStore, Retriever, SpladeEncoder
from spladekit.evaluation import bm25_rank, evaluate, ranking_metrics

PARITY_DOCS = 64


def p50(times: list[float]) -> float:
    return percentile(times, 50)


def bm25_searcher(corpus: list[Any]) -> Any:
    """One query at a time on a prebuilt index, with bm25_rank's settings."""
    import bm25s

    stemmer = importlib.import_module("Stemmer").Stemmer("english")
    model = bm25s.BM25()
    model.index(
        bm25s.tokenize([r.text for r in corpus], stopwords="en", stemmer=stemmer,
                       show_progress=False),
        show_progress=False,
    )

    def search(query: str) -> Any:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False,
                                show_progress=False)
        return model.retrieve(tokens, k=10, show_progress=False)

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SPLADE_TINY, help="a SPLADE model folder")
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--n-latency", type=int, default=300, help="queries timed one by one")
    parser.add_argument("--limit-docs", type=int, help="a corpus prefix only (script checks)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()

    print(f"CPU: {cpu_summary()}", flush=True)
    folder, built = cached_inference_free(args.model, args.scifact)
    print(f"inference-free model ({'built' if built else 'cached'}): {folder}", flush=True)
    dataset = scifact_dataset(args.scifact, "test")
    if args.limit_docs:
        dataset = type(dataset)(dataset.name, dataset.corpus[: args.limit_docs],
                                dataset.queries, dataset.qrels)
    print(f"{dataset.name}: {len(dataset.corpus)} documents, {len(dataset.queries)} test queries",
          flush=True)

    free = SpladeEncoder(folder)
    splade = SpladeEncoder(args.model)
    head = [r.text for r in dataset.corpus[:PARITY_DOCS]]
    max_diff = parity(splade.encode_documents(head), free.encode_documents(head))["max_abs_diff"]
    print(f"document vectors, inference-free vs splade, first {len(head)} docs: "
          f"max |diff| {max_diff:.2g}", flush=True)

    store = MemoryStore()
    started = time.perf_counter()
    report = evaluate(Retriever(free, store), dataset, with_bm25=True)
    print(f"indexed and evaluated in {time.perf_counter() - started:.1f} s "
          f"({report.documents_per_second:.1f} docs/s)", flush=True)
    # SPLADE alone on the same stored documents: index() finds every id and encodes nothing.
    splade_report = evaluate(
        Retriever(splade, store, allow_other_model=True), dataset, with_bm25=False
    )
    if splade_report.encoded:
        raise SystemExit(f"expected the corpus to be reused, {splade_report.encoded} re-encoded")
    if args.limit_docs:  # bm25 over the prefix, as the SPLADE systems see it
        report_bm25 = ranking_metrics(bm25_rank(dataset.corpus, dataset.queries), dataset.qrels)
    else:
        report_bm25 = report.bm25 or {}

    queries = list(dataset.queries.values())[: args.n_latency]
    bm25_search = bm25_searcher(dataset.corpus)
    systems: dict[str, dict[str, Any]] = {
        "inference-free": {"metrics": report.spladekit, "encoder": free},
        "splade": {"metrics": splade_report.spladekit, "encoder": splade},
        "bm25": {"metrics": report_bm25, "encoder": None},
    }
    for system in systems.values():
        encoder = system.pop("encoder")
        if encoder is None:
            system["encode_p50_ms"] = None
            system["search_p50_ms"] = p50(latency_ms(bm25_search, queries))
            continue
        retriever = Retriever(encoder, store, allow_other_model=True)
        system["encode_p50_ms"] = p50(latency_ms(lambda q, e=encoder: e.encode_queries([q]),
                                                 queries))
        system["search_p50_ms"] = p50(latency_ms(lambda q, r=retriever: r.search(q, 10),
                                                 queries))

    print(f"\nmodel {args.model.name}; {len(queries)} queries timed one per call")
    header = ("| system | nDCG@10 | MRR@10 | R@100 | encode p50 ms | search p50 ms |\n"
              "|---|---|---|---|---|---|")
    print(header)
    for name, s in systems.items():
        m = s["metrics"]
        encode = "-" if s["encode_p50_ms"] is None else f"{s['encode_p50_ms']:.3f}"
        print(f"| {name} | {m['nDCG@10']:.4f} | {m['MRR@10']:.4f} | {m['Recall@100']:.4f} | "
              f"{encode} | {s['search_p50_ms']:.3f} |")
    if args.json:
        payload = {"cpu": cpu_summary(), "model": str(args.model), "inference_free": str(folder),
                   "documents": len(dataset.corpus), "queries": len(dataset.queries),
                   "doc_vectors_max_abs_diff": max_diff, "systems": systems}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
