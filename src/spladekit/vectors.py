"""SPLADE vectors: the result type, pruning, and every vector form to Milvus rows, validated once.

:class:`SparseVectors` is what encoders return: a 2-D float32 ``scipy.sparse.csr_array`` of
shape (n, dim) that also behaves as a sequence of n rows, each a (1, dim) ``SparseVectors``.
That is what pymilvus and the Milvus docs expect of ``encode_documents``/``encode_queries``
output: ``list(vectors)[0].shape == (1, dim)``, ``insert`` takes the rows and ``search`` the
whole matrix. What differs from a plain ``csr_array``:

- ``iter(v)`` yields (1, dim) rows (a plain one yields 1-D rows of shape (dim,));
- ``len(v)`` is the number of rows (a plain one raises "sparse array length is ambiguous").

Everything else (arithmetic, slicing, ``vstack``, pickling) is ``csr_array``'s; results of
arithmetic and slicing keep the class (``v * 2``, ``v + v``, ``v[0:1]`` are ``SparseVectors``),
``vstack`` gives a plain ``csr_array``.

:func:`to_milvus_rows` turns every form users have (that matrix, a plain scipy matrix, dict
rows, 1 x V or 1-D rows, dense numpy rows, lists of ``(index, weight)`` pairs) into validated
``{index: weight}`` rows with positive float32 weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array, issparse

from .errors import InputTypeError, InvalidArgumentError
from .validation import optional_positive_int

FloatMatrix = NDArray[np.float32]
Row = dict[int, float]

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
    # Row-major flat positions, so columns come out sorted per row (flatnonzero is several
    # times faster than a 2-D nonzero on wide rows).
    flat = np.flatnonzero(keep)
    row_idx, col_idx = np.divmod(flat, dim)
    values = weights.reshape(-1)[flat].astype(np.float32, copy=False)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_idx, minlength=rows), out=indptr[1:])
    return indptr, col_idx.astype(np.int32), values


def stack_rows(
    rows: Sequence[tuple[NDArray[np.int32], NDArray[np.float32]]], dim: int
) -> SparseVectors:
    """Build a (len(rows), dim) :class:`SparseVectors` from per-row (indices, values) pairs."""
    if len(rows) == 1 and _ONE_ROW_FIELDS is not None:
        return _one_row(rows[0][0], rows[0][1], dim)
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    if rows:
        np.cumsum([len(idx) for idx, _ in rows], out=indptr[1:])
        indices = np.concatenate([idx for idx, _ in rows]).astype(np.int32, copy=False)
        values = np.concatenate([val for _, val in rows]).astype(np.float32, copy=False)
    else:
        indices = np.zeros(0, dtype=np.int32)
        values = np.zeros(0, dtype=np.float32)
    matrix = SparseVectors((values, indices, indptr), shape=(len(rows), dim))
    matrix.has_sorted_indices = True
    return matrix


def _one_row_fields() -> frozenset[str] | None:
    """The attributes scipy's checked constructor gives a (1, dim) matrix, if as expected."""
    probe = SparseVectors(
        (np.ones(1, np.float32), np.zeros(1, np.int32), np.array([0, 1], np.int64)), shape=(1, 8)
    )
    fields = frozenset(vars(probe))
    known = {"_shape", "maxprint", "indices", "indptr", "data", "_has_sorted_indices"}
    # Another scipy may keep other state: then every row goes through the checked constructor.
    return fields if fields <= known | {"_has_canonical_format"} else None


_ONE_ROW_FIELDS = _one_row_fields()
_MAXPRINT = SparseVectors((1, 1)).maxprint


def _one_row(indices: NDArray[Any], values: NDArray[Any], dim: int) -> SparseVectors:
    """A (1, dim) matrix from one row's sorted, unique, in-range indices and their values.

    A single query's vector: scipy's constructor spends longer on checks (index dtype choice,
    format checks, pruning) than an inference-free query takes to tokenise, and the rows
    spladekit builds satisfy them by construction (tests compare this with the checked path).
    """
    matrix = SparseVectors.__new__(SparseVectors)
    matrix._shape = (1, dim)
    matrix.maxprint = _MAXPRINT
    # int64 index arrays, as the checked constructor makes of stack_rows' int64 indptr.
    matrix.indices = np.ascontiguousarray(indices, dtype=np.int64)
    matrix.indptr = np.array([0, len(matrix.indices)], dtype=np.int64)
    matrix.data = np.ascontiguousarray(values, dtype=np.float32)
    matrix._has_sorted_indices = True
    return matrix


