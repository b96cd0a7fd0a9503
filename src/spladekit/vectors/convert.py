"""Every conversion between the shapes of :mod:`.matrix`, and to the wire formats.

- :data:`RowArrays` <-> :class:`SparseVectors`: :func:`stack_arrays`, :func:`split_arrays` (of
  :data:`CsrParts`, which :func:`csr_parts` takes from a matrix);
- :data:`Row` -> :class:`SparseVectors`: :func:`rows_to_csr`;
- any form users have -> validated :data:`Row`s: :func:`to_milvus_rows` (that matrix, a plain
  scipy matrix, dict rows, 1 x V or 1-D rows, dense numpy rows, lists of ``(index, weight)``
  pairs), with positive float32 weights;
- TEI's sparse JSON (``[[{"index": i, "value": w}, ...], ...]``): :func:`to_tei_json`,
  :func:`tei_json_arrays`;
- Arrow (a struct of ``indices`` uint32 and ``values`` float32 lists, as Ray Data blocks carry
  vectors): :func:`arrow_vector_type`, :func:`to_arrow`, :func:`arrow_to_csr` (pyarrow is
  imported only by these).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_array, issparse

from ..errors import (
    InputTypeError,
    InvalidArgumentError,
    MalformedVectorsError,
    MissingDependencyError,
)
from .matrix import FLOAT32_MAX, MAX_DIMENSION, CsrParts, Row, RowArrays, SparseVectors

ARROW_INSTALL = "pip install 'spladekit[parquet]'"


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


# -- RowArrays and CsrParts <-> SparseVectors ----------------------------------------------------


def stack_arrays(rows: Sequence[RowArrays], dim: int) -> SparseVectors:
    """A (len(rows), dim) :class:`SparseVectors` from each row's sorted (indices, values)."""
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


def csr_parts(vectors: csr_array) -> CsrParts:
    """A matrix's ``(indptr, indices, values)``, without copies."""
    return vectors.indptr, vectors.indices, vectors.data


def split_arrays(parts: CsrParts) -> list[RowArrays]:
    """Each row's (indices, values): views into ``parts``, no copies."""
    indptr, indices, values = parts
    bounds = indptr.tolist()
    return [(indices[lo:hi], values[lo:hi]) for lo, hi in itertools.pairwise(bounds)]


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
    # int64 index arrays, as the checked constructor makes of stack_arrays' int64 indptr.
    matrix.indices = np.ascontiguousarray(indices, dtype=np.int64)
    matrix.indptr = np.array([0, len(matrix.indices)], dtype=np.int64)
    matrix.data = np.ascontiguousarray(values, dtype=np.float32)
    matrix._has_sorted_indices = True
    return matrix


# -- Row -> SparseVectors ------------------------------------------------------------------------


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


# -- TEI's sparse JSON ---------------------------------------------------------------------------


def to_tei_json(vectors: csr_array) -> bytes:
    """TEI's ``/embed_sparse`` answer for a (n, dim) matrix: the non-zero entries of each row.

    Values are float32 widened to float64, whose shortest repr reads back as the same float32.
    """
    indices = vectors.indices.tolist()
    values = vectors.data.astype(np.float64).tolist()
    rows = [
        [{"index": i, "value": v} for i, v in zip(indices[lo:hi], values[lo:hi], strict=True) if v]
        for lo, hi in itertools.pairwise(vectors.indptr.tolist())
    ]
    return json.dumps(rows, separators=(",", ":")).encode("ascii")


