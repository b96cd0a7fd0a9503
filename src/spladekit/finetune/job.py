"""``spladekit.finetune``: adapt a SPLADE model to the user's corpus, in one resumable step.

The steps, each kept in a work folder beside the output (``OUT.work``) so that a run killed at
any point and started again with the same arguments continues where it stopped:

1. read the data (labels, JSONL pairs, or pairs made from the corpus) and hold out a dev split;
2. open the collection that holds the corpus indexed with the base model (the user's, or one
   built in Milvus Lite in the work folder) and mine hard negatives from it;
3. evaluate the base model on the test qrels (SPLADE, Milvus BM25, hybrid, bm25s);
4. train with sentence-transformers (:mod:`.training`) under the sparsity budget;
5. evaluate the fine-tuned model the same way, write the card, move the model into place
   (renamed from a temporary folder: ``OUT`` is whole or absent), optionally index the corpus
   with it into a new collection, and remove the work folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..checkpoint.description import FINETUNE_RECORD
from ..checkpoint.identity import ModelIdentity, model_identity
from ..encoder import SpladeEncoder
from ..errors import InvalidArgumentError, MissingDependencyError
from ..evaluation import EvalReport, evaluate, load_beir
from ..retrieval import Retriever
from ..store import SearchOptions
from ..store.connection import DEFAULT_URI
from ..store.milvus import MilvusStore
from .budget import SparsityBudget
from .card import write_card
from .data import Pair, TrainingData, has_labels, hold_out, load_labelled
from .mining import MiningConfig, MiningReport, mine_negatives
from .selfsup import SELF_SUPERVISED, self_supervised
from .settings import Probe, TrainConfig, TrainOutcome, default_schedule, write_json
from .stores import (
    Log,
    eval_store,
    inference_free_base,
    mining_store,
    mining_summary,
    reindex_corpus,
)

DEFAULT_MINING = MiningConfig()
DEFAULT_TRAINING = TrainConfig()
TRAIN_INSTALL = "pip install 'spladekit[train]'"
_NEEDED = ("sentence_transformers", "datasets", "accelerate")
# Texts in the sparsity probe, per side.
PROBE_SIZE = 128
# Other documents beside the dev queries' own in the dev evaluation.
DEV_DISTRACTORS = 500
# Written in the work folder once the model is in place: a rerun then only finishes.
PLACED = "placed"


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune` made and measured.

    ``nnz_before``/``nnz_after``: mean non-zeros (document, query) of the base and fine-tuned
    models on the probe; ``evaluation``: ``split`` and the base's and fine-tuned model's
    :class:`~spladekit.EvalReport` as dicts (``None`` where no qrels were there to evaluate).
    """

    model_dir: Path
    base: ModelIdentity
    tuned: ModelIdentity
    data_rule: str
    data_counts: dict[str, int]
    dev_rule: str
    mining: MiningReport | None
    budget: SparsityBudget
    nnz_before: tuple[float, float]
    nnz_after: tuple[float, float]
    budget_met: bool
    training: TrainOutcome
    evaluation: dict[str, Any]
    reindexed: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model_dir"] = str(self.model_dir)
        return out


def check_dependencies() -> None:
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingDependencyError(
            f"fine-tuning needs {', '.join(missing)} (sentence-transformers' trainer): "
            f"{TRAIN_INSTALL}"
        )


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidArgumentError(
            f"the output {str(out)!r} already exists; give a new --out (a fine-tune never "
            "overwrites a model)"
        )


