"""The SPLADE formula and the model split, written once.

For a text with masked-LM logits ``z[t, v]``, SPLADE's weight for vocabulary entry ``v`` is

    w[v] = max over real (non-padding) positions t of log1p(relu(z[t, v]))

:func:`reference_pool` computes exactly that from whole logits; it is the definition the fast
paths (the torch backend's blocked head, the ONNX graph) are tested against. The fast paths
share three facts, each a function here:

- :func:`split_mlm`: a masked-LM (BERT, DistilBERT, the RoBERTa family, ModernBERT) is an
  encoder, a head transform, and a (vocab, hidden) projection with a bias;
- :func:`pad_with_first_real`: padding positions take a copy of the text's first real position,
  so a plain max over positions is a masked max (a duplicate cannot change a max);
- :func:`activate`: ``max_t(x_t + b) = max_t(x_t) + b`` and ``log1p(relu(.))`` is monotonic, so
  the bias and the activation apply to the (batch, vocab) maxima, never to (batch, length,
  vocab) logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from .checkpoint.families import family_of_type
from .checkpoint.spec import DEFAULT_POOLING, PoolingSpec
from .options import Activation

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""(input_ids, attention_mask) -> hidden states (batch, length, hidden)."""

Transform = Callable[[torch.Tensor], torch.Tensor]

def apply_activation(x: torch.Tensor, activation: Activation = "relu") -> torch.Tensor:
    """``f(x)`` of :class:`PoolingSpec` on any tensor (not in place)."""
    out = torch.log1p(torch.relu(x))
    return torch.log1p(out) if activation == "log1p_relu" else out


def reference_pool(
    logits: torch.Tensor, attention_mask: torch.Tensor, spec: PoolingSpec = DEFAULT_POOLING
) -> torch.Tensor:
    """SPLADE weights (batch, vocab) from whole logits (batch, length, vocab): the definition."""
    weights = apply_activation(logits.float(), spec.activation)
    # f(x) >= 0 everywhere, so zeroing the padding positions excludes them from the max (and
    # from the sum).
    weights = weights * attention_mask.to(weights.dtype).unsqueeze(-1)
    return weights.amax(dim=1) if spec.strategy == "max" else weights.sum(dim=1)


@dataclass(frozen=True)
class MlmParts:
    """A masked-LM taken apart: logits = transform(encoder(ids, mask)) @ weight.T + bias."""

    model: Any
    encoder: Forward
    transform: Transform
    weight: torch.Tensor
    bias: torch.Tensor


def split_mlm(model: Any) -> MlmParts:
    """The parts of a masked-LM (``*ForMaskedLM`` from transformers) of a registered family,
    found where its :class:`~spladekit.checkpoint.families.BackboneFamily` says they are."""
    family = family_of_type(getattr(getattr(model, "config", None), "model_type", None))
    head = family.head
    dense = _attribute(model, head.dense)
    norm = _attribute(model, head.norm)
    activation: Transform = (
        torch.nn.functional.gelu if head.activation == "gelu"
        else _attribute(model, head.activation)
    )

    def transform(hidden: torch.Tensor) -> torch.Tensor:
        return norm(activation(dense(hidden)))

    return _parts(
        model, _hidden_states(_attribute(model, family.base)), transform,
        _attribute(model, head.decoder),
    )


def _attribute(model: Any, path: str) -> Any:
    for name in path.split("."):
        model = getattr(model, name)
    return model


def _hidden_states(base: Any) -> Forward:
    def encoder(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return base(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state

    return encoder


def _parts(model: Any, encoder: Forward, transform: Transform, decoder: Any) -> MlmParts:
    weight = decoder.weight.detach()
    bias = decoder.bias
    bias = bias.detach() if bias is not None else torch.zeros_like(weight[:, 0])
    return MlmParts(model, encoder, transform, weight, bias)


def pad_with_first_real(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Replace each padding position's state by a copy of the text's first real position.

    Works for right and left padding alike (for right padding the copy is [CLS]).
    """
    first = attention_mask.argmax(dim=1).view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
    return torch.where(attention_mask.unsqueeze(-1) > 0, hidden, torch.gather(hidden, 1, first))


def activate(
    maxima: torch.Tensor, bias: torch.Tensor, activation: Activation = "relu"
) -> torch.Tensor:
    """SPLADE weights from the per-vocabulary maxima of the head's product, adding the bias.

    Max pooling only: both activations are monotonic, so activating the maxima equals the max
    of the activated logits.
    """
    return apply_activation(maxima + bias, activation)


def activate_in_place(
    maxima: NDArray[np.float32], bias: NDArray[np.float32], activation: Activation = "relu"
) -> None:
    """:func:`activate` on a numpy array, in place, taking logarithms only where it matters.

    SPLADE vectors are sparse: ~1-3% of ``maxima + bias`` is positive. relu zeroes the rest,
    and ``log1p(0) = 0``, so the logarithm (the costly part) runs on the positive entries only.
    """
    maxima += bias
    np.maximum(maxima, 0, out=maxima)
    positive = maxima > 0
    values = np.log1p(maxima[positive])
    if activation == "log1p_relu":
        np.log1p(values, out=values)
    maxima[positive] = values


def splade_pool(
    parts: MlmParts,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    spec: PoolingSpec = DEFAULT_POOLING,
) -> torch.Tensor:
    """The whole model, pooled the reference way (whole logits): for tests and checks."""
    logits = torch.nn.functional.linear(
        parts.transform(parts.encoder(input_ids, mask)), parts.weight, parts.bias
    )
    return reference_pool(logits, mask, spec)


__all__ = [
    "Forward",
    "MlmParts",
    "Transform",
    "activate",
    "activate_in_place",
    "apply_activation",
    "pad_with_first_real",
    "reference_pool",
    "splade_pool",
    "split_mlm",
]