def tei_json_arrays(answer: Sequence[object], dim: int) -> list[RowArrays]:
    """Each row of a parsed ``/embed_sparse`` answer as sorted (indices, values), checked.

    Each row must be a list of ``{"index": int, "value": number}`` with every index once,
    inside ``0..dim-1``, and finite float32 values; anything else raises
    :class:`~spladekit.MalformedVectorsError` naming what was expected. Values that are not
    positive are dropped (TEI sends non-zero entries only; this makes sure of it).
    """
    rows: list[RowArrays] = []
    for position, entries in enumerate(answer):
        pairs = _tei_pairs(entries)
        if pairs is None:
            raise _malformed(position, _TEI_ROW, entries)
        for index, _ in pairs:
            if not 0 <= index < dim:
                raise _malformed(position, f"indices in 0..{dim - 1}", entries, index)
        indices = np.array([i for i, _ in pairs], dtype=np.int64)
        values = np.array([v for _, v in pairs], dtype=np.float64)
        if not (np.abs(values) <= FLOAT32_MAX).all():  # also false for NaN
            raise _malformed(position, "finite float32 values", entries)
        if np.unique(indices).size != indices.size:
            raise _malformed(position, "each index once per vector", entries)
        keep = values > 0
        order = np.argsort(indices[keep], kind="stable")
        rows.append((indices[keep][order].astype(np.int32), values[keep][order].astype(np.float32)))
    return rows


_TEI_ROW = 'lists of {"index": int, "value": float}'


def _tei_pairs(entries: object) -> list[tuple[int, float]] | None:
    """``[{"index": int, "value": number}, ...]`` as pairs; None for anything else."""
    if not isinstance(entries, list):
        return None
    pairs = []
    for entry in entries:
        if not isinstance(entry, dict):
            return None
        index, value = entry.get("index"), entry.get("value")
        if isinstance(index, bool) or not isinstance(index, int):
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        pairs.append((index, float(value)))
    return pairs


def _malformed(
    position: int, expected: str, got: object, index: int | None = None
) -> MalformedVectorsError:
    shown = repr(got)
    shown = shown[:120] + "..." if len(shown) > 120 else shown
    fault = f"index {index}" if index is not None else shown
    return MalformedVectorsError(
        f"vector {position}: expected {expected}, got {fault}", expected, got, index
    )


# -- Arrow ---------------------------------------------------------------------------------------


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
    except ImportError as exc:
        raise MissingDependencyError(
            f"vectors as Arrow need pyarrow, which is not installed: {ARROW_INSTALL}"
        ) from exc
    return pa


def arrow_vector_type() -> Any:
    """The Arrow type of a vector: a struct of ``indices`` (uint32) and ``values`` (float32)."""
    pa = _pyarrow()
    return pa.struct(
        [pa.field("indices", pa.list_(pa.uint32())), pa.field("values", pa.list_(pa.float32()))]
    )


def to_arrow(vectors: csr_array) -> Any:
    """A (n, dim) matrix as an Arrow ``StructArray`` of :func:`arrow_vector_type`, one per row."""
    pa = _pyarrow()
    offsets = pa.array(vectors.indptr.astype(np.int32))
    indices = pa.ListArray.from_arrays(offsets, pa.array(vectors.indices.astype(np.uint32)))
    values = pa.ListArray.from_arrays(offsets, pa.array(vectors.data.astype(np.float32)))
    return pa.StructArray.from_arrays([indices, values], fields=list(arrow_vector_type()))


def arrow_to_csr(column: Any, dim: int) -> SparseVectors:
    """An Arrow column of :func:`arrow_vector_type` as a (rows, ``dim``) matrix, read from the
    Arrow buffers (no Python loop per weight)."""
    vector = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    indices_list, values_list = vector.field("indices"), vector.field("values")
    offsets = indices_list.offsets.to_numpy()
    first, last = int(offsets[0]), int(offsets[-1])
    indices = indices_list.values.to_numpy()[first:last].astype(np.int64)
    values = values_list.values.to_numpy()[first:last]
    return SparseVectors((values, indices, offsets - first), shape=(len(vector), dim))


__all__ = [
    "ARROW_INSTALL",
    "arrow_to_csr",
    "arrow_vector_type",
    "as_csr",
    "csr_parts",
    "rows_to_csr",
    "split_arrays",
    "stack_arrays",
    "tei_json_arrays",
    "to_arrow",
    "to_milvus_rows",
    "to_tei_json",
]
