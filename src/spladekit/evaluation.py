"""BEIR-layout datasets, ranking metrics (nDCG@10, MRR@10, Recall@100) and a BM25 baseline.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``, with a
header line). Metrics come from pytrec_eval (trec_eval's definitions); the BM25 baseline from
bm25s with English stop words and the Snowball stemmer. Both are in the ``eval`` extra:
``pip install 'spladekit[eval]'``.

BEIR's own-id rule holds throughout: a query's own id is never a hit. In datasets whose queries
are also documents (ArguAna, Quora), each query would otherwise find itself; BEIR leaves it out
of every ranking before scoring (``ignore_identical_ids``), and so does spladekit
(:func:`without_own_id`): rankings ask for one hit more and drop the query's own id, and the
metrics ignore it, so figures compare with published ones.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .corpus import Record, open_text, read_records
from .errors import InvalidArgumentError, MissingDependencyError
from .options import Progress

if TYPE_CHECKING:
    from .retrieval import IndexReport, Retriever
    from .store import SearchOptions

Ranking = dict[str, list[str]]
"""Query id -> document ids, best first."""

Qrels = dict[str, dict[str, int]]
"""Query id -> {document id: relevance grade}."""

METRICS = ("nDCG@10", "MRR@10", "Recall@100")
EVAL_INSTALL = "pip install 'spladekit[eval]'"


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR dataset: the corpus, the queries that have judgements in ``split``, the qrels."""

    name: str
    corpus: list[Record]
    queries: dict[str, str]
    qrels: Qrels


def read_qrels(path: str | os.PathLike[str]) -> Qrels:
    """Read a BEIR qrels TSV (``query-id``, ``corpus-id``, ``score``; header line optional)."""
    qrels: Qrels = {}
    with open_text(os.fspath(path)) as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if not line.strip():
                continue
            if len(parts) < 3:
                raise InvalidArgumentError(
                    f"{path} line {line_no}: expected query-id, corpus-id and score separated "
                    f"by tabs, got {line.strip()[:80]!r}"
                )
            try:
                grade = int(float(parts[2]))
            except ValueError:
                if line_no == 1:
                    continue  # the header
                raise InvalidArgumentError(
                    f"{path} line {line_no}: score must be a number, got {parts[2]!r}"
                ) from None
            qrels.setdefault(parts[0], {})[parts[1]] = grade
    return qrels


def load_beir(folder: str | os.PathLike[str], split: str = "test") -> BeirDataset:
    """Load a BEIR-layout folder; keep the queries that have at least one relevant document."""
    root = Path(folder)
    for required in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (root / required).is_file():
            raise InvalidArgumentError(
                f"{root} is not a BEIR dataset folder: {required} is missing (expected "
                f"corpus.jsonl, queries.jsonl and qrels/{split}.tsv)"
            )
    qrels = {
        qid: judged
        for qid, judged in read_qrels(root / "qrels" / f"{split}.tsv").items()
        if any(grade > 0 for grade in judged.values())
    }
    with open_text(str(root / "corpus.jsonl")) as handle:
        corpus = list(read_records(handle, str(root / "corpus.jsonl"), "jsonl"))
    with open_text(str(root / "queries.jsonl")) as handle:
        records = read_records(handle, str(root / "queries.jsonl"), "jsonl")
        all_queries = {r.id: r.text for r in records}
    missing = [qid for qid in qrels if qid not in all_queries]
    if missing:
        raise InvalidArgumentError(
            f"{root}: qrels/{split}.tsv judges {len(missing)} queries that queries.jsonl lacks "
            f"(first: {missing[0]!r})"
        )
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirDataset(root.resolve().name, corpus, queries, qrels)


def without_own_id(qid: str, docs: Sequence[str], k: int | None = None) -> list[str]:
    """``docs`` without the query's own id (BEIR's rule), the first ``k`` of them."""
    kept = [doc for doc in docs if doc != qid]
    return kept if k is None else kept[:k]


