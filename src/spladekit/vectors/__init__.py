"""SPLADE vectors: their shapes, the result type, pruning, every conversion, terms.

- :mod:`.matrix`: one name per shape (:class:`SparseVectors`, :data:`Row`, :data:`RowArrays`,
  :data:`CsrParts`) and :func:`prune_dense`;
- :mod:`.convert`: every conversion between those shapes and to TEI's JSON and Arrow, and
  :func:`to_milvus_rows`, which validates any form users have;
- :mod:`.terms`: vectors read as tokens (:func:`decode_rows`, :func:`contributions`).
"""

from __future__ import annotations

from .convert import (
    arrow_to_csr,
    arrow_vector_type,
    as_csr,
    csr_parts,
    rows_to_csr,
    split_arrays,
    stack_arrays,
    tei_json_arrays,
    to_arrow,
    to_milvus_rows,
    to_tei_json,
)
from .matrix import (
    FLOAT32_MAX,
    MAX_DIMENSION,
    CsrParts,
    FloatMatrix,
    Row,
    RowArrays,
    SparseVectors,
    empty_rows,
    join_rows,
    prune_dense,
)
from .terms import contributions, decode_rows

__all__ = [
    "FLOAT32_MAX",
    "MAX_DIMENSION",
    "CsrParts",
    "FloatMatrix",
    "Row",
    "RowArrays",
    "SparseVectors",
    "arrow_to_csr",
    "arrow_vector_type",
    "as_csr",
    "contributions",
    "csr_parts",
    "decode_rows",
    "empty_rows",
    "join_rows",
    "prune_dense",
    "rows_to_csr",
    "split_arrays",
    "stack_arrays",
    "tei_json_arrays",
    "to_arrow",
    "to_milvus_rows",
    "to_tei_json",
]
