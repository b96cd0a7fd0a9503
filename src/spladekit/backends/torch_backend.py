"""The PyTorch backend: exact SPLADE pooling that never holds (batch, length, vocab) logits.

Thread safety: a backend holds only read-only tensors. The scratch buffer for logits blocks is
per thread (:data:`_WORKSPACE`), so any number of threads may call :meth:`TorchBackend.pool` on
one backend at once and each gets the vectors it would get alone.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from ..checkpoint.spec import DEFAULT_POOLING, PoolingSpec
from ..errors import InvalidArgumentError
from ..options import check_device, cuda_index
from ..pooling import (
    activate,
    activate_in_place,
    pad_with_first_real,
    split_mlm,
)
from .cpu import cpu_has_bf16
from .lean import can_pack, lean_parts, pack_weight

# Elements of one logits block (token rows x vocabulary slice): 5M floats = 20 MiB, small
# enough for the max pass to read it from cache-friendly pieces, large enough for the product
# to run at full speed.
_BLOCK_ELEMENTS = 5 * 1024 * 1024
_BLOCK_ROWS = 2560
# The packed head: vocabulary slices of 4,096 rows, blocks of at most 1,024 token rows.
_HEAD_SLICE = 4096
_PACKED_ROWS = 1024
# Models at least this wide pack by default (pack=None).
_PACK_MIN_HIDDEN = 512
# Chunks of logits off the CPU fp32 path (texts x length x vocab slice), reduced as they are
# computed: at most this many elements, whatever the batch, the length or the vocabulary
# (30,522 for BERT, 50k-250k for the RoBERTa family and ModernBERT). A slice is at least
# _MIN_SLICE entries wide; past that, fewer texts go into each chunk.
_CHUNK_ELEMENTS = 8 * 1024 * 1024
_MIN_SLICE = 256
# On a GPU the chunks are larger (256M elements: 512 MiB of fp16 logits): a few big products
# keep the card busy where many thin ones would leave it waiting on launches.
_CUDA_CHUNK_ELEMENTS = 256 * 1024 * 1024
# Batch shape on a GPU, replacing the CPU defaults (32 texts, 8,192 tokens) when those are
# left unchanged: BERT-base at 65,536 tokens needs ~3 GiB of activations in fp16.
CUDA_TOKENS_PER_BATCH = 65536
CUDA_TEXTS_PER_BATCH = 512

_WORKSPACE = threading.local()


def _scratch(size: int) -> torch.Tensor:
    """This thread's reusable float32 scratch buffer, at least ``size`` elements.

    Reused rather than allocated per block: fresh blocks of varying sizes fragment the heap
    and inflate peak RSS, and mapping new pages costs time a single query would feel.
    """
    buffer: torch.Tensor | None = getattr(_WORKSPACE, "buffer", None)
    if buffer is None or buffer.numel() < size:
        buffer = torch.empty(size, dtype=torch.float32)
        _WORKSPACE.buffer = buffer
    return buffer


def parse_device(device: object) -> torch.device:
    """Validate ``cpu`` / ``cuda`` / ``cuda:n`` and check that the device exists."""
    if isinstance(device, torch.device):
        device = str(device)
    device = check_device(device)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidArgumentError(
                f"device {device!r} was asked for but CUDA is not available here "
                "(no GPU, or a CPU-only torch build); use device='cpu'"
            )
        index = cuda_index(device)
        if index >= torch.cuda.device_count():
            raise InvalidArgumentError(
                f"device {device!r} does not exist: this machine has "
                f"{torch.cuda.device_count()} CUDA device(s)"
            )
    return torch.device(device)


def dtype_for(precision: str, device: torch.device) -> torch.dtype:
    """The torch dtype for a precision on a device, or a clear refusal."""
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
    """Runs a masked-LM and pools its logits block by block, as its :class:`PoolingSpec` says."""

    def __init__(
        self,
        model: Any,
        device: str = "cpu",
        precision: str = "fp32",
        pooling: PoolingSpec = DEFAULT_POOLING,
        *,
        pack: bool | None = None,
    ) -> None:
        self.pooling = pooling
        self.device = parse_device(device)
        self.dtype = dtype_for(precision, self.device)
        model = model.to(self.device).to(self.dtype)
        parts = split_mlm(model)
        self._cpu_fp32 = self.device.type == "cpu" and self.dtype == torch.float32
        # CPU fp32: oneDNN's packed kernels for every linear layer and the head (see
        # lean.pack_weight: ~3.5x MKL's speed on a query's few tokens).
        if pack is None:  # measured on BERT-base's 768-wide products; small models' products
            # fit in cache, where MKL did well (splade-tiny's throughput was not helped)
            pack = int(getattr(model.config, "hidden_size", 0) or 0) >= _PACK_MIN_HIDDEN
        packing = self._cpu_fp32 and can_pack() and pack
        self.encoder, self.transform = lean_parts(model, pack=packing) or (
            parts.encoder, parts.transform
        )
        self.bias = parts.bias.float().cpu().numpy()
        # The device paths' copy (pool_sparse, sum pooling), made once rather than per batch;
        # on the CPU it shares the array's memory.
        self._bias_device = torch.from_numpy(self.bias).to(self.device)
        self.vocab_size = int(parts.weight.shape[0])
        self._head_slices: list[tuple[int, int, torch.Tensor]] = []
        if packing:
            self._head_slices = [
                (lo, min(lo + _HEAD_SLICE, self.vocab_size),
                 pack_weight(parts.weight[lo : lo + _HEAD_SLICE].contiguous()))
                for lo in range(0, self.vocab_size, _HEAD_SLICE)
            ]
        # On a GPU pooling, activation and pruning stay on the device and only the non-zeros
        # come back (pool_sparse); the route asks for that when this is True.
        self.sparse_on_device = self.device.type == "cuda"
        self.tokens_per_batch = CUDA_TOKENS_PER_BATCH if self.device.type == "cuda" else None
        self.texts_per_batch = CUDA_TEXTS_PER_BATCH if self.device.type == "cuda" else None
        self._chunk = _CUDA_CHUNK_ELEMENTS if self.device.type == "cuda" else _CHUNK_ELEMENTS
        # On CPU the head reads a (hidden, vocab) copy: a row-major product into vocabulary
        # columns runs ~1.4x faster there than through the (vocab, hidden) embedding table.
        self._weight_t = self._cpu_fp32 and not packing
        self.weight = parts.weight.T.contiguous() if self._weight_t else parts.weight

    def pool(
        self, input_ids: NDArray[np.int64], attention_mask: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        """SPLADE weights (batch, vocab) for a padded batch of token ids."""
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.device)
            mask = torch.from_numpy(attention_mask).to(self.device)
            hidden = self.transform(self.encoder(ids, mask))
            if self.pooling.strategy == "sum":
                return self._head_sum(hidden, mask).cpu().numpy()
            if not bool(mask.all()):
                hidden = pad_with_first_real(hidden, mask)
            if self._head_slices:
                maxima = self._head_max_packed(hidden)
            elif self._cpu_fp32:
                maxima = self._head_max_cpu(hidden)
            else:
                maxima = self._head_max_chunked(hidden)
        weights: NDArray[np.float32] = maxima.cpu().numpy()
        activate_in_place(weights, self.bias, self.pooling.activation)
        return weights

    def pool_sparse(
        self,
        input_ids: NDArray[np.int64],
        attention_mask: NDArray[np.int64],
        top_k: int | None,
        threshold: float,
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
        """CSR parts of the pruned weights, as :func:`~spladekit.vectors.prune_dense` gives
        for :meth:`pool`'s output, computed on the device: only the non-zeros are copied back.

        The same code runs on any device (the CPU included, where tests check it against
        :meth:`pool`); it is what the route uses when :attr:`sparse_on_device` is True.
        """
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.device, non_blocking=True)
            mask = torch.from_numpy(attention_mask).to(self.device, non_blocking=True)
            hidden = self.transform(self.encoder(ids, mask))
            if self.pooling.strategy == "sum":
                weights = self._head_sum(hidden, mask)
            else:
                if not bool(mask.all()):
                    hidden = pad_with_first_real(hidden, mask)
                # (vocab, hidden): the plain CPU fp32 layout keeps a (hidden, vocab) copy.
                table = self.weight.T if self._weight_t else self.weight
                weights = activate(
                    self._head_max_chunked(hidden, table), self._bias_device,
                    self.pooling.activation,
                )
            return prune_on_device(weights, top_k, threshold)

    def _head_sum(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # Sum pooling: the activation is not a max's friend (sum of f != f of sum), so every
        # position's logits are activated, padding zeroed, then summed: one chunk of texts by
        # a vocabulary slice at a time, in place, so (batch, length, vocab) logits never exist.
        batch, length, _ = hidden.shape
        texts, step = chunk_shape(batch, length, self.vocab_size, self._chunk)
        weight = self.weight.T if self._weight_t else self.weight  # (vocab, hidden) either way
        bias = self._bias_device
        keep = mask.to(torch.float32).unsqueeze(-1)
        sums = torch.empty(batch, self.vocab_size, dtype=torch.float32, device=self.device)
        for lo in range(0, self.vocab_size, step):
            hi = min(lo + step, self.vocab_size)
            for first in range(0, batch, texts):
                last = min(first + texts, batch)
                logits = torch.matmul(hidden[first:last], weight[lo:hi].T).float()
                logits += bias[lo:hi]
                torch.relu_(logits).log1p_()
                if self.pooling.activation == "log1p_relu":
                    logits.log1p_()
                logits *= keep[first:last]
                torch.sum(logits, dim=1, out=sums[first:last, lo:hi])
        return sums

    def _head_max_cpu(self, hidden: torch.Tensor) -> torch.Tensor:
        # Blocks of a few texts by a vocabulary slice: each block of logits is reduced while it
        # is still in cache, in one scratch buffer per thread.
        batch, length, width = hidden.shape
        flat = hidden.reshape(batch * length, width)
        texts_per_block = max(1, min(batch, _BLOCK_ROWS // length))
        rows = texts_per_block * length
        step = min(self.vocab_size, max(256, _BLOCK_ELEMENTS // rows))
        scratch = _scratch(rows * step)
        maxima = torch.empty(batch, self.vocab_size, dtype=torch.float32)
        for lo in range(0, self.vocab_size, step):
            hi = min(lo + step, self.vocab_size)
            weight = self.weight[:, lo:hi]
            for first in range(0, batch, texts_per_block):
                last = min(first + texts_per_block, batch)
                n_rows = (last - first) * length
                logits = scratch[: n_rows * (hi - lo)].view(n_rows, hi - lo)
                torch.mm(flat[first * length : last * length], weight, out=logits)
                torch.amax(
                    logits.view(last - first, length, hi - lo), dim=1, out=maxima[first:last, lo:hi]
                )
        return maxima

    def _head_max_packed(self, hidden: torch.Tensor) -> torch.Tensor:
        # Vocabulary slices of packed weights by blocks of whole texts; each block of logits
        # (at most _PACKED_ROWS x _HEAD_SLICE floats, 16 MiB) is reduced as soon as it exists.
        batch, length, width = hidden.shape
        flat = hidden.reshape(batch * length, width)
        texts_per_block = max(1, min(batch, _PACKED_ROWS // length))
        maxima = torch.empty(batch, self.vocab_size, dtype=torch.float32)
        for lo, hi, weight in self._head_slices:
            for first in range(0, batch, texts_per_block):
                last = min(first + texts_per_block, batch)
                logits = torch.ops.mkldnn._linear_pointwise(
                    flat[first * length : last * length], weight, None, "none", [], ""
                )
                torch.amax(
                    logits.view(last - first, length, hi - lo), dim=1, out=maxima[first:last, lo:hi]
                )
        return maxima

    def _head_max_chunked(
        self, hidden: torch.Tensor, table: torch.Tensor | None = None
    ) -> torch.Tensor:
        batch, length, _ = hidden.shape
        texts, step = chunk_shape(batch, length, self.vocab_size, self._chunk)
        table = self.weight if table is None else table  # (vocab, hidden)
        maxima = torch.empty(batch, self.vocab_size, dtype=torch.float32, device=self.device)
        for lo in range(0, self.vocab_size, step):
            weight = table[lo : lo + step].T
            for first in range(0, batch, texts):
                logits = torch.matmul(hidden[first : first + texts], weight)  # (texts, L, step)
                maxima[first : first + texts, lo : lo + step] = logits.amax(dim=1).float()
        return maxima


def chunk_shape(
    batch: int, length: int, vocab: int, elements: int = _CHUNK_ELEMENTS
) -> tuple[int, int]:
    """(texts, vocabulary slice) of a logits chunk within ``elements`` elements
    (:data:`_CHUNK_ELEMENTS` by default; a GPU backend passes its larger budget).

    All texts in one chunk while a slice of at least ``_MIN_SLICE`` fits (the widest slice
    then), fewer texts past that; only a single text longer than ``elements / _MIN_SLICE``
    (32,768 tokens by default) would go over.
    """
    narrowest = min(vocab, _MIN_SLICE)
    texts = max(1, min(batch, elements // (length * narrowest)))
    step = min(vocab, max(narrowest, elements // (texts * length)))
    return texts, step


def prune_on_device(
    weights: torch.Tensor, top_k: int | None, threshold: float
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
    """:func:`~spladekit.vectors.prune_dense` on a (rows, dim) tensor where it lies; only the
    kept entries (and the row counts) are copied to the host."""
    rows, dim = weights.shape
    keep = weights > threshold
    if top_k is not None and top_k < dim:
        heavy = keep.sum(dim=1) > top_k
        if bool(heavy.any()):
            cut = torch.topk(weights, top_k, dim=1).indices
            in_top = torch.zeros_like(keep).scatter_(1, cut, True)
            keep &= in_top | ~heavy.unsqueeze(1)
    flat = torch.nonzero(keep.reshape(-1)).squeeze(1)  # row-major: columns sorted within each row
    values = weights.reshape(-1)[flat].float().cpu().numpy()
    counts = keep.sum(dim=1).cpu().numpy()
    flat_host = flat.cpu().numpy()
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, (flat_host % dim).astype(np.int32), values.astype(np.float32, copy=False)


__all__ = [
    "CUDA_TEXTS_PER_BATCH",
    "CUDA_TOKENS_PER_BATCH",
    "TorchBackend",
    "chunk_shape",
    "dtype_for",
    "parse_device",
    "prune_on_device",
]