def ranking_metrics(ranking: Mapping[str, Sequence[str]], qrels: Qrels) -> dict[str, float]:
    """Mean nDCG@10, MRR@10 and Recall@100 over every judged query (missing ones score 0).

    Rankings are taken in the order given (ties cannot reorder them), without the query's own
    id (BEIR's rule: a query is never its own hit). MRR@10 is the reciprocal rank of the first
    relevant document within the top 10, 0 when there is none there.
    """
    try:
        import pytrec_eval
    except ImportError as exc:
        raise MissingDependencyError(f"pytrec_eval is needed for metrics: {EVAL_INSTALL}") from exc
    judged = {qid: dict(docs) for qid, docs in qrels.items() if any(g > 0 for g in docs.values())}
    if not judged:
        raise InvalidArgumentError("qrels hold no query with a relevant document")

    def as_run(cut: int) -> dict[str, dict[str, float]]:
        run: dict[str, dict[str, float]] = {}
        for qid in judged:
            docs = without_own_id(qid, list(dict.fromkeys(ranking.get(qid, ()))), cut)
            if docs:
                # Scores from ranks: trec_eval sorts by score, so the given order is kept.
                run[qid] = {doc: float(len(docs) - i) for i, doc in enumerate(docs)}
        return run

    full = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100"}).evaluate(
        as_run(100)
    )
    # pytrec_eval's recip_rank has no cutoff: cut the runs at 10 to get MRR@10.
    top10 = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(as_run(10))
    n = len(judged)
    return {
        "nDCG@10": sum(v["ndcg_cut_10"] for v in full.values()) / n,
        "MRR@10": sum(v["recip_rank"] for v in top10.values()) / n,
        "Recall@100": sum(v["recall_100"] for v in full.values()) / n,
    }


def bm25_rank(
    corpus: Sequence[Record], queries: Mapping[str, str], k: int = 100
) -> Ranking:
    """BM25 (bm25s, Lucene variant, English stop words and Snowball stemmer) top-k per query,
    never the query's own id."""
    try:
        import bm25s

        # PyStemmer ships no type information: import it as a plain module object.
        Stemmer = importlib.import_module("Stemmer")
    except ImportError as exc:
        raise MissingDependencyError(
            f"bm25s and PyStemmer are needed for the BM25 baseline: {EVAL_INSTALL}"
        ) from exc
    if not corpus:
        return {qid: [] for qid in queries}
    stemmer = Stemmer.Stemmer("english")
    tokens = bm25s.tokenize(
        [r.text for r in corpus], stopwords="en", stemmer=stemmer, show_progress=False
    )
    model = bm25s.BM25()
    model.index(tokens, show_progress=False)
    qids = list(queries)
    query_tokens = bm25s.tokenize(
        [queries[q] for q in qids], stopwords="en", stemmer=stemmer, return_ids=False,
        show_progress=False,
    )
    # One more, in case the query's own id is among them.
    docs, scores = model.retrieve(query_tokens, k=min(k + 1, len(corpus)), show_progress=False)
    ids = [r.id for r in corpus]
    return {
        qid: without_own_id(
            qid, [ids[int(d)] for d, s in zip(docs[i], scores[i], strict=True) if s > 0], k
        )
        for i, qid in enumerate(qids)
    }


