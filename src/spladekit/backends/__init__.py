"""Backends turn padded token batches into pooled SPLADE weights, one (batch, vocab) row per text.

A backend is chosen by exact name; ``BACKENDS`` lists the valid ones.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

BACKENDS = ("torch", "onnx")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")


class Backend(Protocol):
    """What the encoder needs from a backend."""

    vocab_size: int

    def pool(
        self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        """Weights ``max_t log1p(relu(logits[t]))`` over real tokens, (batch, vocab) float32."""
        ...


__all__ = ["BACKENDS", "PRECISIONS", "Backend"]
