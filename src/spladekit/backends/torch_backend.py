"""The PyTorch backend: exact SPLADE pooling that never holds (batch, length, vocab) logits."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from ..errors import InvalidArgumentError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")

# Elements of one logits chunk (batch x length x vocab-slice): 8M floats = 32 MiB, which keeps
# the running max in cache-friendly pieces whatever the batch shape.
_CHUNK_ELEMENTS = 8 * 1024 * 1024
# The CPU head's blocks: about this many token rows by a vocabulary slice of ~5M logits
# (tuned on a 2-core AMD EPYC; see _head_max_numpy).
_BLOCK_ROWS = 2560
_BLOCK_ELEMENTS = 5 * 1024 * 1024


def parse_device(device: object) -> torch.device:
    """Validate ``cpu`` / ``cuda`` / ``cuda:n`` and check that the device exists."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not _DEVICE.match(device):
        raise InvalidArgumentError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidArgumentError(
                f"device {device!r} was asked for but CUDA is not available here "
                "(no GPU, or a CPU-only torch build); use device='cpu'"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise InvalidArgumentError(
                f"device {device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    return torch.device(device)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them in /proc/cpuinfo (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """Whether the CPU has native bf16 matrix instructions."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def _dtype_for(precision: str, device: torch.device) -> torch.dtype:
    if precision == "fp32":
        return torch.float32
    if precision == "bf16":
        if device.type == "cpu" and not cpu_has_bf16():
            raise InvalidArgumentError(
                "precision='bf16' on CPU needs AVX512-BF16 or AMX, which this CPU lacks (bf16 "
                "would be emulated, many times slower than fp32); use precision='fp32', or "
                "backend='onnx' with precision='int8'"
            )
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise InvalidArgumentError(
                "precision='fp16' runs on CUDA only; on CPU use 'fp32' or 'bf16' "
                "(or backend='onnx' with precision='int8')"
            )
        return torch.float16
    raise InvalidArgumentError(
        f"the torch backend supports precision 'fp32', 'bf16' or 'fp16' (CUDA), got "
        f"{precision!r}; int8 runs through backend='onnx'"
    )


class TorchBackend:
    """Runs a BERT/DistilBERT masked-LM and pools its logits chunk by chunk over the vocabulary."""

    def __init__(self, model: Any, device: str = "cpu", precision: str = "fp32") -> None:
        self.device = parse_device(device)
        self.dtype = _dtype_for(precision, self.device)
        self.model = model.to(self.device).to(self.dtype)
        self.encoder, self.transform, decoder = _split_mlm(model)
        self.weight = decoder.weight.detach()
        bias = decoder.bias
        self.bias = (
            bias.detach() if bias is not None else torch.zeros_like(self.weight[:, 0])
        ).float()
        self.vocab_size = int(self.weight.shape[0])
        self._numpy_head = self.device.type == "cpu" and self.dtype == torch.float32
        self._weight_np = self.weight.numpy() if self._numpy_head else np.empty((0, 0), np.float32)
        self._bias_np = self.bias.cpu().numpy()
        self._buffer = np.empty(0, dtype=np.float32)

    def pool(
        self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.device)
            mask = torch.from_numpy(attention_mask).to(self.device)
            hidden = self.transform(self.encoder(ids, mask))  # (B, L, H)
            # Padding positions take a copy of the [CLS] position's state: a duplicate of a real
            # position cannot change a max, so no -inf masking pass over the logits is needed.
            real = mask.bool().unsqueeze(-1)
            hidden = torch.where(real, hidden, hidden[:, :1, :])
            if self._numpy_head:
                pooled = self._head_max_numpy(hidden.numpy())
            else:
                pooled = self._head_max_torch(hidden)
            # max_t(x_t + b) == max_t(x_t) + b, and log1p(relu(.)) is monotonic: both can be
            # applied to the (B, V) maxima instead of the (B, L, V) logits.
            pooled += self._bias_np
            np.maximum(pooled, 0, out=pooled)
            return np.log1p(pooled, out=pooled)

    def _head_max_torch(self, hidden: torch.Tensor) -> NDArray[np.float32]:
        batch, length, _ = hidden.shape
        step = max(256, _CHUNK_ELEMENTS // max(1, batch * length))
        pooled = torch.empty(batch, self.vocab_size, dtype=torch.float32, device=self.device)
        for lo in range(0, self.vocab_size, step):
            logits = torch.matmul(hidden, self.weight[lo : lo + step].T)  # (B, L, step)
            pooled[:, lo : lo + step] = logits.amax(dim=1)
        return pooled.cpu().numpy()

    def _head_max_numpy(self, hidden: NDArray[np.float32]) -> NDArray[np.float32]:
        # On CPU, numpy's OpenBLAS runs this (tokens x hidden) @ (hidden x vocab) product
        # markedly faster than torch's MKL (measured ~1.6x on AMD EPYC). Blocks of a few texts
        # by a vocabulary slice keep each logits block small enough that the max pass reads it
        # from cache (~15% faster than one block over the whole batch), and blocks go into one
        # reused buffer: fresh allocations of varying size fragment the heap and inflate RSS.
        batch, length, width = hidden.shape
        flat = hidden.reshape(batch * length, width)
        texts_per_block = max(1, min(batch, _BLOCK_ROWS // length))
        rows = texts_per_block * length
        step = max(256, _BLOCK_ELEMENTS // rows)
        if self._buffer.size < rows * step:
            self._buffer = np.empty(rows * step, dtype=np.float32)
        pooled = np.empty((batch, self.vocab_size), dtype=np.float32)
        for lo in range(0, self.vocab_size, step):
            hi = min(lo + step, self.vocab_size)
            weight = self._weight_np[lo:hi].T
            for first in range(0, batch, texts_per_block):
                last = min(first + texts_per_block, batch)
                n_rows = (last - first) * length
                logits = self._buffer[: n_rows * (hi - lo)].reshape(n_rows, hi - lo)
                np.matmul(flat[first * length : last * length], weight, out=logits)
                block = logits.reshape(last - first, length, hi - lo)
                block.max(axis=1, out=pooled[first:last, lo:hi])
        return pooled

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Transform = Callable[[torch.Tensor], torch.Tensor]


def _split_mlm(model: Any) -> tuple[Forward, Transform, torch.nn.Linear]:
    """(encoder, head transform, output projection) of a BERT or DistilBERT masked-LM."""
    model_type = model.config.model_type
    if model_type == "bert":
        bert = model.bert
        predictions = model.cls.predictions

        def bert_encoder(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return bert(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state

        return bert_encoder, predictions.transform, predictions.decoder
    if model_type == "distilbert":
        distil = model.distilbert

        def distil_encoder(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return distil(input_ids=ids, attention_mask=mask, return_dict=True).last_hidden_state

        def distil_transform(hidden: torch.Tensor) -> torch.Tensor:
            return model.vocab_layer_norm(model.activation(model.vocab_transform(hidden)))

        return distil_encoder, distil_transform, model.vocab_projector
    raise InvalidArgumentError(
        f"the torch backend supports bert and distilbert, got {model_type!r}"
    )