@dataclass(frozen=True)
class EvalReport:
    """One evaluation run: metrics per system, and speeds.

    ``spladekit`` is SPLADE alone and ``bm25`` the bm25s baseline; with ``hybrid=True``,
    ``milvus_bm25`` is Milvus's own BM25 over the stored text and ``hybrid`` both fused
    (settings in ``fusion``). ``queries_per_second`` is SPLADE's; ``queries_per_second_by_mode``
    has every Milvus mode's (queries encoded where needed and sent in one batch).
    """

    dataset: str
    documents: int
    queries: int
    spladekit: dict[str, float]
    bm25: dict[str, float] | None
    encoded: int
    reused: int
    documents_per_second: float
    queries_per_second: float
    bm25_seconds: float | None
    milvus_bm25: dict[str, float] | None = None
    hybrid: dict[str, float] | None = None
    fusion: dict[str, Any] | None = None
    queries_per_second_by_mode: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_queries(
    retriever: Retriever, dataset: BeirDataset, k: int, options: SearchOptions
) -> tuple[Ranking, float]:
    """Every judged query in one batch: (ranking, queries per second).

    Each query asks for ``k + 1`` hits and keeps ``k`` without its own id (BEIR's rule). The
    search is ``Strong``: it follows the indexing, whose every document it must see.
    """
    from .store.protocol import MAX_K

    qids = list(dataset.queries)
    started = time.perf_counter()
    hits = retriever.search_many(
        [dataset.queries[q] for q in qids], min(k + 1, MAX_K),
        options=options.replace(with_text=False, with_metadata=False, consistency="Strong"),
    )
    seconds = time.perf_counter() - started
    ranking = {
        qid: without_own_id(qid, [h.id for h in row], k)
        for qid, row in zip(qids, hits, strict=True)
    }
    return ranking, (len(qids) / seconds if seconds > 0 else 0.0)


def evaluate(
    retriever: Retriever,
    dataset: BeirDataset,
    *,
    k: int = 100,
    chunk_size: int = 256,
    with_bm25: bool = True,
    hybrid: SearchOptions | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """Index the corpus (reusing what is stored), run every judged query, compare with BM25.

    With ``hybrid`` (search options whose fusion settings to use; the collection needs its
    BM25 field), Milvus's BM25 and the hybrid fusion are evaluated in the same run.
    """
    from .store import SearchOptions

    report: IndexReport = retriever.index(
        dataset.corpus, chunk_size=chunk_size, progress=progress
    )
    ranking, splade_qps = run_queries(retriever, dataset, k, SearchOptions())
    speeds = {"splade": splade_qps}
    extra: dict[str, Any] = {}
    if hybrid is not None:
        bm25_ranking, speeds["bm25"] = run_queries(
            retriever, dataset, k, hybrid.replace(mode="bm25")
        )
        fused, speeds["hybrid"] = run_queries(retriever, dataset, k, hybrid.replace(mode="hybrid"))
        extra = {
            "milvus_bm25": ranking_metrics(bm25_ranking, dataset.qrels),
            "hybrid": ranking_metrics(fused, dataset.qrels),
            "fusion": fusion_settings(hybrid, k),
            "queries_per_second_by_mode": speeds,
        }
    bm25_metrics: dict[str, float] | None = None
    bm25_seconds: float | None = None
    if with_bm25:
        started = time.perf_counter()
        bm25_ranking_s = bm25_rank(dataset.corpus, dataset.queries, k)
        bm25_seconds = time.perf_counter() - started
        bm25_metrics = ranking_metrics(bm25_ranking_s, dataset.qrels)
    return EvalReport(
        dataset=dataset.name,
        documents=len(dataset.corpus),
        queries=len(dataset.queries),
        spladekit=ranking_metrics(ranking, dataset.qrels),
        bm25=bm25_metrics,
        encoded=report.encoded,
        reused=report.skipped,
        documents_per_second=report.documents_per_second,
        queries_per_second=splade_qps,
        bm25_seconds=bm25_seconds,
        **extra,
    )


def fusion_settings(options: SearchOptions, k: int) -> dict[str, Any]:
    """The fusion settings of a hybrid search, as reports print them."""
    settings: dict[str, Any] = {"fusion": options.fusion, "candidates": options.candidates_for(k)}
    if options.fusion == "rrf":
        settings["rrf_k"] = options.rrf_k
    else:
        settings["weights"] = list(options.weights)
    return settings


__all__ = [
    "METRICS",
    "BeirDataset",
    "EvalReport",
    "Qrels",
    "Ranking",
    "bm25_rank",
    "evaluate",
    "fusion_settings",
    "load_beir",
    "ranking_metrics",
    "read_qrels",
    "run_queries",
    "without_own_id",
]
