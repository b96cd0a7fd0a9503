"""A lean forward pass for masked-LMs of BERT's or DistilBERT's encoder layout, inference only.

transformers' modules spend more time in Python (mask construction, dispatch, output objects,
module attribute lookups) than a small model spends computing: on splade-tiny a one-query
forward took 1.3 ms there and 0.7 ms here. This is the same arithmetic with the model's own
weight tensors, in the same order (``scaled_dot_product_attention``, ``layer_norm``, the model's
activation), tested against transformers' forward to 1e-5. Configurations it does not cover
(relative position embeddings, decoders, a family whose ``lean`` layout is ``None`` such as
ModernBERT's rotary and local attention) keep transformers' forward: :func:`lean_parts`
returns ``None``. Which layout a backbone has is its family's ``lean`` field
(:mod:`spladekit.checkpoint.families`).

RoBERTa, XLM-RoBERTa and CamemBERT are BERT's encoder with two differences: position ids start
at ``padding_idx + 1`` and skip padding tokens (transformers derives them from ``input_ids !=
padding_idx``, done the same way here), and the head is dense -> gelu -> layer norm.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as F

from ..checkpoint.families import family_of_type
from ..pooling import Forward, Transform

Activation = Callable[[torch.Tensor], torch.Tensor]


# Set while lean_parts(..., pack=True) builds: linear layers then hold oneDNN-packed weights.
_PACKING: ContextVar[bool] = ContextVar("spladekit_lean_packing", default=False)


@dataclass(frozen=True)
class _Linear:
    weight: torch.Tensor
    bias: torch.Tensor | None
    packed: bool = False

    @classmethod
    def of(cls, module: Any) -> _Linear:
        if _PACKING.get():
            return cls(pack_weight(module.weight), module.bias, packed=True)
        return cls(module.weight, module.bias)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


def can_pack() -> bool:
    """Whether this torch build has oneDNN's packed fp32 linear (CPU builds for x86 and ARM)."""
    return bool(torch.backends.mkldnn.is_available()) and hasattr(
        torch.ops.mkldnn, "_linear_pointwise"
    )


def pack_weight(weight: torch.Tensor) -> torch.Tensor:
    """A (out, in) fp32 weight reordered into oneDNN's blocked layout, for packed linears.

    Few-token inputs (a query) are where this pays: MKL's GEMM reached ~95 GFLOP/s on a
    14 x 768 x 3072 product on 2 cores, oneDNN's JIT kernels on the packed weight ~3.5x that,
    and the head's 14 x 768 x 30522 ran 3.2x faster. fp32 all through: only the order of the
    sums differs (results within 2e-4 of F.linear on values of magnitude ~30).
    """
    packed: torch.Tensor = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None)
    return packed


@dataclass(frozen=True)
class _Norm:
    shape: tuple[int, ...]
    weight: torch.Tensor
    bias: torch.Tensor
    eps: float

    @classmethod
    def of(cls, module: Any) -> _Norm:
        return cls(tuple(module.normalized_shape), module.weight, module.bias, module.eps)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.shape, self.weight, self.bias, self.eps)


@dataclass(frozen=True)
class _Layer:
    query: _Linear
    key: _Linear
    value: _Linear
    out: _Linear
    attention_norm: _Norm
    inner: _Linear
    activation: Activation
    outer: _Linear
    output_norm: _Norm


def lean_parts(model: Any, *, pack: bool = False) -> tuple[Forward, Transform] | None:
    """A fast ``(encoder, head transform)`` pair for ``model``, or ``None``.

    ``pack``: linear layers run oneDNN's packed fp32 kernels (:func:`pack_weight`; CPU fp32
    only, where :func:`can_pack`); the model's own weight tensors are then not referenced.
    """
    token = _PACKING.set(pack)
    try:
        return _lean_parts(model)
    finally:
        _PACKING.reset(token)


