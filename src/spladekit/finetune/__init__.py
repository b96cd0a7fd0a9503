"""Fine-tuning: make a SPLADE model better on the user's own corpus (``spladekit finetune``).

- :mod:`.data`: training pairs from a BEIR folder's train qrels or a JSONL of pairs, checked;
- :mod:`.selfsup`: pairs made from the corpus when there are no labels;
- :mod:`.mining`: hard negatives mined through spladekit's stores;
- :mod:`.budget`: the sparsity budget and the regulariser's controller;
- :mod:`.settings`: hyper-parameters and outcome as plain data;
- :mod:`.training`: the run on sentence-transformers' trainer (the ``train`` extra);
- :mod:`.fused`: the fused masked-LM head and max pooling training goes through;
- :mod:`.stores`: the collections mined from, evaluated in, re-indexed into;
- :mod:`.card`: the model card and record; :mod:`.job`: :func:`finetune`, the whole step.

Names resolve lazily: importing this package loads neither torch nor sentence-transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

_LAZY = {
    "TRAIN_INSTALL": "job",
    "FinetuneResult": "job",
    "finetune": "job",
    "MiningConfig": "mining",
    "MiningReport": "mining",
    "Pair": "data",
    "TrainingData": "data",
    "load_labelled": "data",
    "SparsityBudget": "budget",
    "TrainConfig": "settings",
    "TrainOutcome": "settings",
    "self_supervised": "selfsup",
}

__all__ = [
    "TRAIN_INSTALL",
    "FinetuneResult",
    "MiningConfig",
    "MiningReport",
    "Pair",
    "SparsityBudget",
    "TrainConfig",
    "TrainOutcome",
    "TrainingData",
    "finetune",
    "load_labelled",
    "self_supervised",
]

if TYPE_CHECKING:
    from .budget import SparsityBudget
    from .data import Pair, TrainingData, load_labelled
    from .job import TRAIN_INSTALL, FinetuneResult, finetune
    from .mining import MiningConfig, MiningReport
    from .selfsup import self_supervised
    from .settings import TrainConfig, TrainOutcome


__getattr__ = lazy_getattr(__name__, _LAZY, globals())
