"""Routes: how one side of a model (queries or documents) turns texts into weight rows.

- :class:`MlmRoute`: a masked-LM backend and its pooling; texts are tokenised with [CLS] and
  [SEP], sorted by length and batched under a token budget (or split into windows).
- :class:`StaticRoute`: inference-free; a text's row holds ``weight[v]`` for each distinct
  token id ``v`` of the text, tokenised without special tokens, as sentence-transformers'
  ``SparseStaticEmbedding`` does. No model runs.

Both hold only read-only state after construction, so any number of threads may use one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .backends import Backend, make_backend
from .checkpoint.loading import load_static_weights
from .checkpoint.sanity import check_tokenizer
from .checkpoint.spec import MlmRouteSpec, RouteSpec, StaticRouteSpec
from .heap import release_free_memory
from .options import EncoderConfig, Progress
from .tokenize import TokenIds, Truncation, cut_tokens
from .vectors import CsrParts, RowArrays, prune_dense, split_arrays

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Batch widths are rounded up to a multiple of this for long texts: a few recurring shapes let
# the allocator reuse freed blocks, where a new shape every batch fragments the heap and
# inflates peak memory (measured: ~25% lower peak RSS). Short texts (queries) round to 8, so a
# batch of queries is not padded to 64 tokens.
_WIDTH_STEP_LONG = 64
_WIDTH_STEP_SHORT = 8
_SHORT_WIDTH = 128
# Largest share of padding in a batch of short texts (see _bounded_padding).
_MAX_PADDING = 0.2
_TRIM_MIN_TOKENS = 4096
# Elements of the dense (rows, vocab) float32 arrays that batches and window groups fill (64
# MiB): rows are capped by this over the vocabulary, so a 250k vocabulary (XLM-R) takes fewer
# texts per array than BERT's 30k, and peak memory stays bounded whatever the vocabulary.
_DENSE_ELEMENTS = 16 * 1024 * 1024

Rows = list[RowArrays]

_EMPTY: RowArrays = (np.zeros(0, np.int32), np.zeros(0, np.float32))
_DEFAULTS = EncoderConfig()


@dataclass(frozen=True)
class TokenBatch:
    """Texts tokenised for one route, one entry per text, as the route will run them.

    ``ids``: a text's model input ([CLS] + tokens + [SEP]); with ``long_documents="window"``
    all its content tokens (windowed when encoded); on an inference-free route the ids it looks
    up. ``counts``: the tokens each text feeds the model (every window's); ``cut``: whether it
    was truncated; ``limit``: the token limit per model input it was cut (or windowed) to.
    Batches of one route and limit join and slice by text, so a service tokenises each text
    once and encodes many requests' texts in one call.
    """

    ids: list[list[int]]
    counts: list[int]
    cut: list[bool]
    limit: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def truncated(self) -> int:
        return sum(self.cut)

    def slice(self, lo: int, hi: int) -> TokenBatch:
        return TokenBatch(self.ids[lo:hi], self.counts[lo:hi], self.cut[lo:hi], self.limit)

    @staticmethod
    def join(parts: Sequence[TokenBatch]) -> TokenBatch:
        """One batch of every part's texts, in order (all cut to one limit)."""
        if len(parts) == 1:
            return parts[0]
        if len({p.limit for p in parts}) > 1:
            raise ValueError("only batches tokenised to one limit can be joined")
        return TokenBatch(
            [i for p in parts for i in p.ids], [c for p in parts for c in p.counts],
            [c for p in parts for c in p.cut], parts[0].limit,
        )


@dataclass(frozen=True)
class RouteStats:
    """What a route did for one call: model inputs (windows count apart), cut texts, tokens."""

    sequences: int
    truncated: int
    tokens: int


class MlmRoute:
    """A masked-LM side: tokenizer copy, backend, pooling and token limit."""

    runs_model = True

    def __init__(
        self,
        spec: MlmRouteSpec,
        tokenizer: PreTrainedTokenizerBase,
        config: EncoderConfig,
        model_kwargs: dict[str, Any],
    ) -> None:
        self.spec = spec
        self.config = config
        self.tokenizer = tokenizer
        self.tokens = TokenIds(self.tokenizer, lowercase=spec.do_lower_case)
        backend = config.backend or ("onnx" if spec.onnx else "torch")
        self.backend_name = str(backend)
        self.backend: Backend = make_backend(
            self.backend_name, spec.folder, device=config.device, precision=config.precision,
            model_kwargs=dict(model_kwargs), pooling=spec.pooling,
        )
        self.vocab_size = self.backend.vocab_size
        check_tokenizer(len(self.tokenizer), self.vocab_size, spec.folder)
        model_limit = model_max_length(self.tokenizer)
        # sentence-transformers' max_seq_length replaces the tokenizer's limit.
        self.max_length = spec.max_seq_length or model_limit

    def tokenize(self, texts: list[str], limit: int, truncation: Truncation) -> TokenBatch:
        """Each text as this route will run it: [CLS] + tokens + [SEP] cut to ``limit``, or
        (``long_documents="window"``) all its content tokens, windowed when encoded."""
        if self.config.long_documents != "window":
            sequences, cut = self.tokens.truncated(texts, limit, truncation)
            return TokenBatch(sequences, [len(s) for s in sequences], cut, limit)
        body = limit - 2
        stride = self._stride(body)
        contents = self.tokens.content(texts)
        counts = [
            sum(min(body, len(ids) - begin) + 2 for begin in _window_starts(len(ids), body, stride))
            for ids in contents
        ]
        return TokenBatch(contents, counts, [False] * len(contents), limit)

    def encode_tokens(
        self, batch: TokenBatch, top_k: int | None, threshold: float, progress: Progress | None
    ) -> tuple[Rows, RouteStats]:
        """One (indices, values) row per text of ``batch``, in its order."""
        if self.config.long_documents == "window":
            return self._encode_windowed(batch.ids, batch.limit, top_k, threshold, progress)
        rows: Rows = [_EMPTY] * len(batch)
        for positions, parts in self._iter_pruned(batch.ids, top_k, threshold):
            for pos, row in zip(positions, split_arrays(parts), strict=True):
                rows[pos] = row
            if progress is not None:
                progress(len(positions))
        return rows, RouteStats(len(batch), batch.truncated, sum(batch.counts))

    def _encode_windowed(
        self,
        contents: list[list[int]],
        limit: int,
        top_k: int | None,
        thr: float,
        progress: Progress | None,
    ) -> tuple[Rows, RouteStats]:
        """Split long texts (their content tokens) into overlapping windows and max-pool their
        vectors per text."""
        cls, sep = self.tokens.cls_id, self.tokens.sep_id
        body = limit - 2
        stride = self._stride(body)
        rows: Rows = []
        n_sequences = n_tokens = 0
        # Groups bound the dense (texts, vocab) buffer that the per-text max fills, by elements.
        group = max(1, min(4 * self.config.batch_size, _DENSE_ELEMENTS // self.vocab_size))
        for g0 in range(0, len(contents), group):
            chunk = contents[g0 : g0 + group]
            sequences: list[list[int]] = []
            owner: list[int] = []
            for text, content in enumerate(chunk):
                for begin in _window_starts(len(content), body, stride):
                    sequences.append([cls, *content[begin : begin + body], sep])  # type: ignore[list-item]
                    owner.append(text)
            # Weights are >= 0, so a text's max over its windows starts from zeros.
            merged = np.zeros((len(chunk), self.vocab_size), dtype=np.float32)
            for batch, weights in self._iter_batches(sequences):
                for row, pos in enumerate(batch):
                    np.maximum(merged[owner[pos]], weights[row], out=merged[owner[pos]])
            rows.extend(split_arrays(prune_dense(merged, top_k=top_k, threshold=thr)))
            n_sequences += len(sequences)
            n_tokens += sum(len(s) for s in sequences)
            if progress is not None:
                progress(len(chunk))
        return rows, RouteStats(n_sequences, 0, n_tokens)

    def _stride(self, body: int) -> int:
        return min(self.config.window_stride or body, body)

    def _iter_pruned(
        self, sequences: list[list[int]], top_k: int | None, threshold: float
    ) -> Iterable[tuple[list[int], CsrParts]]:
        """Yield (positions, CSR parts) per batch: pruned on the device where the backend can
        (a GPU: only the non-zeros are copied back), else pooled here and pruned by numpy."""
        if self.backend.sparse_on_device:
            for batch, ids, mask in self._padded_batches(sequences):
                yield batch, self.backend.pool_sparse(ids, mask, top_k, threshold)
            return
        for batch, weights in self._iter_batches(sequences):
            yield batch, prune_dense(weights, top_k=top_k, threshold=threshold)

    def _batch_shape(self) -> tuple[int, int]:
        """(texts, tokens) per batch: the options, or the device's where the backend has one
        and the options are the (CPU) defaults."""
        texts, tokens = self.config.batch_size, self.config.max_tokens_per_batch
        device_tokens = self.backend.tokens_per_batch
        if device_tokens and tokens == _DEFAULTS.max_tokens_per_batch:
            tokens = device_tokens
        device_texts = self.backend.texts_per_batch
        if device_texts and texts == _DEFAULTS.batch_size:
            texts = device_texts
        return texts, tokens

    def _iter_batches(
        self, sequences: list[list[int]]
    ) -> Iterable[tuple[list[int], NDArray[np.float32]]]:
        """Yield (positions, pooled weights) for length-sorted batches under the token budget."""
        for batch, ids, mask in self._padded_batches(sequences):
            weights = self.backend.pool(ids, mask)
            if ids.size >= _TRIM_MIN_TOKENS:  # small batches leave no large holes; trimming
                release_free_memory()  # costs milliseconds, which single queries would feel
            yield batch, weights

    def _padded_batches(
        self, sequences: list[list[int]]
    ) -> Iterable[tuple[list[int], NDArray[np.int64], NDArray[np.int64]]]:
        """(positions, input_ids, attention_mask) of length-sorted batches under the budget."""
        max_texts, max_tokens = self._batch_shape()
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        order = np.argsort(-lengths, kind="stable")  # longest first: memory peaks early, if at all
        start = 0
        while start < len(order):
            longest = int(lengths[order[start]])
            step = _WIDTH_STEP_SHORT if longest <= _SHORT_WIDTH else _WIDTH_STEP_LONG
            width = -(-longest // step) * step
            fit = max(1, min(max_tokens // width, _DENSE_ELEMENTS // self.vocab_size))
            batch = order[start : start + min(max_texts, fit)].tolist()
            if longest <= _SHORT_WIDTH:
                batch = _bounded_padding(batch, lengths, width)
            start += len(batch)
            if len(batch) == 1:
                width = longest  # a lone text needs no padding at all
            # The tokenizer's pad id: RoBERTa-family models derive positions from it.
            ids = np.full((len(batch), width), self.tokens.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, pos in enumerate(batch):
                seq = sequences[pos]
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            yield batch, ids, mask


class StaticRoute:
    """An inference-free side: one weight per vocabulary entry, looked up per distinct token."""

    runs_model = False
    backend: Backend | None = None

    def __init__(
        self,
        spec: StaticRouteSpec,
        tokenizer: PreTrainedTokenizerBase,
        config: EncoderConfig,
        model_kwargs: dict[str, Any],
    ) -> None:
        self.spec = spec
        self.tokenizer = tokenizer
        self.tokens = TokenIds(self.tokenizer, require_special=False)
        self.weight = load_static_weights(spec.weights, self.tokenizer)
        self.vocab_size = int(self.weight.shape[0])
        self.max_length = spec.max_seq_length or model_max_length(self.tokenizer)
        self.backend_name = "lookup"

    def tokenize(self, texts: list[str], limit: int, truncation: Truncation) -> TokenBatch:
        """Each text's token ids, without special tokens, cut to ``limit``."""
        ids: list[list[int]] = []
        cut: list[bool] = []
        for i, found in enumerate(self.tokens.content(texts)):
            kept, was_cut = cut_tokens(found, limit, truncation, i)
            ids.append(kept)
            cut.append(was_cut)
        return TokenBatch(ids, [len(i) for i in ids], cut, limit)

    def encode_tokens(
        self, batch: TokenBatch, top_k: int | None, threshold: float, progress: Progress | None
    ) -> tuple[Rows, RouteStats]:
        rows = [self._row(ids, top_k, threshold) for ids in batch.ids]
        if progress is not None and rows:
            progress(len(rows))
        return rows, RouteStats(len(batch), batch.truncated, sum(batch.counts))

    def _row(
        self, ids: list[int], top_k: int | None, threshold: float
    ) -> RowArrays:
        # Sorted, as CSR rows are; a set beats np.unique on a query's few dozen ids.
        unique = np.fromiter(
            (i for i in sorted(set(ids)) if 0 <= i < self.vocab_size), dtype=np.int64
        )
        values = self.weight[unique]
        keep = values > threshold
        unique, values = unique[keep], values[keep]
        if top_k is not None and values.size > top_k:
            best = np.sort(np.argpartition(-values, top_k - 1)[:top_k])
            unique, values = unique[best], values[best]
        return unique.astype(np.int32), values


Route = MlmRoute | StaticRoute

# The route that runs each kind of route spec (``RouteSpec.kind``).
_ROUTE_KINDS: dict[str, Callable[..., Route]] = {"mlm": MlmRoute, "static": StaticRoute}


def build_route(
    spec: RouteSpec,
    tokenizer: PreTrainedTokenizerBase,
    config: EncoderConfig,
    model_kwargs: dict[str, Any],
) -> Route:
    """The route that runs ``spec`` (of any kind), with ``tokenizer``."""
    return _ROUTE_KINDS[spec.kind](spec, tokenizer, config, model_kwargs)


def model_max_length(tokenizer: PreTrainedTokenizerBase) -> int:
    """The tokenizer's limit; tokenizers saved without one report a huge sentinel: 512 then."""
    value = int(getattr(tokenizer, "model_max_length", 512) or 512)
    return value if 2 < value <= 8192 else 512


def _bounded_padding(batch: list[int], lengths: NDArray[np.int64], width: int) -> list[int]:
    """The longest-first prefix of a batch of short texts whose padding stays under
    :data:`_MAX_PADDING` of the padded tokens.

    Short texts (queries, which a service merges) differ in length by several times, and a
    model's cost is per padded token: 32 SciFact queries padded to the longest did twice the
    work of the same queries unpadded, which ate all that merging them could gain. Smaller
    batches of similar lengths cost little: oneDNN's packed kernels run a 14-row product at
    the speed of a 64-row one.
    """
    real = 0
    for count, pos in enumerate(batch):
        real += int(lengths[pos])
        if count and (count + 1) * width * (1 - _MAX_PADDING) > real:
            return batch[:count]
    return batch


def _window_starts(n: int, body: int, stride: int) -> range:
    """Where each window of a text of ``n`` content tokens begins (one window when it fits)."""
    last = max(0, -(-(n - body) // stride)) * stride  # the first start whose window reaches n
    return range(0, last + 1, stride)


__all__ = [
    "MlmRoute",
    "Route",
    "RouteStats",
    "Rows",
    "StaticRoute",
    "TokenBatch",
    "build_route",
    "model_max_length",
]