def as_csr(vectors: object, what: str = "vectors") -> csr_array:
    """A 2-D scipy sparse matrix as a plain ``csr_array``; anything else is refused."""
    if not issparse(vectors):
        raise InputTypeError(
            f"{what} must be a scipy sparse matrix such as the csr_array returned by "
            f"encode_documents/encode_queries, got {type(vectors).__name__}"
        )
    matrix = csr_array(vectors)
    if matrix.ndim != 2:
        raise InvalidArgumentError(f"{what} must be 2-D (n, dim), got shape {matrix.shape}")
    return matrix


def decode_rows(
    vectors: object, vocabulary: Sequence[str], top_k: int | None = None
) -> list[list[tuple[str, float]]]:
    """Per row, the (token, weight) pairs in decreasing weight order, at most ``top_k`` of them."""
    matrix = as_csr(vectors)
    if matrix.shape[1] > len(vocabulary):
        raise InvalidArgumentError(
            f"vectors have {matrix.shape[1]} columns but the vocabulary has {len(vocabulary)} "
            "tokens; decode with the encoder that produced them"
        )
    top_k = optional_positive_int("top_k", top_k)
    result: list[list[tuple[str, float]]] = []
    for i in range(matrix.shape[0]):
        lo, hi = int(matrix.indptr[i]), int(matrix.indptr[i + 1])
        idx, val = matrix.indices[lo:hi], matrix.data[lo:hi]
        order = np.argsort(-val, kind="stable")[:top_k]
        result.append([(vocabulary[int(idx[j])], float(val[j])) for j in order])
    return result


def contributions(query: Row, document: Row) -> Row:
    """Each shared token's share of a query-document score (query weight x document weight).

    The shares sum to the score; :meth:`SpladeEncoder.decode` turns them into tokens.
    """
    return {i: query[i] * document[i] for i in query.keys() & document.keys()}


