"""The training run itself, on sentence-transformers' trainer and losses (the ``train`` extra).

This module imports sentence-transformers, datasets and accelerate at its top: it is imported
only by :func:`spladekit.finetune.job.finetune` after checking they are installed. spladekit
writes what is around the trainer (data, budget, checkpoints, resume); the loop is theirs:
``SpladeLoss`` over ``SparseMultipleNegativesRankingLoss`` (in-batch and mined negatives) with
FLOPS regularisers, ``SparseEncoderTrainer`` with a checkpoint per epoch, and early stopping on
the dev split.

Resuming: every checkpoint is complete only once ``spladekit_state.json`` is written in it,
after the trainer's own files; a later run with the same command removes incomplete ones and
continues from the last complete one, with the optimizer, scheduler, RNG and controller states
it saved, so it ends with the weights an uninterrupted run makes (on CPU).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import transformers
from datasets import Dataset
from sentence_transformers import SparseEncoder
from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sparse_encoder import (
    SparseEncoderTrainer,
    SparseEncoderTrainingArguments,
)
from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import (
    SpladeRegularizerWeightSchedulerCallback,
)
from sentence_transformers.sparse_encoder.losses import (
    SparseMultipleNegativesRankingLoss,
    SpladeLoss,
)
from transformers import EarlyStoppingCallback, TrainerCallback
from transformers.trainer_callback import PrinterCallback

from ..errors import InvalidArgumentError
from ..evaluation import ranking_metrics
from .budget import ControllerState, SparsityBudget, adjust, dev_score
from .data import Pair
from .fused import fused_heads
from .settings import (
    CHECKPOINTS,
    LABELLED_EPOCHS,
    STATE_FILE,
    Probe,
    TrainConfig,
    TrainOutcome,
    default_learning_rate,
    write_json,
)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_EVAL_NAME = "dev"
# Training pairs whose ranking loss is reported before and after.
LOSS_SAMPLE = 64


def text_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _columns(pairs: Sequence[Pair]) -> Dataset:
    """anchor, positive, negative_1..n columns (the loss reads them in this order)."""
    n = min((len(p.negatives) for p in pairs), default=0)
    rows: dict[str, list[str]] = {"query": [p.query for p in pairs],
                                  "positive": [p.positive for p in pairs]}
    for i in range(n):
        rows[f"negative_{i + 1}"] = [p.negatives[i] for p in pairs]
    return Dataset.from_dict(rows)


def _encode(model: SparseEncoder, texts: list[str], side: str) -> torch.Tensor:
    """Dense vectors of ``texts`` as the query or the document side."""
    encode = model.encode_query if side == "query" else model.encode_document
    vectors: torch.Tensor = encode(texts, batch_size=32, convert_to_tensor=True,
                                   convert_to_sparse_tensor=False, show_progress_bar=False)
    return vectors


@contextmanager
def evaluating(model: SparseEncoder, max_length: int | None = None) -> Iterator[None]:
    """``model`` in eval mode without gradient (at ``max_length`` tokens when given), put back
    as it was afterwards: what every measurement during training needs."""
    was_training = model.training
    trained_length = model.max_seq_length
    model.eval()
    if max_length is not None:
        model.max_seq_length = max_length
    try:
        with torch.no_grad():
            yield
    finally:
        model.max_seq_length = trained_length
        model.train(was_training)


def mean_nnz(model: SparseEncoder, texts: Sequence[str], side: str, max_length: int) -> float:
    """Mean non-zeros per text of the model's vectors at ``max_length`` tokens (the length the
    budget was measured at)."""
    if not texts:
        return 0.0
    with evaluating(model, max_length):
        vectors = _encode(model, list(texts), side)
    return float((vectors > 0).sum(dim=1).float().mean())


def ranking_loss(loss: SpladeLoss, pairs: Sequence[Pair], max_length: int) -> float:
    """The ranking loss (in-batch and mined negatives, no regulariser) on ``pairs`` as one
    batch: the same figure before and after training shows what was learnt."""
    if not pairs:
        return 0.0
    n = min(len(p.negatives) for p in pairs)
    columns = [[p.query for p in pairs], [p.positive for p in pairs]]
    columns += [[p.negatives[i] for p in pairs] for i in range(n)]
    with evaluating(loss.model, max_length):
        embeddings = [
            _encode(loss.model, texts, "query" if i == 0 else "document")
            for i, texts in enumerate(columns)
        ]
        ranking: Any = loss.loss  # typed as a plain Module by sentence-transformers
        return float(ranking.compute_loss_from_embeddings(embeddings, None))


def measure(probe: Probe, model: SparseEncoder, query_side: bool) -> tuple[float, float | None]:
    """Mean non-zeros (document, query) of ``model`` on the probe (query None when the query
    side is not trained)."""
    document = mean_nnz(model, probe.documents, "document", probe.max_length)
    query = mean_nnz(model, probe.queries, "query", probe.max_length) if query_side else None
    return document, query


class BudgetController(SpladeRegularizerWeightSchedulerCallback):
    """sentence-transformers' warm-up schedule of the regulariser weights, times multipliers
    that double while the model is over its sparsity budget (checked every ``every`` steps)."""

    def __init__(self, loss: SpladeLoss, budget: SparsityBudget, probe: Probe, every: int,
                 state: ControllerState, query_side: bool) -> None:
        super().__init__(loss)
        self.budget = budget
        self.probe = probe
        self.every = max(1, every)
        self.controller = state
        self.query_side = query_side

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        super().on_step_begin(args, state, control, **kwargs)
        if self._current_document_regularizer_weight is not None:
            self.loss.document_regularizer_weight = (
                self._current_document_regularizer_weight * self.controller.document_multiplier
            )
        if self._current_query_regularizer_weight is not None:
            self.loss.query_regularizer_weight = (
                self._current_query_regularizer_weight * self.controller.query_multiplier
            )

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.every:
            return
        document, query = measure(self.probe, self.loss.model, self.query_side)
        self.controller = adjust(self.controller, self.budget, document, query)

    def on_log(self, args: Any, state: Any, control: Any, model: Any = None,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs is not None:
            logs["document_regularizer_weight"] = float(self.loss.document_regularizer_weight)
            if self.controller.last_document_nnz is not None:
                logs["document_nnz"] = self.controller.last_document_nnz

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # Written last: a checkpoint folder without it is incomplete and is not resumed from.
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        write_json(folder / STATE_FILE, {"controller": self.controller.to_dict()})


class DevEvaluator(BaseEvaluator):
    """nDCG@10 of the dev queries over their positives, mined negatives and other documents,
    penalised when the model is over its sparsity budget on the probe (``score``)."""

    def __init__(self, dev: Sequence[Pair], distractors: Sequence[str], budget: SparsityBudget,
                 probe: Probe, query_side: bool) -> None:
        super().__init__()
        corpus: dict[str, str] = {}
        self.qrels: dict[str, dict[str, int]] = {}
        self.queries: dict[str, str] = {}
        for pair in dev:
            qid = text_id(pair.query)
            self.queries[qid] = pair.query
            for text in (pair.positive, *pair.negatives):
                corpus[text_id(text)] = text
            self.qrels.setdefault(qid, {})[text_id(pair.positive)] = 1
        for text in distractors:
            corpus.setdefault(text_id(text), text)
        self.corpus_ids = list(corpus)
        self.corpus_texts = [corpus[i] for i in self.corpus_ids]
        self.budget = budget
        self.probe = probe
        self.query_side = query_side
        self.primary_metric = "score"

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1,
                 steps: int = -1) -> dict[str, float]:
        qids = list(self.queries)
        with evaluating(model):
            q = _encode(model, [self.queries[i] for i in qids], "query")
            d = _encode(model, self.corpus_texts, "document")
            top = torch.topk(q @ d.T, k=min(100, len(self.corpus_ids)), dim=1).indices
        ranking = {qid: [self.corpus_ids[j] for j in top[i].tolist()] for i, qid in enumerate(qids)}
        ndcg = ranking_metrics(ranking, self.qrels)["nDCG@10"]
        document, query = measure(self.probe, model, self.query_side)
        metrics = {"ndcg@10": ndcg, "document_nnz": document,
                   "score": dev_score(ndcg, self.budget, document, query)}
        if query is not None:
            metrics["query_nnz"] = query
        return self.prefix_name_to_metrics(metrics, _EVAL_NAME)


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint whose state file was written; incomplete ones are removed."""
    if not folder.is_dir():
        return None
    found = sorted(
        (int(m.group(1)), child) for child in folder.iterdir()
        if child.is_dir() and (m := _CHECKPOINT.match(child.name))
    )
    for _, child in reversed(found):
        if (child / STATE_FILE).is_file() and (child / "trainer_state.json").is_file():
            return child
        shutil.rmtree(child)  # killed while it was being written
    return None


