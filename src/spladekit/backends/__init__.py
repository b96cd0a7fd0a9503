"""Backends turn padded token batches into pooled SPLADE weights, one (batch, vocab) row per text.

A backend is chosen by exact name (:data:`~spladekit.options.BACKENDS`); :func:`make_backend`
builds one. Every backend is safe to call from several threads at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from ..errors import InvalidArgumentError, UnsupportedModelError
from ..layout import DEFAULT_POOLING, PoolingSpec
from ..options import BACKENDS


class Backend(Protocol):
    """What the encoder needs from a backend."""

    vocab_size: int

    def pool(
        self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        """Weights ``max_t log1p(relu(logits[t]))`` over real tokens, (batch, vocab) float32."""
        ...


def make_backend(
    name: str,
    folder: Path,
    *,
    device: str,
    precision: str,
    model_kwargs: dict[str, Any],
    pooling: PoolingSpec = DEFAULT_POOLING,
) -> Backend:
    """Build the backend called ``name`` for the masked-LM in ``folder``, pooled as ``pooling``."""
    if name == "torch":
        from ..models import load_masked_lm
        from .torch_backend import TorchBackend

        return TorchBackend(load_masked_lm(folder, **model_kwargs), device, precision, pooling)
    if name == "onnx":
        from .onnx_backend import OnnxBackend

        if pooling.strategy != "max":
            raise UnsupportedModelError(
                f"this model pools with {pooling.describe()}; the onnx backend runs max "
                "pooling only: use backend='torch'"
            )

        if model_kwargs:
            raise InvalidArgumentError(
                f"backend='onnx' takes no model loading arguments, got {sorted(model_kwargs)}; "
                "export the model with the options you need (spladekit.export_onnx)"
            )
        return OnnxBackend(folder, device=device, precision=precision, pooling=pooling)
    raise InvalidArgumentError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")


__all__ = ["Backend", "make_backend"]
