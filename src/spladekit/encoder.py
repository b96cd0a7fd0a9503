"""SpladeEncoder: tokenise, sort and batch, run a backend, prune, return :class:`SparseVectors`.

Thread safety: an encoder holds only read-only state after construction (tokenizer copy,
backend weights, options). Any number of threads may encode with one encoder at once; each
call's statistics come back from that call (:meth:`SpladeEncoder.encode_with_stats`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .backends import Backend, make_backend
from .errors import InvalidArgumentError
from .models import (
    DEFAULT_MODEL,
    ModelIdentity,
    load_tokenizer,
    model_fingerprint,
    precision_from_dtype,
    resolve_model_dir,
    split_load_kwargs,
)
from .onnx_layout import is_onnx_folder
from .options import EncoderConfig
from .tokenize import TRUNCATIONS, TokenIds, Truncation
from .validation import choice, non_negative_number, optional_positive_int, string, text_list
from .vectors import SparseVectors, decode_rows, prune_dense, stack_rows

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Batch widths are rounded up to a multiple of this for long texts: a few recurring shapes let
# the allocator reuse freed blocks, where a new shape every batch fragments the heap and
# inflates peak memory (measured: ~25% lower peak RSS). Short texts (queries) round to 8, so a
# batch of queries is not padded to 64 tokens.
_WIDTH_STEP_LONG = 64
_WIDTH_STEP_SHORT = 8
_SHORT_WIDTH = 128
_TRIM_MIN_TOKENS = 4096
# Elements of the dense (rows, vocab) float32 arrays that batches and window groups fill (64
# MiB): rows are capped by this over the vocabulary, so a 250k vocabulary (XLM-R) takes fewer
# texts per array than BERT's 30k, and peak memory stays bounded whatever the vocabulary.
_DENSE_ELEMENTS = 16 * 1024 * 1024

Progress = Callable[[int], None]
"""Called with the number of texts just finished, for progress bars."""

Rows = list[tuple[NDArray[np.int32], NDArray[np.float32]]]


@dataclass(frozen=True)
class EncodeStats:
    """What one encode call did: texts, model inputs (windows count apart), cut texts, tokens."""

    texts: int
    sequences: int
    truncated: int
    tokens: int


@dataclass(frozen=True)
class Encoded:
    """The vectors of one encode call and what it did."""

    vectors: SparseVectors
    stats: EncodeStats


class SpladeEncoder:
    """Turns texts into SPLADE vectors: 2-D float32 :class:`SparseVectors` of (n, vocab size).

    Vectors do not depend on batch composition (padding is masked out of the max pooling), and
    texts are sorted by length and batched under a token budget, then returned in input order.
    Options are :class:`~spladekit.options.EncoderConfig`'s, given as ``config`` or as keywords
    (``device=``, ``batch_size=``...); other keywords go to model loading (``revision``,
    ``token``, ``cache_dir``, ``local_files_only``, ``dtype``...).
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike[str] = DEFAULT_MODEL,
        config: EncoderConfig | None = None,
        **kwargs: Any,
    ) -> None:
        config, load_kwargs = EncoderConfig.split(kwargs, base=config)
        hub_kwargs, model_kwargs = split_load_kwargs(load_kwargs)
        config = _apply_dtype(config, model_kwargs)
        self.model_name = os.fspath(model_name_or_path)
        self.model_dir: Path = resolve_model_dir(model_name_or_path, **hub_kwargs)
        if config.backend is None:
            # An exported ONNX folder loads like any model name; everything else runs on torch.
            config = config.replace(backend="onnx" if is_onnx_folder(self.model_dir) else "torch")
        self.config = config
        self.tokenizer: PreTrainedTokenizerBase = load_tokenizer(self.model_dir)
        self._tokens = TokenIds(self.tokenizer)
        self.backend: Backend = make_backend(
            str(config.backend), self.model_dir, device=config.device,
            precision=config.precision, model_kwargs=model_kwargs,
        )
        self.model_identity = ModelIdentity(self.model_name, model_fingerprint(self.model_dir))
        self.model_max_length = _model_max_length(self.tokenizer)
        self.query_max_length = min(
            config.query_max_length or self.model_max_length, self.model_max_length
        )
        self.document_max_length = min(
            config.document_max_length or self.model_max_length, self.model_max_length
        )
        self.vocabulary: list[str] = _vocabulary(self.tokenizer, self.dim)

    # Shortcuts to the options, read-only.
    @property
    def backend_name(self) -> str:
        return str(self.config.backend)

    @property
    def precision(self) -> str:
        return self.config.precision

    @property
    def device(self) -> str:
        return self.config.device

    @property
    def dim(self) -> int:
        """Width of every vector: the model's vocabulary size (30522 for BERT uncased)."""
        return self.backend.vocab_size

    def encode_documents(
        self, texts: Sequence[str], *, top_k: int | None = None, progress: Progress | None = None
    ) -> SparseVectors:
        """Encode documents with ``document_max_length``."""
        return self.encode(
            texts, max_length=self.document_max_length, top_k=top_k, progress=progress
        )

    def encode_queries(
        self, texts: Sequence[str], *, top_k: int | None = None, progress: Progress | None = None
    ) -> SparseVectors:
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
        truncation: Truncation = "right",
        progress: Progress | None = None,
    ) -> SparseVectors:
        """Encode texts into a (len(texts), dim) float32 :class:`SparseVectors`, in input order.

        ``top_k`` keeps at most that many of the largest weights per text; ``threshold`` drops
        weights at or below it (default: the encoder's); ``prefix`` is prepended to each text.
        ``truncation`` says what happens to a text over ``max_length`` tokens: ``right`` keeps
        its first tokens, ``left`` its last ones, ``error`` refuses it (``long_documents=
        "window"`` never truncates).
        """
        return self.encode_with_stats(
            texts, max_length=max_length, top_k=top_k, threshold=threshold, prefix=prefix,
            truncation=truncation, progress=progress,
        ).vectors

    def encode_with_stats(
        self,
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        prefix: str = "",
        truncation: Truncation = "right",
        progress: Progress | None = None,
    ) -> Encoded:
        """:meth:`encode`, with what the call did (texts truncated, windows, tokens)."""
        items, limit = self._prepare(texts, max_length, prefix, truncation)
        top_k = optional_positive_int("top_k", top_k)
        thr = self.config.threshold if threshold is None else non_negative_number(
            "threshold", threshold
        )
        if not items:
            return Encoded(stack_rows([], self.dim), EncodeStats(0, 0, 0, 0))
        if self.config.long_documents == "window":
            rows, stats = self._encode_windowed(items, limit, top_k, thr, progress)
        else:
            rows, stats = self._encode_truncated(items, limit, truncation, top_k, thr, progress)
        return Encoded(stack_rows(rows, self.dim), stats)

    def count_tokens(
        self,
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        prefix: str = "",
        truncation: Truncation = "right",
    ) -> list[int]:
        """How many tokens each text feeds the model, [CLS] and [SEP] included.

        Counted as :meth:`encode` with the same arguments would cut the text (all windows'
        tokens with ``long_documents="window"``); ``truncation="error"`` raises the same
        :class:`~spladekit.errors.InvalidArgumentError` for a text over the limit. For
        budgeting work before encoding it (a service's batches, say).
        """
        items, limit = self._prepare(texts, max_length, prefix, truncation)
        if not items:
            return []
        if self.config.long_documents != "window":
            sequences, _ = self._tokens.truncated(items, limit, truncation)
            return [len(s) for s in sequences]
        body = limit - 2
        stride = self._stride(body)
        return [
            sum(min(body, len(ids) - begin) + 2 for begin in _window_starts(len(ids), body, stride))
            for ids in self._tokens.content(items)
        ]

    def decode(self, vectors: object, top_k: int | None = None) -> list[list[tuple[str, float]]]:
        """(token, weight) pairs per row, heaviest first: what each vector means."""
        return decode_rows(vectors, self.vocabulary, top_k)

    # -- internals -------------------------------------------------------------------------

    def _prepare(
        self, texts: Sequence[str], max_length: int | None, prefix: str, truncation: Truncation
    ) -> tuple[list[str], int]:
        """Checked texts (with ``prefix``) and the token limit per model input."""
        items = text_list(texts)
        max_length = optional_positive_int("max_length", max_length)
        prefix = string("prefix", prefix)
        choice("truncation", truncation, TRUNCATIONS)
        if max_length is not None and max_length < 3:
            raise InvalidArgumentError(
                f"max_length must be at least 3 ([CLS], a token, [SEP]), got {max_length}"
            )
        if prefix:
            items = [prefix + text for text in items]
        return items, min(max_length or self.model_max_length, self.model_max_length)

    def _encode_truncated(
        self,
        texts: list[str],
        limit: int,
        truncation: Truncation,
        top_k: int | None,
        thr: float,
        progress: Progress | None,
    ) -> tuple[Rows, EncodeStats]:
        sequences, truncated = self._tokens.truncated(texts, limit, truncation)
        empty = (np.zeros(0, np.int32), np.zeros(0, np.float32))
        rows: Rows = [empty] * len(texts)
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
    ) -> tuple[Rows, EncodeStats]:
        """Split long texts into overlapping windows and max-pool their vectors per text."""
        cls, sep = self._tokens.cls_id, self._tokens.sep_id
        body = limit - 2
        stride = self._stride(body)
        rows: Rows = []
        n_sequences = n_tokens = 0
        # Groups bound the dense (texts, vocab) buffer that the per-text max fills, by elements.
        group = max(1, min(4 * self.config.batch_size, _DENSE_ELEMENTS // self.dim))
        for g0 in range(0, len(texts), group):
            chunk = texts[g0 : g0 + group]
            sequences: list[list[int]] = []
            owner: list[int] = []
            for text, content in enumerate(self._tokens.content(chunk)):
                for begin in _window_starts(len(content), body, stride):
                    sequences.append([cls, *content[begin : begin + body], sep])  # type: ignore[list-item]
                    owner.append(text)
            # Weights are >= 0, so a text's max over its windows starts from zeros.
            merged = np.zeros((len(chunk), self.dim), dtype=np.float32)
            for batch, weights in self._iter_batches(sequences):
                for row, pos in enumerate(batch):
                    np.maximum(merged[owner[pos]], weights[row], out=merged[owner[pos]])
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

    def _stride(self, body: int) -> int:
        return min(self.config.window_stride or body, body)

    def _iter_batches(
        self, sequences: list[list[int]]
    ) -> Iterable[tuple[list[int], NDArray[np.float32]]]:
        """Yield (positions, pooled weights) for length-sorted batches under the token budget."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        order = np.argsort(-lengths, kind="stable")  # longest first: memory peaks early, if at all
        start = 0
        while start < len(order):
            longest = int(lengths[order[start]])
            step = _WIDTH_STEP_SHORT if longest <= _SHORT_WIDTH else _WIDTH_STEP_LONG
            width = -(-longest // step) * step
            fit = min(self.config.max_tokens_per_batch // width, _DENSE_ELEMENTS // self.dim)
            fit = max(1, fit)
            batch = order[start : start + min(self.config.batch_size, fit)].tolist()
            start += len(batch)
            if len(batch) == 1:
                width = longest  # a lone text needs no padding at all
            # The tokenizer's pad id: RoBERTa-family models derive positions from it.
            ids = np.full((len(batch), width), self._tokens.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, pos in enumerate(batch):
                seq = sequences[pos]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            weights = self.backend.pool(ids, mask)
            if ids.size >= _TRIM_MIN_TOKENS:  # small batches leave no large holes; trimming
                _release_free_memory()  # costs milliseconds, which single queries would feel
            yield batch, weights


def _window_starts(n: int, body: int, stride: int) -> range:
    """Where each window of a text of ``n`` content tokens begins (one window when it fits)."""
    last = max(0, -(-(n - body) // stride)) * stride  # the first start whose window reaches n
    return range(0, last + 1, stride)


def _apply_dtype(config: EncoderConfig, model_kwargs: dict[str, Any]) -> EncoderConfig:
    """Honour a ``dtype`` loading argument as the precision it names, or refuse a conflict."""
    if "dtype" not in model_kwargs:
        return config
    wanted = precision_from_dtype(model_kwargs["dtype"])
    if config.precision not in ("fp32", wanted):
        raise InvalidArgumentError(
            f"dtype={model_kwargs['dtype']!r} and precision={config.precision!r} disagree; "
            "give one of them"
        )
    # The backend converts the model; loading it in fp32 first keeps one code path.
    del model_kwargs["dtype"]
    return config.replace(precision=wanted)


def _vocabulary(tokenizer: PreTrainedTokenizerBase, dim: int) -> list[str]:
    tokens = [""] * dim
    for token, index in tokenizer.get_vocab().items():
        if 0 <= index < dim:
            tokens[index] = token
    return tokens


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


def _model_max_length(tokenizer: PreTrainedTokenizerBase) -> int:
    # Tokenizers saved without a limit report a huge sentinel; BERT position tables stop at 512.
    value = int(getattr(tokenizer, "model_max_length", 512) or 512)
    return value if 2 < value <= 8192 else 512


__all__ = ["EncodeStats", "Encoded", "SpladeEncoder"]
