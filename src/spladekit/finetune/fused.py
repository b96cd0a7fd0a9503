"""A fused masked-LM head and SPLADE max pooling for training: same values, a fraction of the work.

sentence-transformers computes the (batch, length, vocabulary) logits, activates them and
max-pools them, and autograd keeps gigabytes of those tensors for the backward pass (32
documents of 256 tokens: 1 GB per copy with BERT's 30,522 words), which is most of a training
step's time on a CPU. Since ``log1p(relu(.))`` is monotonic, the max can come first (as
spladekit's encoder does); and the max's gradient reaches one position per (text, word), and
only where the word is active (the relu passes it), which is a few hundred per text. So:

- forward: the head's logits a block of positions at a time, keeping a running max and the
  position it came from (never the whole tensor);
- backward: for each active (text, word), the gradient goes to the hidden state at its argmax
  position (times the word's head row) and to the word's head row (times that hidden state).

Values equal sentence-transformers' up to float rounding, and so do gradients (a tie between
two positions' positive logits has measure zero). :func:`fused_heads` swaps the head in while
training and puts the original modules back before anything is saved, so the model folder is
sentence-transformers' own. A route that does not fit (sum pooling, an output layer that is
not a plain ``Linear``) keeps sentence-transformers' path.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

# Positions whose logits exist at once: 32 texts x 32 positions x 30,522 words = 125 MB.
BLOCK = 32


class _MaxHead(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
        mask: torch.Tensor,
    ) -> torch.Tensor:
        batch, length, width = hidden.shape
        words = weight.shape[0]
        # (vocabulary, text, position) blocks: the max runs over the innermost, contiguous axis,
        # which is where a CPU reduces fastest.
        best = hidden.new_full((words, batch), float("-inf"))
        where = torch.zeros(best.shape, dtype=torch.long, device=hidden.device)
        for start in range(0, length, BLOCK):
            block = hidden[:, start:start + BLOCK]
            size = block.shape[1]
            logits = torch.addmm(bias[:, None], weight, block.reshape(-1, width).t())
            logits = logits.view(words, batch, size)
            valid = mask[:, start:start + BLOCK]
            if not bool(valid.all()):
                logits.masked_fill_(~valid, float("-inf"))
            value, index = logits.max(dim=2)
            better = value > best
            best = torch.where(better, value, best)
            where = torch.where(better, index + start, where)
        best, where = best.t(), where.t()
        ctx.save_for_backward(hidden, weight, where)
        return best

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, ...]:
        hidden, weight, where = ctx.saved_tensors
        rows, words = grad.nonzero(as_tuple=True)
        values = grad[rows, words].unsqueeze(1)
        positions = where[rows, words]
        grad_hidden = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_hidden = torch.zeros_like(hidden)
            grad_hidden.index_put_((rows, positions), values * weight[words], accumulate=True)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.zeros_like(weight)
            grad_weight.index_add_(0, words, values * hidden[rows, positions])
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=0)
        return grad_hidden, grad_weight, grad_bias, None


def max_head(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
             mask: torch.Tensor) -> torch.Tensor:
    """max over unmasked positions of ``hidden @ weight.T + bias``: (batch, vocabulary)."""
    if bias is None:
        bias = hidden.new_zeros(weight.shape[0])
    result: torch.Tensor = _MaxHead.apply(hidden, weight, bias, mask.bool())
    return result


def _pool(output: nn.Linear, activation: str) -> Any:
    """A SPLADE max pooling ``forward`` over the fused head's output."""

    def forward(features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hidden = features["token_embeddings"]
        if "cu_seq_lens_q" in features:
            # Unpadded (flash attention): one flat sequence of every text's positions.
            bounds = features["cu_seq_lens_q"].tolist()
            flat = hidden.squeeze(0)
            pooled = torch.cat([
                max_head(flat[None, start:end], output.weight, output.bias,
                         flat.new_ones((1, end - start), dtype=torch.bool))
                for start, end in itertools.pairwise(bounds)
            ])
        else:
            pooled = max_head(hidden, output.weight, output.bias, features["attention_mask"])
        scores = torch.log1p(torch.relu(pooled))
        if activation == "log1p_relu":
            scores = torch.log1p(scores)
        features["sentence_embedding"] = scores
        return features

    return forward


def _passthrough(hidden: torch.Tensor) -> torch.Tensor:
    return hidden


def _routes(model: nn.Module) -> Iterator[tuple[nn.Module, nn.Module]]:
    """(transformer, pooling) of each masked-LM route followed by SPLADE max pooling."""
    for container in model.modules():  # the model itself first
        children = list(container.children())
        for transformer, pooling in itertools.pairwise(children):
            if (type(transformer).__name__ == "Transformer"
                    and getattr(transformer, "transformer_task", None) == "fill-mask"
                    and type(pooling).__name__ == "SpladePooling"
                    and getattr(pooling, "pooling_strategy", None) == "max"):
                yield transformer, pooling


@contextmanager
def fused_heads(model: nn.Module) -> Iterator[int]:
    """Train ``model`` with the fused head on every route that fits; yields how many did.

    Only the modules' ``forward`` is replaced, per instance: the module tree, the parameters
    and their order, and so checkpoints and the saved folder, are sentence-transformers' own.
    The original ``forward`` is back when the block ends, whatever happens in it.
    """
    patched: list[nn.Module] = []
    try:
        for transformer, pooling in list(_routes(model)):
            hf: Any = transformer.auto_model
            output = hf.get_output_embeddings()
            if not isinstance(output, nn.Linear):
                continue
            patch: Any = output  # an instance attribute shadows the class's forward
            patch.forward = _passthrough
            patch = pooling
            patch.forward = _pool(output, getattr(pooling, "activation_function", "relu"))
            patched += [output, pooling]
        yield len(patched) // 2
    finally:
        for module in patched:
            del module.forward


__all__ = ["BLOCK", "fused_heads", "max_head"]
