"""A fine-tune's settings and outcome, as plain data (no sentence-transformers import)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

STATE_FILE = "spladekit_state.json"
"""Written last into each checkpoint: a checkpoint without it is incomplete."""
CHECKPOINTS = "checkpoints"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a fine-tune (what the model card records)."""

    epochs: int | None = None
    """None: 3 with labels, 1 for self-supervised pairs (:func:`default_schedule`)."""
    batch_size: int = 32
    learning_rate: float | None = None
    """None: :func:`default_learning_rate` of the base model's width."""
    warmup_ratio: float = 0.1
    seed: int = 12
    max_length: int = 256
    # Starting FLOPS weights: small, since fine-tuning starts from a model that is already
    # sparse; the budget controller doubles them while the model is over its budget.
    document_regularizer: float = 1e-6
    query_regularizer: float = 1e-6
    patience: int = 1
    checks_per_epoch: int = 2
    device: str = "cpu"
    inference_free: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Learning rates by the base model's hidden size: small models (BERT-tiny's 128, mini's 256)
# learn fast at 3e-4 (splade-tiny on SciFact: 0.666 nDCG@10 at 5e-5, 0.683 at 1e-4, 0.698 at
# 3e-4 after 3 epochs); BERT-base-size models at the usual 2e-5.
SMALL_MODEL_HIDDEN = 256
SMALL_MODEL_LEARNING_RATE = 3e-4
LEARNING_RATE = 2e-5


LABELLED_EPOCHS = 3
# Pairs made from the corpus are an easy, noisy task (a title finds its own body: dev nDCG@10
# 0.94 after one epoch on SciFact): a short, gentle step adapts the model to the corpus's
# words without unlearning what made it rank well (3 epochs at the labelled rate took
# splade-tiny on SciFact from 0.647 to 0.603).
SELF_SUPERVISED_EPOCHS = 1
SELF_SUPERVISED_RATE_FACTOR = 0.1


def default_schedule(config: TrainConfig, model_folder: Path, self_supervised: bool) -> TrainConfig:
    """``config`` with its epochs and learning rate filled in where the user left them out."""
    rate = default_learning_rate(model_folder)
    if self_supervised:
        rate *= SELF_SUPERVISED_RATE_FACTOR
    return replace(
        config,
        epochs=config.epochs or (SELF_SUPERVISED_EPOCHS if self_supervised else LABELLED_EPOCHS),
        learning_rate=config.learning_rate or rate,
    )


def default_learning_rate(model_folder: Path) -> float:
    """The learning rate for a base model whose masked-LM is in ``model_folder``."""
    try:
        config = json.loads((model_folder / "config.json").read_text())
    except (OSError, ValueError):
        return LEARNING_RATE
    width = next((config[k] for k in ("hidden_size", "dim", "d_model") if k in config), None)
    if isinstance(width, int) and width <= SMALL_MODEL_HIDDEN:
        return SMALL_MODEL_LEARNING_RATE
    return LEARNING_RATE


@dataclass(frozen=True)
class TrainOutcome:
    """What training did: steps and epochs run, whether it resumed or stopped early, the best
    checkpoint, the controller's final state, each epoch's dev figures, the precision, and the
    ranking loss on a fixed sample of training pairs before and after."""

    steps: int
    epochs_run: float
    resumed_from: str | None
    best_checkpoint: str | None
    stopped_early: bool
    controller: dict[str, Any]
    history: list[dict[str, float]]
    precision: str
    fused_routes: int
    """Masked-LM routes trained through the fused head (:mod:`spladekit.finetune.fused`)."""
    loss_before: float
    """The ranking loss on a fixed sample of training pairs, before training."""
    loss_after: float


@dataclass(frozen=True)
class Probe:
    """Fixed texts the budget is measured on (the base model's figures are the default
    budget)."""

    documents: tuple[str, ...]
    queries: tuple[str, ...]
    max_length: int = 512


def write_json(path: Path, data: object) -> None:
    """Write JSON atomically: a temporary file beside it, renamed over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


__all__ = [
    "CHECKPOINTS",
    "LABELLED_EPOCHS",
    "SELF_SUPERVISED_EPOCHS",
    "STATE_FILE",
    "Probe",
    "TrainConfig",
    "TrainOutcome",
    "default_learning_rate",
    "default_schedule",
    "write_json",
]
