"""A hyper-parameter sweep point for fine-tuning splade-tiny on SciFact, outside the pipeline.

    .venv/bin/python bench/sweep_finetune.py lr=3e-4 ep=3 neg=2 [wd=1e-6 len=256 bs=32 win=10:50]

What ``spladekit finetune``'s defaults were chosen from: every pair of qrels/train.tsv (no dev
hold-out), ``neg`` negatives mined by SPLADE from an exact in-memory index of the corpus (ranks
``win``), sentence-transformers' trainer with ``SpladeLoss`` over
``SparseMultipleNegativesRankingLoss`` (FLOPS weight ``wd`` on both sides) through the fused
head, then test nDCG@10 with spladekit on an exact in-memory store. Mined pairs are cached in
the system's temporary folder per (neg, win). Prints one ``RESULT`` line with the CPU line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from _common import SCIFACT, SPLADE_TINY, cpu_summary

from spladekit import MemoryStore, Retriever, SpladeEncoder, evaluate, load_beir
from spladekit.finetune import MiningConfig, load_labelled
from spladekit.finetune.data import Pair
from spladekit.finetune.mining import mine_negatives


def mined_pairs(negatives: int, window: str, cache: Path) -> list[Pair]:
    if cache.is_file():
        return [Pair.from_json(o) for o in json.loads(cache.read_text())]
    data = load_labelled(SCIFACT)
    retriever = Retriever(SpladeEncoder(SPLADE_TINY), MemoryStore())
    retriever.index(load_beir(SCIFACT, "train").corpus)
    first, last = (int(x) for x in window.split(":"))
    pairs, _ = mine_negatives(
        data.train, retriever, MiningConfig(negatives=negatives, window=(first, last),
                                            mode="splade"), has_bm25=False)
    cache.write_text(json.dumps([p.to_json() for p in pairs]))
    return pairs


def main() -> None:
    from datasets import Dataset
    from sentence_transformers import SparseEncoder
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sparse_encoder import (
        SparseEncoderTrainer,
        SparseEncoderTrainingArguments,
    )
    from sentence_transformers.sparse_encoder.losses import (
        SparseMultipleNegativesRankingLoss,
        SpladeLoss,
    )

    from spladekit.finetune.fused import fused_heads

    started = time.perf_counter()
    cfg = dict(arg.split("=", 1) for arg in sys.argv[1:])
    lr, epochs = float(cfg.get("lr", 3e-4)), float(cfg.get("ep", 3))
    weight, negatives = float(cfg.get("wd", 1e-6)), int(cfg.get("neg", 1))
    length, batch = int(cfg.get("len", 256)), int(cfg.get("bs", 32))
    window = cfg.get("win", "10:50")
    print(cpu_summary(), flush=True)
    tmp = Path(tempfile.gettempdir())
    pairs = mined_pairs(negatives, window, tmp / f"sweep_mined_{negatives}_{window}.json")
    rows = {"query": [p.query for p in pairs], "positive": [p.positive for p in pairs]}
    for i in range(negatives):
        rows[f"negative_{i + 1}"] = [p.negatives[i] for p in pairs]
    model = SparseEncoder(str(SPLADE_TINY), device="cpu")
    model.max_seq_length = length
    loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model),
                      document_regularizer_weight=weight, query_regularizer_weight=weight)
    with tempfile.TemporaryDirectory() as out:
        args = SparseEncoderTrainingArguments(
            output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=batch,
            learning_rate=lr, warmup_steps=0.1, seed=12, data_seed=12, save_strategy="no",
            report_to="none", batch_sampler=BatchSamplers.NO_DUPLICATES, use_cpu=True,
            disable_tqdm=True)
        trainer = SparseEncoderTrainer(model=model, args=args, loss=loss,
                                       train_dataset=Dataset.from_dict(rows))
        with fused_heads(model):
            trainer.train()
        trained = time.perf_counter() - started
        model.max_seq_length = 512
        model.save_pretrained(f"{out}/model")
        encoder = SpladeEncoder(f"{out}/model")
        test = load_beir(SCIFACT, "test")
        report = evaluate(Retriever(encoder, MemoryStore()), test, with_bm25=False)
        docs = encoder.encode_documents([r.text for r in test.corpus[:300]])
    print("RESULT", cfg, {k: round(v, 4) for k, v in report.spladekit.items()},
          f"doc nnz {docs.nnz / 300:.1f}", f"train {trained:.0f} s",
          f"total {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