def rows_to_csr(rows: Sequence[Row], dim: int | None = None) -> SparseVectors:
    """A (len(rows), dim) float32 matrix from dict rows (dim: one past the largest index)."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    total = int(indptr[-1])
    indices = np.fromiter((i for r in rows for i in sorted(r)), dtype=np.int64, count=total)
    values = np.fromiter(
        (r[i] for r in rows for i in sorted(r)), dtype=np.float32, count=total
    )
    width = dim if dim is not None else int(indices.max()) + 1 if total else 1
    matrix = SparseVectors((values, indices, indptr), shape=(len(rows), width))
    matrix.has_sorted_indices = True
    return matrix


# -- every form to Milvus rows -------------------------------------------------------------------


def to_milvus_rows(vectors: object, what: str = "vectors") -> list[Row]:
    """Validated ``{index: weight}`` rows (positive float32 weights only) from any accepted form.

    Accepted: a 2-D scipy sparse matrix or numpy array (one row each), a single row (a dict, a
    1 x V or 1-D scipy row, a 1-D numpy array), or a list of rows in any of those forms or as
    lists of ``(index, weight)`` pairs. Weights must be finite and non-negative; zeros are
    dropped. pymilvus itself rejects a 2-D ``csr_array`` in ``search`` and 1-D rows in
    ``insert``; these rows work in both.
    """
    if issparse(vectors):
        sparse: Any = vectors
        if sparse.ndim == 1:
            return [_single_row(sparse, what, 0)]
        return _matrix_rows(csr_array(sparse), what)
    if isinstance(vectors, np.ndarray):
        if vectors.ndim == 1:
            return [_single_row(vectors, what, 0)]
        if vectors.ndim == 2:
            return _matrix_rows(csr_array(vectors), what)
        raise InvalidArgumentError(
            f"{what} must be 1-D or 2-D, got an array of shape {vectors.shape}"
        )
    if isinstance(vectors, Mapping):
        return [_single_row(vectors, what, 0)]
    if isinstance(vectors, (list, tuple)):
        return [_single_row(v, what, i) for i, v in enumerate(vectors)]
    raise InputTypeError(
        f"{what} must be a scipy sparse matrix (such as encode_documents/encode_queries return), "
        f"a dict row, or a list of rows; got {type(vectors).__name__}"
    )


def _bad_weight(what: str, row: int, index: int, weight: float) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{what} row {row} has weight {weight!r} at index {index}; weights must be finite and "
        "non-negative (SPLADE weights are)"
    )


def _check_index_value(what: str, row: int, index: object) -> int:
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise InputTypeError(f"{what} row {row}: indices must be ints, got {type(index).__name__}")
    value = int(index)
    if not 0 <= value < MAX_DIMENSION:
        raise InvalidArgumentError(
            f"{what} row {row}: index {value} is outside 0..{MAX_DIMENSION - 1}"
        )
    return value


def _row_from_pairs(pairs: Any, what: str, row: int) -> Row:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: Row = {}
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise InputTypeError(
                f"{what} row {row}: expected (index, weight) pairs, got {type(item).__name__}"
            )
        index, weight = item
        col = _check_index_value(what, row, index)
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
            raise InputTypeError(
                f"{what} row {row}: weights must be numbers, got {type(weight).__name__}"
            )
        value = float(weight)
        if not math.isfinite(value) or not 0 <= value <= FLOAT32_MAX:
            raise _bad_weight(what, row, col, value)
        # Milvus stores float32: a weight that rounds to 0 there counts as absent.
        value = float(np.float32(value))
        if value > 0:
            out[col] = out.get(col, 0.0) + value
    return out


def _matrix_rows(matrix: csr_array, what: str, first_row: int = 0) -> list[Row]:
    matrix.sum_duplicates()
    data = matrix.data
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.complexfloating):
        raise InputTypeError(f"{what} must hold real numbers, got dtype {data.dtype}")
    bad = ~np.isfinite(data) | (data < 0) | (data > FLOAT32_MAX)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(matrix.indptr, pos, side="right")) - 1
        raise _bad_weight(what, first_row + row, int(matrix.indices[pos]), float(data[pos]))
    if matrix.shape[1] > MAX_DIMENSION:
        raise InvalidArgumentError(
            f"{what} have {matrix.shape[1]} columns; Milvus allows {MAX_DIMENSION}"
        )
    indptr, indices = matrix.indptr, matrix.indices
    values = data.astype(np.float32, copy=False)
    out: list[Row] = []
    for i in range(matrix.shape[0]):
        lo, hi = int(indptr[i]), int(indptr[i + 1])
        row_values = values[lo:hi]
        keep = row_values > 0  # zeros (and weights that round to 0 in float32) are absent
        out.append(
            dict(zip(indices[lo:hi][keep].tolist(), row_values[keep].tolist(), strict=True))
        )
    return out


def _single_row(value: object, what: str, row: int) -> Row:
    if isinstance(value, Mapping):
        return _row_from_pairs(value, what, row)
    if issparse(value):
        sparse: Any = value
        if sparse.ndim == 1:
            coo = sparse.tocoo()
            matrix = csr_array(
                (coo.data, (np.zeros(coo.nnz, dtype=np.int64), coo.coords[0])),
                shape=(1, sparse.shape[0]),
            )
            return _matrix_rows(matrix, what, row)[0]
        if sparse.shape[0] != 1:
            raise InvalidArgumentError(
                f"{what} row {row} is a sparse matrix of shape {sparse.shape}; a row must be 1 x V"
            )
        return _matrix_rows(csr_array(sparse), what, row)[0]
    if isinstance(value, np.ndarray):
        if value.ndim == 1 or (value.ndim == 2 and value.shape[0] == 1):
            return _matrix_rows(csr_array(value.reshape(1, -1)), what, row)[0]
        raise InvalidArgumentError(
            f"{what} row {row} is an array of shape {value.shape}; a row must be 1-D"
        )
    if isinstance(value, (list, tuple)):
        return _row_from_pairs(value, what, row)
    raise InputTypeError(
        f"{what} row {row}: expected a dict {{index: weight}}, a scipy sparse row, a 1-D numpy "
        f"array or a list of (index, weight) pairs, got {type(value).__name__}"
    )


__all__ = [
    "MAX_DIMENSION",
    "Row",
    "SparseVectors",
    "as_csr",
    "contributions",
    "decode_rows",
    "prune_dense",
    "rows_to_csr",
    "stack_rows",
    "to_milvus_rows",
]