def load_model(model_dir: Path, config: TrainConfig) -> SparseEncoder:
    model = SparseEncoder(str(model_dir), device=config.device)
    model.max_seq_length = config.max_length
    if config.inference_free:
        # The query side is the corpus IDF table: frozen, as the issue and OpenSearch's
        # doc-only models have it; only the document side learns.
        for name, parameter in model.named_parameters():
            if "SparseStaticEmbedding" in type(_owner(model, name)).__name__:
                parameter.requires_grad = False
    return model


def _owner(model: torch.nn.Module, parameter_name: str) -> torch.nn.Module:
    module = model
    for part in parameter_name.split(".")[:-1]:
        module = getattr(module, part)
    return module


def _warmup(ratio: float) -> dict[str, Any]:
    """The warm-up as a ratio of the steps: ``warmup_steps`` below 1 in transformers 5 (which
    deprecates ``warmup_ratio``), ``warmup_ratio`` before."""
    major = int(transformers.__version__.split(".")[0])
    return {"warmup_steps": ratio} if major >= 5 else {"warmup_ratio": ratio}


def precision_for(device: str) -> str:
    """bf16 on a CUDA device that has it, fp16 on one that does not, fp32 on the CPU (exact
    and repeatable)."""
    if not device.startswith("cuda"):
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def train(
    model_dir: Path,
    train_pairs: Sequence[Pair],
    dev_pairs: Sequence[Pair],
    distractors: Sequence[str],
    budget: SparsityBudget,
    probe: Probe,
    config: TrainConfig,
    work_dir: Path,
    out_dir: Path,
    *,
    show_progress: bool,
) -> TrainOutcome:
    """Train from ``model_dir`` (resuming from ``work_dir/checkpoints`` when a complete
    checkpoint is there) and save the best model to ``out_dir``."""
    if not train_pairs:
        raise InvalidArgumentError("no training pairs: the data gave none to learn from")
    torch.manual_seed(config.seed)
    model = load_model(model_dir, config)
    query_side = not config.inference_free
    loss = SpladeLoss(
        model, SparseMultipleNegativesRankingLoss(model),
        document_regularizer_weight=config.document_regularizer,
        query_regularizer_weight=config.query_regularizer if query_side else None,
    )
    checkpoints = work_dir / CHECKPOINTS
    resume = last_complete_checkpoint(checkpoints)
    state = ControllerState()
    if resume is not None:
        saved = json.loads((resume / STATE_FILE).read_text())
        state = ControllerState.from_dict(saved["controller"])
    dataset = _columns(train_pairs)
    # A fixed sample of training pairs whose loss is measured before and after.
    sample = list(train_pairs[:: max(1, len(train_pairs) // LOSS_SAMPLE)][:LOSS_SAMPLE])
    loss_before = ranking_loss(loss, sample, config.max_length)
    steps_per_epoch = max(1, -(-len(dataset) // config.batch_size))
    controller = BudgetController(loss, budget, probe, steps_per_epoch // config.checks_per_epoch,
                                  state, query_side)
    precision = precision_for(config.device)
    has_dev = bool(dev_pairs)
    args = SparseEncoderTrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=config.epochs or LABELLED_EPOCHS,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        learning_rate=config.learning_rate or default_learning_rate(model_dir),
        **_warmup(config.warmup_ratio),
        seed=config.seed,
        data_seed=config.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        eval_strategy="epoch" if has_dev else "no",
        save_strategy="epoch",
        load_best_model_at_end=has_dev,
        metric_for_best_model=f"eval_{_EVAL_NAME}_score" if has_dev else None,
        greater_is_better=True,
        save_total_limit=2 if has_dev else 1,
        logging_steps=max(1, steps_per_epoch // config.checks_per_epoch),
        report_to="none",
        disable_tqdm=not show_progress,
        use_cpu=config.device == "cpu",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        restore_callback_states_from_checkpoint=True,
        # A Router (inference-free) model: the first column is a query, the rest documents.
        router_mapping=(
            {name: ("query" if i == 0 else "document")
             for i, name in enumerate(dataset.column_names)}
            if config.inference_free else None
        ),
        dataloader_num_workers=0,
    )
    callbacks: list[TrainerCallback] = [controller]
    if has_dev:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    evaluator = (
        DevEvaluator(dev_pairs, distractors, budget, probe, query_side) if has_dev else None
    )
    trainer = SparseEncoderTrainer(
        model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator,
        eval_dataset=None, callbacks=callbacks,
    )
    if not show_progress:
        trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout
    with fused_heads(model) as fused:
        result = trainer.train(
            resume_from_checkpoint=str(resume) if resume is not None else None
        )
    # Trained on shorter inputs for speed; saved to read documents as long as the base did.
    loss_after = ranking_loss(loss, sample, config.max_length)
    model.max_seq_length = probe.max_length
    model.save_pretrained(str(out_dir))
    history = [
        {k: float(v) for k, v in entry.items() if isinstance(v, (int, float))}
        for entry in trainer.state.log_history if f"eval_{_EVAL_NAME}_score" in entry
    ]
    epochs_run = float(trainer.state.epoch or 0.0)
    return TrainOutcome(
        steps=int(result.global_step),
        epochs_run=epochs_run,
        resumed_from=resume.name if resume is not None else None,
        best_checkpoint=(Path(trainer.state.best_model_checkpoint).name
                         if trainer.state.best_model_checkpoint else None),
        stopped_early=has_dev and epochs_run + 1e-9 < (config.epochs or LABELLED_EPOCHS),
        controller=controller.controller.to_dict(),
        history=history,
        precision=precision,
        fused_routes=fused,
        loss_before=loss_before,
        loss_after=loss_after,
    )


__all__ = [
    "BudgetController",
    "DevEvaluator",
    "evaluating",
    "last_complete_checkpoint",
    "mean_nnz",
    "measure",
    "precision_for",
    "ranking_loss",
    "text_id",
    "train",
]
