"""The collections a fine-tune uses: where negatives are mined, where models are evaluated,
where the corpus is re-indexed with the new model.

Only spladekit's stores are used, so mining reads the user's collection (a Milvus server or
Lite file) exactly as search does, and streams the corpus when it builds one: nothing holds
the corpus in memory.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from ..checkpoint.loading import resolve_model_dir
from ..checkpoint.reader import read_spec
from ..corpus import Record, open_text, read_records
from ..encoder import SpladeEncoder
from ..errors import InvalidArgumentError
from ..inference_free import build_inference_free
from ..retrieval import Retriever
from ..store.connection import DEFAULT_URI
from ..store.milvus import MilvusStore
from .data import TrainingData
from .mining import MiningReport

MINING_DB = "mining.db"
MINING_COLLECTION = "finetune_corpus"
TUNED_DB = "tuned.db"
INFERENCE_FREE_BASE = "base_inference_free"
_DONE = ".complete"
Log = Callable[[str], None]


def corpus_records(path: Path) -> Iterator[Record]:
    """The records of a BEIR ``corpus.jsonl``, streamed."""
    with open_text(str(path)) as handle:
        yield from read_records(handle, str(path), "jsonl")


def mining_store(
    base: SpladeEncoder, data: TrainingData, work: Path, uri: str | None,
    collection: str | None, token: str | None, say: Log,
) -> tuple[MilvusStore, bool]:
    """The collection to mine from and whether it has a BM25 field (hybrid mining).

    The user's ``collection`` must hold the corpus indexed with the base model (its model
    record is checked: vectors of another model would mine the wrong neighbours). Without one,
    the corpus is indexed with the base model into Milvus Lite in the work folder, resumably.
    """
    if collection is not None:
        store = MilvusStore(
            uri or DEFAULT_URI, token=token, collection=collection, create=False,
            model=base.model_identity,
        )
        say(f"mining from collection {collection!r} at {store.uri}")
        return store, store.bm25_analyzer is not None
    if data.corpus is None:
        raise InvalidArgumentError(
            "mining needs the corpus: give a BEIR folder, or --collection naming a collection "
            "that holds the corpus indexed with the base model"
        )
    store = MilvusStore(
        str(work / MINING_DB), collection=MINING_COLLECTION, model=base.model_identity,
        bm25=True,
    )
    say("indexing the corpus with the base model (Milvus Lite, in the work folder)")
    report = Retriever(base, store).index(corpus_records(data.corpus))
    say(f"indexed {report.encoded} documents ({report.skipped} already there)")
    return store, True


def eval_store(encoder: SpladeEncoder, work: Path, name: str) -> MilvusStore:
    """A Milvus Lite collection with a BM25 field in the work folder, for one model."""
    return MilvusStore(
        str(work / f"{name}.db"), collection=name, model=encoder.model_identity, bm25=True,
    )


def reindex_corpus(model_dir: Path, data: TrainingData, uri: str, name: str, token: str | None,
                   say: Log, *, device: str = "cpu") -> str:
    """Index the corpus with the fine-tuned model into a new collection ``name`` (with a BM25
    field, for hybrid search); a collection of that name holding another model is refused."""
    if data.corpus is None:
        raise InvalidArgumentError(
            "--reindex needs the corpus: give a BEIR folder with corpus.jsonl"
        )
    encoder = SpladeEncoder(model_dir, device=device)
    store = MilvusStore(uri, token=token, collection=name, model=encoder.model_identity,
                        bm25=True)
    try:
        report = Retriever(encoder, store).index(corpus_records(data.corpus))
    finally:
        store.close()
    say(f"re-indexed {report.encoded} documents into collection {name!r} at {uri}")
    return name


def inference_free_base(base_dir: Path, data: TrainingData, work: Path, say: Log) -> Path:
    """The inference-free model to start from: ``base_dir`` when it is one already, else its
    document side with the corpus IDF as the query side (built once in the work folder)."""
    if read_spec(resolve_model_dir(base_dir)).query.kind == "static":
        return base_dir
    folder = work / INFERENCE_FREE_BASE
    if (folder / _DONE).is_file():
        return folder
    if folder.exists():
        shutil.rmtree(folder)  # a build that was interrupted
    if data.corpus is not None:
        texts: Iterator[str] = (r.text for r in corpus_records(data.corpus))
    else:
        texts = iter(sorted({p.positive for p in data.train + data.dev}))
    say("building the inference-free base: the corpus IDF as the query side")
    build_inference_free(base_dir, texts, folder)
    (folder / _DONE).touch()
    return folder


def mining_summary(report: MiningReport | None, given: int = 0) -> str:
    """Mining in words; ``given``: negatives per pair the data brought itself."""
    if report is None:
        return (f"none mined; {given} per pair from the data" if given
                else "none (in-batch negatives only)")
    first, last = report.window
    return (
        f"{report.negatives_per_pair} per pair from ranks {first}-{last} ({report.mode}); "
        f"excluded {report.excluded_positives} judged positives and "
        f"{report.excluded_near_duplicates} near-duplicates; {report.from_beyond_window} taken "
        "past the window"
    )


__all__ = [
    "MINING_COLLECTION",
    "corpus_records",
    "eval_store",
    "inference_free_base",
    "mining_store",
    "mining_summary",
    "reindex_corpus",
]
