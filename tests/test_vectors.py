"""SparseVectors, pruning, assembly and conversion to Milvus rows: the pure vector helpers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.sparse import csr_array, vstack

from spladekit import InputTypeError, InvalidArgumentError
from spladekit.vectors import (
    SparseVectors,
    contributions,
    prune_dense,
    rows_to_csr,
    stack_rows,
    to_milvus_rows,
)


def example() -> SparseVectors:
    return stack_rows(
        [
            (np.array([1, 5], np.int32), np.array([0.5, 2.0], np.float32)),
            (np.array([], np.int32), np.array([], np.float32)),
            (np.array([3], np.int32), np.array([4.0], np.float32)),
        ],
        10,
    )


def test_sparse_vectors_are_csr_arrays_that_iterate_as_2d_rows() -> None:
    m = example()
    assert isinstance(m, csr_array) and m.dtype == np.float32 and m.shape == (3, 10)
    assert len(m) == 3
    rows = list(m)
    assert [r.shape for r in rows] == [(1, 10)] * 3
    assert all(isinstance(r, SparseVectors) for r in rows)
    np.testing.assert_array_equal(np.vstack([r.toarray() for r in rows]), m.toarray())
    assert m.row(-1).toarray()[0, 3] == 4.0
    with pytest.raises(IndexError):
        m.row(3)


def test_scipy_operations_keep_working() -> None:
    m = example()
    dense = m.toarray()
    np.testing.assert_allclose((m * 2).toarray(), dense * 2)
    np.testing.assert_allclose((m @ m.T).toarray(), dense @ dense.T)
    np.testing.assert_allclose(m[[0, 2]].toarray(), dense[[0, 2]])
    assert m[0].shape == (10,)  # integer indexing is scipy's: a 1-D row
    stacked = vstack([m, m])
    assert stacked.shape == (6, 10) and type(stacked) is csr_array
    np.testing.assert_allclose(stacked.toarray(), np.vstack([dense, dense]))
    again = pickle.loads(pickle.dumps(m))
    assert isinstance(again, SparseVectors) and (again != m).nnz == 0
    # numpy treats the matrix as one object, as it does a plain csr_array.
    assert np.asarray(m).shape == ()


def test_prune_dense_keeps_weights_above_the_threshold_and_the_top_k() -> None:
    weights = np.array([[0.0, 0.2, 0.9, 0.5], [0.0, 0.0, 0.0, 0.0], [0.3, 0.1, 0.0, 0.7]],
                       dtype=np.float32)
    indptr, indices, values = prune_dense(weights)
    assert indptr.tolist() == [0, 3, 3, 6]
    assert indices.tolist() == [1, 2, 3, 0, 1, 3]
    np.testing.assert_allclose(values, [0.2, 0.9, 0.5, 0.3, 0.1, 0.7])
    indptr, indices, values = prune_dense(weights, top_k=2, threshold=0.15)
    assert indptr.tolist() == [0, 2, 2, 4]
    assert indices.tolist() == [2, 3, 0, 3]  # sorted columns, the two largest per row
    assert (values > 0.15).all()


def test_stack_rows_builds_sorted_rows_and_empty_matrices() -> None:
    m = example()
    assert m.has_sorted_indices
    assert np.diff(m.indptr).tolist() == [2, 0, 1]
    empty = stack_rows([], 30522)
    assert empty.shape == (0, 30522) and isinstance(empty, SparseVectors) and len(empty) == 0


def test_every_vector_form_becomes_the_same_milvus_rows() -> None:
    m = example()
    expected = [{1: 0.5, 5: 2.0}, {}, {3: 4.0}]
    assert to_milvus_rows(m) == expected
    assert to_milvus_rows(csr_array(m)) == expected
    assert to_milvus_rows(m.toarray()) == expected
    assert to_milvus_rows(list(m)) == expected
    assert to_milvus_rows([m[0], m[1], m[2]]) == expected  # 1-D rows
    assert to_milvus_rows([[(1, 0.5), (5, 2.0)], [], {3: 4.0}]) == expected
    assert to_milvus_rows({7: 1.0}) == [{7: 1.0}]
    assert rows_to_csr(expected, 10).toarray().tolist() == m.toarray().tolist()


@pytest.mark.parametrize(
    ("vectors", "error", "fragment"),
    [
        ("text", InputTypeError, "must be a scipy sparse matrix"),
        ([{1: float("nan")}], InvalidArgumentError, "row 0 has weight nan"),
        ([{1: -1.0}], InvalidArgumentError, "weights must be finite and non-negative"),
        ([{1.5: 1.0}], InputTypeError, "indices must be ints"),
        ([{1: "x"}], InputTypeError, "weights must be numbers"),
        (np.zeros((2, 2, 2)), InvalidArgumentError, "must be 1-D or 2-D"),
    ],
)
def test_bad_vectors_are_named(vectors: object, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        to_milvus_rows(vectors)


def test_contributions_sum_to_the_score() -> None:
    query, document = {1: 2.0, 4: 1.0, 9: 3.0}, {1: 0.5, 9: 2.0, 11: 7.0}
    shares = contributions(query, document)
    assert shares == {1: 1.0, 9: 6.0}
    assert sum(shares.values()) == 7.0


def test_a_single_row_is_built_as_the_checked_constructor_builds_it() -> None:
    from spladekit.vectors import stack_rows

    row = (np.array([3, 17, 30000], np.int32), np.array([0.5, 1.5, 2.5], np.float32))
    fast = stack_rows([row], 30522)
    checked = SparseVectors((row[1], row[0], np.array([0, 3], np.int64)), shape=(1, 30522))
    assert type(fast) is SparseVectors and fast.shape == (1, 30522)
    for name in ("data", "indices", "indptr"):
        assert getattr(fast, name).dtype == getattr(checked, name).dtype
        assert getattr(fast, name).tolist() == getattr(checked, name).tolist()
    fast.check_format(full_check=True)  # scipy's own full validation accepts it
    assert (fast != checked).nnz == 0 and fast.has_sorted_indices
    assert [r.shape for r in fast] == [(1, 30522)] and len(fast) == 1
    both = stack_rows([row, row], 30522)
    assert both.indices.dtype == fast.indices.dtype and both.indptr.dtype == fast.indptr.dtype
