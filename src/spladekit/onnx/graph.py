"""The exported graph: a masked-LM wrapped with SPLADE pooling, traced, and checked against torch.

The wrapper computes (batch, vocab) weights inside the graph with :mod:`spladekit.pooling`'s
split, padding rule and activation, reading the head in vocabulary slices so that ONNX users
never see (batch, length, vocab) logits.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checkpoint.families import family_of_type
from ..checkpoint.onnx_folder import (
    INPUT_NAMES,
    OUTPUT_NAME,
)
from ..checkpoint.spec import PoolingSpec
from ..errors import InvalidArgumentError, MissingDependencyError, UnsupportedModelError, first_line
from .quantize import (
    WEIGHT_PREFIX,
    Batch,
)

if TYPE_CHECKING:
    import torch

    from ..options import Activation

# The head is split into vocabulary slices of this many rows: each slice's (batch, slice, length)
# logits are reduced before the next slice is computed, so ONNX Runtime's peak memory is an
# eighth of whole-vocabulary logits (measured: 1.3 GB -> 0.5 GB at 16 x 512 tokens), at no cost
# in speed. A slice's buffer is (tokens in the batch) x VOCAB_SLICE elements whatever the
# vocabulary: a 250k vocabulary makes more slices, not larger ones.
VOCAB_SLICE = 4096
# Tolerance of the post-export check of the fp32 graph against torch.
FP32_TOLERANCE = 1e-4



def check_pooling(pooling: PoolingSpec | None) -> PoolingSpec:
    from ..checkpoint.spec import DEFAULT_POOLING

    if pooling is None:
        return DEFAULT_POOLING
    if not isinstance(pooling, PoolingSpec):
        raise InvalidArgumentError(
            f"pooling must be a spladekit.pooling.PoolingSpec or None, got "
            f"{type(pooling).__name__}"
        )
    if pooling.strategy != "max":
        raise UnsupportedModelError(
            f"sum pooling is not supported by the ONNX export (the model pools with "
            f"{pooling.describe()}): use backend='torch' for this model"
        )
    return pooling


def max_length(config: Any) -> int:
    """The longest input the position table allows (RoBERTa's starts at padding_idx + 1)."""
    positions = int(getattr(config, "max_position_embeddings", 512) or 512)
    if family_of_type(config.model_type).positions_after_padding:
        positions -= int(config.pad_token_id) + 1
    return positions


def pooling_module(model: Any, activation: Activation = "relu") -> torch.nn.Module:
    """Wrap a masked-LM as input_ids, attention_mask -> (batch, vocab) SPLADE weights."""
    import torch

    from ..pooling import activate, pad_with_first_real, split_mlm

    try:
        parts = split_mlm(model)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(f"ONNX export: {exc}") from exc

    class SpladePooling(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # registers the parameters that the encoder closures use
            weight = parts.weight.float()
            # Untied, contiguous copies per vocabulary slice: with tied embeddings the head
            # would read a transposed view of the embedding table, which quantizers skip.
            self.slices = (weight.shape[0] + VOCAB_SLICE - 1) // VOCAB_SLICE
            for i in range(self.slices):
                part = weight[i * VOCAB_SLICE : (i + 1) * VOCAB_SLICE].clone()
                self.register_buffer(f"{WEIGHT_PREFIX}{i}", part)
            self.register_buffer("splade_head_bias", parts.bias.float().clone())

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = parts.transform(parts.encoder(input_ids, attention_mask))  # (B, L, H)
            hidden = pad_with_first_real(hidden, attention_mask)
            # (V, H) @ (B, H, L): the max then runs over the innermost axis, which ONNX
            # Runtime reduces ~2-3x faster than the middle axis of (B, L, V).
            columns = hidden.transpose(1, 2)
            maxima = [
                torch.matmul(self.get_buffer(f"{WEIGHT_PREFIX}{i}"), columns).amax(dim=2)
                for i in range(self.slices)
            ]
            bias = self.get_buffer("splade_head_bias")
            return activate(torch.cat(maxima, dim=1), bias, activation)

    return SpladePooling().eval()


def torch_export(
    module: torch.nn.Module,
    path: Path,
    opset: int,
    max_length: int,
    example: Batch,
    model_type: str,
) -> None:
    import torch

    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError as exc:
        raise MissingDependencyError(
            'ONNX export needs onnxscript: pip install "spladekit[onnx]"'
        ) from exc
    # A padded batch from the model's own tokenizer (ids within its vocabulary, its pad id).
    ids, mask = (torch.from_numpy(a) for a in example)
    batch = torch.export.Dim("batch")
    length = torch.export.Dim("length", max=max_length)
    shapes = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
    weights = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    try:
        with warnings.catch_warnings():
            # The exporter warns about its own internals, nothing the caller can act on.
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                (ids, mask),
                dynamo=True,
                dynamic_shapes=shapes,
                input_names=list(INPUT_NAMES),
                output_names=[OUTPUT_NAME],
                opset_version=opset,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many types; none is the caller's to handle
        raise UnsupportedModelError(
            f"ONNX export cannot trace this {model_type} model ({type(exc).__name__}: "
            f"{first_line(exc, 'no detail')[:300]}); use backend='torch' for it"
        ) from exc
    if program is None:  # only the legacy exporter returns None
        raise UnsupportedModelError("torch.onnx.export returned no program")
    # One self-contained file unless protobuf's 2 GB limit forces external weights.
    program.save(str(path), external_data=weights > 1_800_000_000)


def check_against_torch(
    module: torch.nn.Module,
    path: Path,
    batches: list[Batch],
    ort: Any,
) -> None:
    """Refuse an exported graph that does not reproduce torch's vectors (catches exporter bugs)."""
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for ids, mask in batches:
        with torch.inference_mode():
            want = module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        got = session.run([OUTPUT_NAME], {"input_ids": ids, "attention_mask": mask})[0]
        diff = float(np.abs(got - want).max())
        if not diff <= FP32_TOLERANCE:
            raise UnsupportedModelError(
                f"the exported ONNX graph differs from the torch model by {diff:.3g} "
                f"(tolerance {FP32_TOLERANCE}); this model cannot be exported faithfully"
            )


__all__ = ["check_against_torch", "check_pooling", "max_length", "pooling_module", "torch_export"]