def _lean_parts(model: Any) -> tuple[Forward, Transform] | None:
    config = model.config
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return None
    family = family_of_type(config.model_type)
    if family.lean is None:
        return None
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    base = _attribute(model, family.base)
    heads = int(config.num_attention_heads)
    if family.lean == "distilbert":
        encoder = _distilbert(base, heads)
    else:
        padding = int(base.embeddings.padding_idx) if family.positions_after_padding else None
        encoder = _bert(base, heads, padding)
    head = family.head
    activation = F.gelu if head.activation == "gelu" else _attribute(model, head.activation)
    return encoder, _head_transform(
        _Linear.of(_attribute(model, head.dense)), activation,
        _Norm.of(_attribute(model, head.norm)),
    )


def _attribute(model: Any, path: str) -> Any:
    for name in path.split("."):
        model = getattr(model, name)
    return model


def _head_transform(dense: _Linear, activation: Activation, norm: _Norm) -> Transform:
    def transform(hidden: torch.Tensor) -> torch.Tensor:
        return norm(activation(dense(hidden)))

    return transform


def _attention_mask(mask: torch.Tensor) -> torch.Tensor | None:
    # Keys at padding positions are hidden from every query; a batch without padding (a lone
    # query, say) needs no mask at all, which lets scaled_dot_product_attention take its
    # fastest kernel.
    if bool(mask.all()):
        return None
    return mask[:, None, None, :].bool()


def _encode(x: torch.Tensor, mask: torch.Tensor, layers: list[_Layer], heads: int) -> torch.Tensor:
    batch, length, width = x.shape
    attn_mask = _attention_mask(mask)

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.view(batch, length, heads, width // heads).transpose(1, 2)

    for layer in layers:
        context = F.scaled_dot_product_attention(
            split(layer.query(x)), split(layer.key(x)), split(layer.value(x)), attn_mask=attn_mask
        )
        merged = context.transpose(1, 2).reshape(batch, length, width)
        x = layer.attention_norm(layer.out(merged) + x)
        x = layer.output_norm(layer.outer(layer.activation(layer.inner(x))) + x)
    return x


def _bert(bert: Any, heads: int, padding_idx: int | None = None) -> Forward:
    """BERT's encoder; with ``padding_idx``, RoBERTa's (positions counted from it)."""
    emb = bert.embeddings
    words, positions = emb.word_embeddings.weight, emb.position_embeddings.weight
    token_type = emb.token_type_embeddings.weight[0]
    norm = _Norm.of(emb.LayerNorm)
    layers = [
        _Layer(
            _Linear.of(layer.attention.self.query),
            _Linear.of(layer.attention.self.key),
            _Linear.of(layer.attention.self.value),
            _Linear.of(layer.attention.output.dense),
            _Norm.of(layer.attention.output.LayerNorm),
            _Linear.of(layer.intermediate.dense),
            layer.intermediate.intermediate_act_fn,
            _Linear.of(layer.output.dense),
            _Norm.of(layer.output.LayerNorm),
        )
        for layer in bert.encoder.layer
    ]

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # transformers adds the token-type embedding first, then the positions: same order.
        if padding_idx is None:
            where = positions[: ids.shape[1]]
        else:  # RoBERTa: real tokens count from padding_idx + 1, padding sits at padding_idx
            real = ids.ne(padding_idx).int()
            where = positions[torch.cumsum(real, dim=1) * real + padding_idx]
        x = norm(words[ids] + token_type + where)
        return _encode(x, mask, layers, heads)

    return forward


def _distilbert(distil: Any, heads: int) -> Forward:
    emb = distil.embeddings
    words, positions = emb.word_embeddings.weight, emb.position_embeddings.weight
    norm = _Norm.of(emb.LayerNorm)
    layers = [
        _Layer(
            _Linear.of(layer.attention.q_lin),
            _Linear.of(layer.attention.k_lin),
            _Linear.of(layer.attention.v_lin),
            _Linear.of(layer.attention.out_lin),
            _Norm.of(layer.sa_layer_norm),
            _Linear.of(layer.ffn.lin1),
            layer.ffn.activation,
            _Linear.of(layer.ffn.lin2),
            _Norm.of(layer.output_layer_norm),
        )
        for layer in distil.transformer.layer
    ]

    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return _encode(norm(words[ids] + positions[: ids.shape[1]]), mask, layers, heads)

    return forward


__all__ = ["can_pack", "lean_parts", "pack_weight"]
