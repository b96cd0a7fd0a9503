"""SpladeEncoder: tokenise, sort and batch, run a backend, pool, prune, return a csr_array."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array

from .backends import BACKENDS, PRECISIONS, Backend
from .errors import InputTypeError, InvalidArgumentError
from .models import (
    DEFAULT_MODEL,
    load_masked_lm,
    load_tokenizer,
    resolve_model_dir,
    split_load_kwargs,
)
from .sparse import decode_rows, prune_dense, stack_rows

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

LONG_DOCUMENT_MODES = ("truncate", "window")
_WIDTH_STEP = 64
_TRIM_MIN_TOKENS = 4096

Progress = Callable[[int], None]
"""Called with the number of texts just finished, for progress bars."""


def check_texts(texts: object, what: str = "texts") -> list[str]:
    """Validate a list of texts at the public boundary; errors name the offending position."""
    if isinstance(texts, (str, bytes)):
        raise InputTypeError(
            f"{what} must be a list of str, got a single {type(texts).__name__}; wrap it: [text]"
        )
    if not isinstance(texts, Iterable):
        raise InputTypeError(f"{what} must be a list of str, got {type(texts).__name__}")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise InputTypeError(
                f"{what} must be a list of str, got {type(text).__name__} at position {i}"
            )
    return out


def _check_positive(name: str, value: object, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(
            f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}"
        )


@dataclass(frozen=True)
class EncodeStats:
    """What the last ``encode`` call did, for CLIs and logs."""

    texts: int
    sequences: int
    truncated: int
    tokens: int


class SpladeEncoder:
    """Turns texts into SPLADE vectors: 2-D float32 ``csr_array`` of shape (n, vocab size).

    Vectors do not depend on batch composition (padding is masked out of the max pooling), and
    texts are sorted by length and batched under a token budget, then returned in input order.
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike[str] = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 32,
        max_tokens_per_batch: int = 8192,
        query_max_length: int | None = None,
        document_max_length: int | None = None,
        threshold: float = 0.0,
        backend: str | None = None,
        precision: str = "fp32",
        long_documents: str = "truncate",
        window_stride: int | None = None,
        **load_kwargs: Any,
    ) -> None:
        _check_positive("batch_size", batch_size)
        _check_positive("max_tokens_per_batch", max_tokens_per_batch)
        _check_positive("query_max_length", query_max_length, allow_none=True)
        _check_positive("document_max_length", document_max_length, allow_none=True)
        _check_positive("window_stride", window_stride, allow_none=True)
        self.threshold = _check_threshold(threshold)
        if backend is not None and backend not in BACKENDS:
            raise InvalidArgumentError(
                f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}"
            )
        if precision not in PRECISIONS:
            raise InvalidArgumentError(
                f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}"
            )
        if long_documents not in LONG_DOCUMENT_MODES:
            raise InvalidArgumentError(
                f"long_documents must be one of {', '.join(LONG_DOCUMENT_MODES)}; "
                f"got {long_documents!r}"
            )
        self.batch_size = batch_size
        self.max_tokens_per_batch = max_tokens_per_batch
        self.long_documents = long_documents
        hub_kwargs, model_kwargs = split_load_kwargs(load_kwargs)
        self.model_name = os.fspath(model_name_or_path)
        self.model_dir = resolve_model_dir(model_name_or_path, **hub_kwargs)
        if backend is None:
            # An exported ONNX folder loads like any model name; everything else runs on torch.
            from .backends.onnx_backend import is_onnx_folder

            backend = "onnx" if is_onnx_folder(self.model_dir) else "torch"
        self.tokenizer: PreTrainedTokenizerBase = load_tokenizer(self.model_dir)
        self.backend: Backend = _make_backend(
            backend, self.model_dir, device=device, precision=precision, model_kwargs=model_kwargs
        )
        self.backend_name = backend
        self.precision = precision
        self.device = device
        self.model_max_length = _model_max_length(self.tokenizer)
        self.query_max_length = min(
            query_max_length or self.model_max_length, self.model_max_length
        )
        self.document_max_length = min(
            document_max_length or self.model_max_length, self.model_max_length
        )
        self.window_stride = window_stride
        self.last_stats = EncodeStats(0, 0, 0, 0)
        self._vocabulary: list[str] | None = None

    @property
    def dim(self) -> int:
        """Width of every vector: the model's vocabulary size (30522 for BERT uncased)."""
        return self.backend.vocab_size

    @property
    def vocabulary(self) -> list[str]:
        """Token string for each vector dimension."""
        if self._vocabulary is None:
            vocab = self.tokenizer.get_vocab()
            tokens = [""] * self.dim
            for token, index in vocab.items():
                if 0 <= index < self.dim:
                    tokens[index] = token
            self._vocabulary = tokens
        return self._vocabulary

    def encode_documents(
        self, texts: Sequence[str], *, top_k: int | None = None, progress: Progress | None = None
    ) -> csr_array:
        """Encode documents with ``document_max_length``."""
        return self.encode(
            texts, max_length=self.document_max_length, top_k=top_k, progress=progress
        )

    def encode_queries(
        self, texts: Sequence[str], *, top_k: int | None = None, progress: Progress | None = None
    ) -> csr_array:
        """Encode queries with ``query_max_length``."""
        return self.encode(texts, max_length=self.query_max_length, top_k=top_k, progress=progress)

    def encode(
        self,
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        prefix: str = "",
        progress: Progress | None = None,
    ) -> csr_array:
        """Encode texts into a (len(texts), dim) float32 ``csr_array`` in input order.

        ``top_k`` keeps at most that many of the largest weights per text; ``threshold`` drops
        weights at or below it (default: the encoder's); ``prefix`` is prepended to each text.
        """
        items = check_texts(texts)
        _check_positive("top_k", top_k, allow_none=True)
        _check_positive("max_length", max_length, allow_none=True)
        thr = self.threshold if threshold is None else _check_threshold(threshold)
        if prefix:
            items = [prefix + text for text in items]
        if not items:
            self.last_stats = EncodeStats(0, 0, 0, 0)
            return stack_rows([], self.dim)
        if max_length is not None and max_length < 3:
            raise InvalidArgumentError(
                f"max_length must be at least 3 ([CLS], a token, [SEP]), got {max_length}"
            )
        limit = min(max_length or self.model_max_length, self.model_max_length)
        run = self._encode_windowed if self.long_documents == "window" else self._encode_truncated
        rows, stats = run(items, limit, top_k, thr, progress)
        self.last_stats = stats
        return stack_rows(rows, self.dim)

    def decode(self, vectors: object, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        """(token, weight) pairs per row, heaviest first: what each vector means."""
        return decode_rows(vectors, self.vocabulary, top_k)

    # -- internals -------------------------------------------------------------------------

    def _encode_truncated(
        self, texts: list[str], limit: int, top_k: int | None, thr: float, progress: Progress | None
    ) -> tuple[list[tuple[NDArray[np.int32], NDArray[np.float32]]], EncodeStats]:
        # Tokenise one past the limit so that truncated texts can be counted, then cut them the
        # way the tokenizer's own truncation (and so the reference) does: [CLS], leading
        # tokens, closing [SEP].
        encoded = self.tokenizer(
            texts,
            add_special_tokens=True,
            truncation=True,
            max_length=limit + 1,
            return_attention_mask=False,
            verbose=False,
        )
        sequences: list[list[int]] = encoded["input_ids"]
        truncated = 0
        for i, seq in enumerate(sequences):
            if len(seq) > limit:
                truncated += 1
                sequences[i] = seq[: limit - 1] + seq[-1:]
        empty = (np.zeros(0, np.int32), np.zeros(0, np.float32))
        rows = [empty] * len(texts)
        for batch, weights in self._iter_batches(sequences):
            indptr, indices, values = prune_dense(weights, top_k=top_k, threshold=thr)
            for j, pos in enumerate(batch):
                rows[pos] = (indices[indptr[j] : indptr[j + 1]], values[indptr[j] : indptr[j + 1]])
            if progress is not None:
                progress(len(batch))
        tokens = sum(len(s) for s in sequences)
        return rows, EncodeStats(len(texts), len(texts), truncated, tokens)

    def _encode_windowed(
        self, texts: list[str], limit: int, top_k: int | None, thr: float, progress: Progress | None
    ) -> tuple[list[tuple[NDArray[np.int32], NDArray[np.float32]]], EncodeStats]:
        """Split long texts into overlapping windows and max-pool their vectors per text."""
        tok = self.tokenizer
        cls, sep = tok.cls_token_id, tok.sep_token_id
        if cls is None or sep is None:
            raise InvalidArgumentError(
                "long_documents='window' needs a tokenizer with [CLS] and [SEP] tokens"
            )
        body = limit - 2
        stride = min(self.window_stride or body, body)
        rows: list[tuple[NDArray[np.int32], NDArray[np.float32]]] = []
        n_sequences = n_tokens = 0
        # Groups bound the dense (windows, vocab) buffer that the per-text max needs.
        group = max(1, 4 * self.batch_size)
        for g0 in range(0, len(texts), group):
            chunk = texts[g0 : g0 + group]
            encoded = tok(
                chunk,
                add_special_tokens=False,
                truncation=False,
                return_attention_mask=False,
                verbose=False,
            )
            sequences: list[list[int]] = []
            starts: list[int] = []
            for content in encoded["input_ids"]:
                starts.append(len(sequences))
                begin = 0
                while True:
                    sequences.append([cls, *content[begin : begin + body], sep])
                    if begin + body >= len(content):
                        break
                    begin += stride
            pooled = np.zeros((len(sequences), self.dim), dtype=np.float32)
            for batch, weights in self._iter_batches(sequences):
                pooled[batch] = weights
            merged = np.maximum.reduceat(pooled, starts, axis=0)  # windows of a text are adjacent
            indptr, indices, values = prune_dense(merged, top_k=top_k, threshold=thr)
            rows.extend(
                (indices[indptr[i] : indptr[i + 1]], values[indptr[i] : indptr[i + 1]])
                for i in range(len(chunk))
            )
            n_sequences += len(sequences)
            n_tokens += sum(len(s) for s in sequences)
            if progress is not None:
                progress(len(chunk))
        return rows, EncodeStats(len(texts), n_sequences, 0, n_tokens)

    def _iter_batches(
        self, sequences: list[list[int]]
    ) -> Iterable[tuple[list[int], NDArray[np.float32]]]:
        """Yield (positions, pooled weights) for length-sorted batches under the token budget."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        order = np.argsort(-lengths, kind="stable")  # longest first: memory peaks early, if at all
        start = 0
        while start < len(order):
            # Batch widths are rounded up to a multiple of _WIDTH_STEP: a few recurring
            # shapes let the allocator reuse freed blocks, where a new shape every batch
            # fragments the heap and inflates peak memory (measured: ~25% lower peak RSS).
            longest = -(-int(lengths[order[start]]) // _WIDTH_STEP) * _WIDTH_STEP
            fit = max(1, self.max_tokens_per_batch // longest)
            batch = order[start : start + min(self.batch_size, fit)].tolist()
            start += len(batch)
            ids = np.zeros((len(batch), longest), dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            for row, pos in enumerate(batch):
                seq = sequences[pos]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            weights = self.backend.pool(ids, mask)
            if ids.size >= _TRIM_MIN_TOKENS:  # small batches leave no large holes; trimming
                _release_free_memory()  # costs milliseconds, which single queries would feel
            yield batch, weights


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None
    return trim


_MALLOC_TRIM = _load_malloc_trim() if sys.platform.startswith("linux") else None


def _release_free_memory() -> None:
    """Hand freed heap pages back to the OS between batches.

    Batches of different shapes leave holes in glibc's heap that later, differently sized
    allocations cannot reuse; returning them keeps peak RSS close to the working set.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _check_threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InvalidArgumentError(f"threshold must be a number >= 0, got {value!r}")
    return float(value)


def _model_max_length(tokenizer: PreTrainedTokenizerBase) -> int:
    # Tokenizers saved without a limit report a huge sentinel; BERT position tables stop at 512.
    value = int(getattr(tokenizer, "model_max_length", 512) or 512)
    return value if 2 < value <= 8192 else 512


def _make_backend(
    name: str,
    folder: os.PathLike[str],
    *,
    device: str,
    precision: str,
    model_kwargs: dict[str, Any],
) -> Backend:
    from pathlib import Path

    if name == "torch":
        from .backends.torch_backend import TorchBackend

        model = load_masked_lm(Path(folder), **model_kwargs)
        return TorchBackend(model, device=device, precision=precision)
    from .backends.onnx_backend import OnnxBackend

    if model_kwargs:
        raise InvalidArgumentError(
            f"backend='onnx' takes no model loading arguments, got {sorted(model_kwargs)}; "
            "export the model with the options you need (spladekit export-onnx)"
        )
    return OnnxBackend(Path(folder), device=device, precision=precision)


__all__ = ["EncodeStats", "SpladeEncoder", "check_texts"]
