"""What a checkpoint's files must satisfy, checked before (or right after) they are used.

Each failure is a :class:`~spladekit.errors.BrokenCheckpointError` naming the file, never an
"unexpected" error from deep inside a library:

- :func:`check_shapes`: a config's sizes within limits no real model reaches, checked before any
  weight is allocated (a ``vocab_size`` of 50 million would allocate tens of GB first);
- :func:`check_coverage`: the weights cover the architecture the config declares (a missing
  tensor would be filled with random values, and two loads would disagree);
- :func:`check_tokenizer`: the tokenizer's vocabulary fits the model's (a 5-token tokenizer
  beside a 30,522-row head would encode every word as ``[UNK]``);
- :func:`inside`: a path the model names stays inside the model folder once links are resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import BrokenCheckpointError

# Limits well past every published masked-LM (XLM-R: 250,002 tokens; BERT-large: hidden 1024,
# 24 layers, intermediate 4096; ModernBERT: 8,192 positions).
SHAPE_LIMITS: dict[str, int] = {
    "vocab_size": 1_000_000,
    "hidden_size": 16_384,
    "intermediate_size": 65_536,
    "num_hidden_layers": 256,
    "num_attention_heads": 256,
    "max_position_embeddings": 1_048_576,
}
# A tokenizer may be a little smaller than the head (vocabularies padded to a multiple of 8 or
# 64), never larger, and never a small fraction of it.
MIN_TOKENIZER_SHARE = 0.9


def check_shapes(config: Any, folder: Path) -> None:
    """Refuse a config whose sizes are not positive ints within :data:`SHAPE_LIMITS`."""
    for name, limit in SHAPE_LIMITS.items():
        value = getattr(config, name, None)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise BrokenCheckpointError(
                f"{str(folder / 'config.json')!r}: {name} is {value!r}, not a positive integer; "
                "the file is damaged"
            )
        if value > limit:
            raise BrokenCheckpointError(
                f"{str(folder / 'config.json')!r}: {name} is {value:,}, past spladekit's limit "
                f"of {limit:,} (no masked-LM comes near it); the file is damaged or not a "
                "SPLADE model's"
            )


def check_coverage(
    missing: Iterable[str], unexpected: Iterable[str], folder: Path, model_type: str
) -> None:
    """Refuse weights that leave part of the declared architecture uninitialised."""
    missing = sorted(missing)
    if not missing:
        return
    unexpected = sorted(unexpected)
    extra = (
        f"; the weights hold {len(unexpected)} tensors it does not use "
        f"({_first(unexpected)})" if unexpected else ""
    )
    raise BrokenCheckpointError(
        f"the weights in {str(folder)!r} do not cover the {model_type} architecture its "
        f"config.json declares: {len(missing)} tensors are missing ({_first(missing)}){extra}. "
        "They would be filled with random values; fix config.json to match the weights, or "
        "use the checkpoint as it was saved"
    )


def check_tokenizer(tokens: int, vocab_size: int, folder: Path) -> None:
    """Refuse a tokenizer whose vocabulary does not fit the model's ``vocab_size`` rows."""
    if tokens > vocab_size or tokens < MIN_TOKENIZER_SHARE * vocab_size:
        raise BrokenCheckpointError(
            f"the tokenizer in {str(folder)!r} has {tokens:,} tokens but the model has "
            f"{vocab_size:,} vocabulary rows; a tokenizer must cover the model's vocabulary "
            "(use the tokenizer files saved with the model)"
        )


def inside(root: Path, path: Path, what: str) -> Path:
    """``path`` resolved, refused unless it lies inside ``root`` (resolved too).

    A folder from the Hugging Face cache (``.../snapshots/<revision>``) holds links into the
    repository's ``blobs``: its root is the repository's cache folder.
    """
    base = root.resolve()
    if base.parent.name == "snapshots":
        base = base.parent.parent
    target = path.resolve()
    if target != base and base not in target.parents:
        raise BrokenCheckpointError(
            f"{what} {str(path)!r} leads to {str(target)!r}, outside the model folder "
            f"{str(root)!r}; a model's files must lie inside its folder"
        )
    return target


def _first(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


__all__ = [
    "MIN_TOKENIZER_SHARE",
    "SHAPE_LIMITS",
    "check_coverage",
    "check_shapes",
    "check_tokenizer",
    "inside",
]
