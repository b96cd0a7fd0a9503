"""The shapes a SPLADE vector takes in spladekit, the result type, and pruning.

One name per shape:

- :class:`SparseVectors`: what encoders return, a 2-D float32 ``scipy.sparse.csr_array`` of
  shape (n, dim) that also behaves as a sequence of n rows, each a (1, dim) ``SparseVectors``.
  That is what pymilvus and the Milvus docs expect of ``encode_documents``/``encode_queries``
  output: ``list(vectors)[0].shape == (1, dim)``, ``insert`` takes the rows and ``search`` the
  whole matrix. What differs from a plain ``csr_array``: ``iter(v)`` yields (1, dim) rows (a
  plain one yields 1-D rows of shape (dim,)), and ``len(v)`` is the number of rows (a plain one
  raises "sparse array length is ambiguous"). Everything else (arithmetic, slicing, ``vstack``,
  pickling) is ``csr_array``'s; results of arithmetic and slicing keep the class (``v * 2``,
  ``v + v``, ``v[0:1]`` are ``SparseVectors``), ``vstack`` gives a plain ``csr_array``.
- :data:`Row`: one vector as Milvus's ``{index: weight}`` dict.
- :data:`RowArrays`: one vector as its (indices, values) arrays, sorted by index.
- :data:`CsrParts`: many vectors as CSR's ``(indptr, indices, values)``.

Conversions between them (and to TEI's JSON and Arrow) live in :mod:`.convert`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array

FloatMatrix = NDArray[np.float32]
Row = dict[int, float]
RowArrays = tuple[NDArray[np.int32], NDArray[np.float32]]
CsrParts = tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float32]]

# Milvus sparse indices are uint32 with the maximum value reserved.
MAX_DIMENSION = 2**32 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)


class SparseVectors(csr_array):  # type: ignore[misc]
    """A (n, dim) float32 ``csr_array`` that iterates as (1, dim) rows and has ``len() == n``."""

    def __iter__(self) -> Iterator[SparseVectors]:
        for i in range(self.shape[0]):
            yield self.row(i)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __array__(self, dtype: object = None, copy: object = None) -> NDArray[np.object_]:
        # With a working len() numpy would take the matrix for a sequence of rows and recurse
        # into it (scipy's vstack calls np.asarray on its blocks); a plain csr_array, whose
        # len() raises, is an opaque 0-d object to numpy. Keep it one.
        out = np.empty((), dtype=object)
        out[()] = self
        return out

    def row(self, i: int) -> SparseVectors:
        """Row ``i`` as a (1, dim) matrix (negative ``i`` counts from the end)."""
        n = self.shape[0]
        if not -n <= i < n:
            raise IndexError(f"row {i} is out of range for {n} rows")
        i %= n
        lo, hi = int(self.indptr[i]), int(self.indptr[i + 1])
        indptr = np.array([0, hi - lo], dtype=self.indptr.dtype)
        out = SparseVectors(
            (self.data[lo:hi], self.indices[lo:hi], indptr), shape=(1, self.shape[1])
        )
        out.has_sorted_indices = self.has_sorted_indices
        return out

    def rows(self, lo: int, hi: int) -> SparseVectors:
        """Rows ``lo`` to ``hi`` (exclusive, ``0 <= lo <= hi <= n``) as a matrix whose data and
        indices are views of this one's: no entry is copied."""
        if not 0 <= lo <= hi <= self.shape[0]:
            raise IndexError(f"rows {lo}:{hi} are out of range for {self.shape[0]} rows")
        start, end = int(self.indptr[lo]), int(self.indptr[hi])
        out = SparseVectors(
            (self.data[start:end], self.indices[start:end], self.indptr[lo : hi + 1] - start),
            shape=(hi - lo, self.shape[1]),
        )
        out.has_sorted_indices = self.has_sorted_indices
        return out


def join_rows(parts: list[SparseVectors]) -> SparseVectors:
    """The rows of ``parts`` (of one width), in order, as one matrix."""
    if not parts:
        raise ValueError("join_rows needs at least one matrix")
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [p.nnz for p in parts])
    indptr = np.concatenate(
        [parts[0].indptr[:1]] + [p.indptr[1:] + off for p, off in zip(parts, offsets, strict=False)]
    )
    out = SparseVectors(
        (np.concatenate([p.data for p in parts]), np.concatenate([p.indices for p in parts]),
         indptr),
        shape=(sum(p.shape[0] for p in parts), parts[0].shape[1]),
    )
    out.has_sorted_indices = all(p.has_sorted_indices for p in parts)
    return out


def empty_rows(vectors: csr_array) -> NDArray[np.bool_]:
    """Which rows of a matrix have no weight at all (an empty text, or one pruned to nothing)."""
    empty: NDArray[np.bool_] = np.diff(vectors.indptr) == 0
    return empty


# The public name: pickles (Ray moves vectors between processes) and reprs say
# spladekit.vectors.SparseVectors, which stays where it is whatever module defines it.
SparseVectors.__module__ = "spladekit.vectors"


def prune_dense(
    weights: FloatMatrix, *, top_k: int | None = None, threshold: float = 0.0
) -> CsrParts:
    """Sparsify a dense (rows, dim) array of non-negative weights.

    Keeps the entries strictly above ``threshold`` and, when ``top_k`` is given, at most the
    ``top_k`` largest of them per row. Returns :data:`CsrParts` with sorted column indices and
    no explicit zeros (unlike the pymilvus reference, whose top-k writes zeros for rows with
    fewer than k non-zeros).
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
    # Row-major flat positions, so columns come out sorted per row (flatnonzero is several
    # times faster than a 2-D nonzero on wide rows).
    flat = np.flatnonzero(keep)
    row_idx, col_idx = np.divmod(flat, dim)
    values = weights.reshape(-1)[flat].astype(np.float32, copy=False)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_idx, minlength=rows), out=indptr[1:])
    return indptr, col_idx.astype(np.int32), values


__all__ = [
    "FLOAT32_MAX",
    "MAX_DIMENSION",
    "CsrParts",
    "FloatMatrix",
    "Row",
    "RowArrays",
    "SparseVectors",
    "empty_rows",
    "join_rows",
    "prune_dense",
]
