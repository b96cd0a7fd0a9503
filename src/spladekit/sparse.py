"""Pure numpy/scipy helpers for SPLADE vectors: pruning, assembly, Milvus rows and decoding."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array, issparse

from .errors import InputTypeError, InvalidArgumentError

FloatMatrix = NDArray[np.float32]


def prune_dense(
    weights: FloatMatrix, *, top_k: int | None = None, threshold: float = 0.0
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]:
    """Sparsify a dense (rows, dim) array of non-negative weights.

    Keeps the entries strictly above ``threshold`` and, when ``top_k`` is given, at most the
    ``top_k`` largest of them per row. Returns CSR parts ``(indptr, indices, values)`` with
    sorted column indices and no explicit zeros (unlike the pymilvus reference, whose top-k
    writes zeros for rows with fewer than k non-zeros).
    """
    rows, dim = weights.shape
    keep = weights > threshold
    if top_k is not None and top_k < dim:
        # Rows with more than top_k survivors keep only their top_k largest weights.
        heavy = np.flatnonzero(keep.sum(axis=1) > top_k)
        if heavy.size:
            sub = weights[heavy]
            cut = np.argpartition(-sub, top_k - 1, axis=1)[:, :top_k]
            mask = np.zeros_like(sub, dtype=bool)
            np.put_along_axis(mask, cut, True, axis=1)
            keep[heavy] &= mask
    row_idx, col_idx = np.nonzero(keep)  # row-major, so columns come out sorted per row
    values = weights[row_idx, col_idx].astype(np.float32, copy=False)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_idx, minlength=rows), out=indptr[1:])
    return indptr, col_idx.astype(np.int32), values


def stack_rows(
    rows: Sequence[tuple[NDArray[np.int32], NDArray[np.float32]]], dim: int
) -> csr_array:
    """Build a (len(rows), dim) float32 ``csr_array`` from per-row (indices, values) pairs."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        np.cumsum([len(idx) for idx, _ in rows], out=indptr[1:])
        indices = np.concatenate([idx for idx, _ in rows]).astype(np.int32, copy=False)
        values = np.concatenate([val for _, val in rows]).astype(np.float32, copy=False)
    else:
        indices = np.zeros(0, dtype=np.int32)
        values = np.zeros(0, dtype=np.float32)
    matrix = csr_array((values, indices, indptr), shape=(len(rows), dim))
    matrix.has_sorted_indices = True
    return matrix


def _as_csr(vectors: object, what: str) -> csr_array:
    if not issparse(vectors):
        raise InputTypeError(
            f"{what} must be a scipy sparse matrix such as the csr_array returned by "
            f"encode_documents/encode_queries, got {type(vectors).__name__}"
        )
    matrix = csr_array(vectors)
    if matrix.ndim != 2:
        raise InvalidArgumentError(f"{what} must be 2-D (n, dim), got shape {matrix.shape}")
    return matrix


def to_milvus_rows(vectors: object) -> list[dict[int, float]]:
    """Turn a 2-D sparse matrix into the list of ``{index: weight}`` rows that pymilvus accepts.

    pymilvus rejects a 2-D ``csr_array`` in ``search`` and the 1-D rows from iterating one in
    ``insert``; dict rows work in both.
    """
    matrix = _as_csr(vectors, "vectors")
    matrix.sum_duplicates()
    out: list[dict[int, float]] = []
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for i in range(matrix.shape[0]):
        lo, hi = int(indptr[i]), int(indptr[i + 1])
        out.append(dict(zip(indices[lo:hi].tolist(), data[lo:hi].tolist(), strict=True)))
    return out


def decode_rows(
    vectors: object, vocabulary: Sequence[str], top_k: int | None = None
) -> list[list[tuple[str, float]]]:
    """Per row, the (token, weight) pairs in decreasing weight order, at most ``top_k`` of them."""
    matrix = _as_csr(vectors, "vectors")
    if matrix.shape[1] > len(vocabulary):
        raise InvalidArgumentError(
            f"vectors have {matrix.shape[1]} columns but the vocabulary has {len(vocabulary)} "
            "tokens; decode with the encoder that produced them"
        )
    if top_k is not None and top_k < 1:
        raise InvalidArgumentError(f"top_k must be a positive integer or None, got {top_k}")
    result: list[list[tuple[str, float]]] = []
    for i in range(matrix.shape[0]):
        lo, hi = int(matrix.indptr[i]), int(matrix.indptr[i + 1])
        idx, val = matrix.indices[lo:hi], matrix.data[lo:hi]
        order = np.argsort(-val, kind="stable")[:top_k]
        result.append([(vocabulary[int(idx[j])], float(val[j])) for j in order])
    return result


__all__ = ["decode_rows", "prune_dense", "stack_rows", "to_milvus_rows"]