def _run_key(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


def _claim_work_dir(work: Path, settings: dict[str, Any]) -> bool:
    """Create the work folder, or check that the one there was made by the same command.
    Returns whether it is resumed."""
    record = work / "run.json"
    if record.is_file():
        if json.loads(record.read_text()).get("key") != _run_key(settings):
            raise InvalidArgumentError(
                f"{str(work)!r} holds an interrupted fine-tune with other data or settings; "
                "run the same command again to resume it, or remove that folder to start anew"
            )
        return True
    work.mkdir(parents=True, exist_ok=True)
    write_json(record, {"key": _run_key(settings)})
    return False


def _load_data(data: Path, self_supervised_: bool | None, max_pairs: int, seed: int,
               dev_fraction: float) -> TrainingData:
    unlabelled = self_supervised_ if self_supervised_ is not None else not has_labels(data)
    loaded = (
        self_supervised(data, max_pairs=max_pairs, seed=seed) if unlabelled
        else load_labelled(data)
    )
    return hold_out(loaded, dev_fraction, seed=seed)


def _probe(pairs: list[Pair], seed: int, max_length: int) -> Probe:
    """Fixed texts the budget is measured on: a seeded sample of the pairs' documents and
    queries."""
    rng = random.Random(seed)
    documents = sorted(dict.fromkeys(p.positive for p in pairs))
    queries = sorted(dict.fromkeys(p.query for p in pairs))
    return Probe(
        tuple(rng.sample(documents, min(PROBE_SIZE, len(documents)))),
        tuple(rng.sample(queries, min(PROBE_SIZE, len(queries)))),
        max_length,
    )


def mean_nnz_of(encoder: SpladeEncoder, probe: Probe) -> tuple[float, float]:
    """Mean non-zeros per document and per query of the probe's vectors."""
    docs = encoder.encode_documents(list(probe.documents))
    queries = encoder.encode_queries(list(probe.queries))
    return (round(docs.nnz / max(1, docs.shape[0]), 2),
            round(queries.nnz / max(1, queries.shape[0]), 2))


def _save_pairs(path: Path, pairs: list[Pair]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps(pair.to_json()) + "\n")
    os.replace(tmp, path)


def _read_mining(path: Path) -> MiningReport:
    saved = json.loads(path.read_text())
    first, last = saved.pop("window")
    return MiningReport(window=(int(first), int(last)), **saved)


def _read_pairs(path: Path) -> list[Pair]:
    with open(path, encoding="utf-8") as handle:
        return [Pair.from_json(json.loads(line)) for line in handle]


def _eval_report(retriever: Retriever, folder: Path, split: str, cache: Path) -> dict[str, Any]:
    """The evaluation's figures, from the work folder when an earlier run made them."""
    if cache.is_file():
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    report: EvalReport = evaluate(retriever, load_beir(folder, split), hybrid=SearchOptions())
    result = report.to_dict()
    write_json(cache, result)
    return result


def _base_eval(base: SpladeEncoder, store: MilvusStore | None, work: Path, data: Path,
               split: str) -> dict[str, Any]:
    """The base model's figures, on the mining collection when it was built here (it holds
    the corpus with the base model's vectors and a BM25 field), else on one of its own."""
    if store is not None:
        return _eval_report(Retriever(base, store), data, split, work / "base_eval.json")
    own = eval_store(base, work, "base")
    try:
        return _eval_report(Retriever(base, own), data, split, work / "base_eval.json")
    finally:
        own.close()


def eval_split_of(data: Path, wanted: str) -> str | None:
    """The qrels split to evaluate on: ``wanted`` when the folder has it, else ``dev``, else
    None (no evaluation: said in the result)."""
    if not data.is_dir():
        return None
    for split in (wanted, "dev"):
        if (data / "qrels" / f"{split}.tsv").is_file():
            return split
    return None


def finetune(
    data: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    self_supervised: bool | None = None,
    inference_free: bool = False,
    uri: str | None = None,
    collection: str | None = None,
    token: str | None = None,
    mining: MiningConfig | None = DEFAULT_MINING,
    budget: SparsityBudget | None = None,
    config: TrainConfig = DEFAULT_TRAINING,
    max_pairs: int = 10_000,
    dev_fraction: float = 0.05,
    eval_split: str | None = "test",
    reindex: str | None = None,
    show_progress: bool = False,
    log: Log | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` on ``data`` and write it to ``out``; see the module for the steps.

    ``data``: a BEIR folder or a JSONL file of ``{"query", "positive", "negatives"?}``.
    ``self_supervised``: pairs from the corpus (None: when the folder has no train qrels).
    ``uri``/``collection``: the collection that holds the corpus indexed with ``model``, to mine
    negatives from (default: one built in Milvus Lite in the work folder). ``mining=None``:
    in-batch negatives only. ``budget``: mean non-zeros allowed (default: the base model's).
    ``eval_split``: qrels to evaluate base and fine-tuned model on (None: no evaluation).
    ``reindex``: a new collection (at ``uri``) to index the corpus into with the new model.
    """
    started = time.perf_counter()
    say = log or (lambda _message: None)
    check_dependencies()
    # Imported here: it imports sentence-transformers, datasets and accelerate at its top.
    training = importlib.import_module(".training", __package__)

    out_dir = Path(out)
    data_path = Path(data)
    work = out_dir.with_name(out_dir.name + ".work")
    placed = work / PLACED
    if not placed.is_file():
        _check_out(out_dir)
    if reindex is not None and reindex == collection:
        raise InvalidArgumentError(
            f"--reindex {reindex!r} names the collection mined from; the new model's vectors go "
            "into a new collection, so that the old one keeps its model and nothing is mixed"
        )
    loaded = _load_data(data_path, self_supervised, max_pairs, config.seed, dev_fraction)
    say(f"data: {loaded.rule}; dev: {loaded.dev_rule}")
    base_dir = Path(model)
    settings = {
        "data": loaded.digest, "rule": loaded.rule, "model": os.fspath(model),
        "config": config.to_dict(), "mining": asdict(mining) if mining else None,
        "budget": asdict(budget) if budget else None, "uri": uri, "collection": collection,
        "max_pairs": max_pairs, "dev_fraction": dev_fraction, "eval_split": eval_split,
    }
    resumed = _claim_work_dir(work, settings)
    if resumed:
        say(f"resuming the fine-tune kept in {work}")
    if placed.is_file() and out_dir.is_dir():
        # Killed after the model was in place: only the re-indexing and the clean-up remain.
        return _finish(out_dir, loaded, work, uri, token, reindex, say, started)
    config = replace(config, inference_free=inference_free or config.inference_free)
    if config.inference_free:
        base_dir = inference_free_base(base_dir, loaded, work, say)
    base = SpladeEncoder(base_dir, device=config.device)
    config = default_schedule(
        replace(config, inference_free=base.spec.query.kind == "static"),
        base.spec.document.folder, loaded.rule.startswith(SELF_SUPERVISED),
    )
    split = eval_split_of(data_path, eval_split) if eval_split else None

    mined_file = work / "train.jsonl"
    dev_file = work / "dev.jsonl"
    mining_report: MiningReport | None = None
    store = None
    try:
        if mining is not None and (loaded.corpus is not None or collection is not None):
            store, has_bm25 = mining_store(base, loaded, work, uri, collection, token, say)
            if mined_file.is_file() and dev_file.is_file():
                train_pairs, dev_pairs = _read_pairs(mined_file), _read_pairs(dev_file)
                mining_report = _read_mining(work / "mining.json")
            else:
                retriever = Retriever(base, store)
                train_pairs, mining_report = mine_negatives(
                    loaded.train, retriever, mining, has_bm25=has_bm25)
                dev_pairs, _ = mine_negatives(loaded.dev, retriever, mining, has_bm25=has_bm25)
                _save_pairs(dev_file, dev_pairs)
                write_json(work / "mining.json", asdict(mining_report))
                _save_pairs(mined_file, train_pairs)  # last: its presence says mining is done
            say(f"mining: {mining_summary(mining_report)}")
        else:
            train_pairs, dev_pairs = loaded.train, loaded.dev
        base_eval = None
        if split is not None:
            say(f"evaluating the base model on qrels/{split}.tsv")
            base_eval = _base_eval(base, store if collection is None else None, work, data_path,
                                   split)
    finally:
        if store is not None:
            store.close()

    per_pair = min((len(p.negatives) for p in train_pairs), default=0)
    unused = sum(len(p.negatives) - per_pair for p in train_pairs)
    if unused:
        # A batch needs as many negatives in every row: the extra ones of some pairs are not used.
        say(f"note: pairs have {per_pair} to {max(len(p.negatives) for p in train_pairs)} "
            f"negatives; training uses {per_pair} per pair ({unused} unused)")
    data_counts = {**loaded.counts, "negatives_per_pair": per_pair, "negatives_unused": unused}
    probe = _probe(train_pairs, config.seed, base.document_max_length)
    nnz_before = mean_nnz_of(base, probe)
    budget = budget or SparsityBudget(nnz_before[0], nnz_before[1])
    if config.inference_free:
        budget = replace(budget, query=None)
    say(f"sparsity budget (document, query): {budget.document}, {budget.query}; base "
        f"{nnz_before}")
    distractors = sorted({p.positive for p in train_pairs})[:DEV_DISTRACTORS]
    staged = work / "model"
    if staged.exists():
        shutil.rmtree(staged)
    outcome = training.train(
        base.model_dir, train_pairs, dev_pairs, distractors, budget, probe, config, work, staged,
        show_progress=show_progress,
    )
    tuned = SpladeEncoder(staged, device=config.device)
    nnz_after = mean_nnz_of(tuned, probe)
    met = budget.met(nnz_after[0], None if config.inference_free else nnz_after[1])
    evaluation: dict[str, Any] = {"split": split, "base": base_eval, "tuned": None}
    if split is not None:
        say("evaluating the fine-tuned model")
        tuned_store = eval_store(tuned, work, "tuned")
        try:
            evaluation["tuned"] = _eval_report(
                Retriever(tuned, tuned_store), data_path, split, work / "tuned_eval.json")
        finally:
            tuned_store.close()
    record = {
        "base_model": {"name": os.fspath(model), "fingerprint": base.model_identity.fingerprint,
                       "query_side": "corpus IDF (build_inference_free)" if config.inference_free
                       else "trained"},
        "data": {"source": loaded.source, "digest": loaded.digest, "rule": loaded.rule,
                 "counts": data_counts, "dev_rule": loaded.dev_rule,
                 "train_pairs": len(train_pairs), "dev_pairs": len(dev_pairs)},
        "mining": {"summary": mining_summary(mining_report, per_pair),
                   "report": asdict(mining_report) if mining_report else None},
        "sparsity": {"budget": [budget.document, budget.query], "before": list(nnz_before),
                     "after": list(nnz_after), "met": met,
                     "probe": {"documents": len(probe.documents), "queries": len(probe.queries)}},
        "hyperparameters": config.to_dict(),
        "training": asdict(outcome),
        "evaluation": evaluation,
    }
    write_card(staged, record)
    if out_dir.exists():
        out_dir.rmdir()  # empty: checked at the start
    os.replace(staged, out_dir)
    placed.touch()
    return _finish(out_dir, loaded, work, uri, token, reindex, say, started)


def _finish(out_dir: Path, data: TrainingData, work: Path, uri: str | None, token: str | None,
            reindex: str | None, say: Log, started: float) -> FinetuneResult:
    """Re-index (resumable) and clean up after the model is in place; the result, read from
    the model's own record."""
    record = json.loads((out_dir / FINETUNE_RECORD).read_text())
    device = record["hyperparameters"]["device"]
    reindexed = None
    if reindex is not None:
        reindexed = reindex_corpus(out_dir, data, uri or DEFAULT_URI, reindex, token, say,
                                   device=device)
    shutil.rmtree(work, ignore_errors=True)
    return result_from_record(out_dir, record, reindexed, time.perf_counter() - started)


def result_from_record(out_dir: Path, record: dict[str, Any], reindexed: str | None,
                       seconds: float) -> FinetuneResult:
    """A :class:`FinetuneResult` from the record a fine-tune wrote into its model."""
    data, sparsity = record["data"], record["sparsity"]
    mining = record["mining"]["report"]
    budget = sparsity["budget"]
    before, after = sparsity["before"], sparsity["after"]
    return FinetuneResult(
        out_dir,
        ModelIdentity(record["base_model"]["name"], record["base_model"]["fingerprint"]),
        model_identity(out_dir),
        data["rule"], data["counts"], data["dev_rule"],
        MiningReport(**{**mining, "window": tuple(mining["window"])}) if mining else None,
        SparsityBudget(budget[0], budget[1]),
        (before[0], before[1]), (after[0], after[1]), sparsity["met"],
        TrainOutcome(**record["training"]),
        record["evaluation"], reindexed, seconds,
    )
