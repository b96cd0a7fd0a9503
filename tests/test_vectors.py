"""SparseVectors, pruning, and every conversion between vector shapes: the pure vector helpers."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from scipy.sparse import csr_array, vstack

from spladekit import InputTypeError, InvalidArgumentError, MalformedVectorsError
from spladekit.vectors import (
    SparseVectors,
    arrow_to_csr,
    contributions,
    csr_parts,
    empty_rows,
    prune_dense,
    rows_to_csr,
    split_arrays,
    stack_arrays,
    tei_json_arrays,
    to_arrow,
    to_milvus_rows,
    to_tei_json,
)


def example() -> SparseVectors:
    return stack_arrays(
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


def test_stack_arrays_builds_sorted_rows_and_empty_matrices() -> None:
    m = example()
    assert m.has_sorted_indices
    assert np.diff(m.indptr).tolist() == [2, 0, 1]
    empty = stack_arrays([], 30522)
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
    row = (np.array([3, 17, 30000], np.int32), np.array([0.5, 1.5, 2.5], np.float32))
    fast = stack_arrays([row], 30522)
    checked = SparseVectors((row[1], row[0], np.array([0, 3], np.int64)), shape=(1, 30522))
    assert type(fast) is SparseVectors and fast.shape == (1, 30522)
    for name in ("data", "indices", "indptr"):
        assert getattr(fast, name).dtype == getattr(checked, name).dtype
        assert getattr(fast, name).tolist() == getattr(checked, name).tolist()
    fast.check_format(full_check=True)  # scipy's own full validation accepts it
    assert (fast != checked).nnz == 0 and fast.has_sorted_indices
    assert [r.shape for r in fast] == [(1, 30522)] and len(fast) == 1
    both = stack_arrays([row, row], 30522)
    assert both.indices.dtype == fast.indices.dtype and both.indptr.dtype == fast.indptr.dtype


def test_row_arrays_round_trip_through_a_matrix() -> None:
    m = example()
    rows = split_arrays(csr_parts(m))
    assert [r[0].tolist() for r in rows] == [[1, 5], [], [3]]
    assert [r[1].tolist() for r in rows] == [[0.5, 2.0], [], [4.0]]
    again = stack_arrays(rows, 10)
    assert (again != m).nnz == 0 and again.shape == m.shape
    assert split_arrays(csr_parts(stack_arrays([], 10))) == []


def test_tei_json_round_trips_float32_weights_exactly() -> None:
    m = stack_arrays(
        [(np.array([2, 9], np.int32), np.array([0.1, 1 / 3], np.float32)),
         (np.array([], np.int32), np.array([], np.float32))],
        10,
    )
    answer = json.loads(to_tei_json(m))
    assert [[entry["index"] for entry in row] for row in answer] == [[2, 9], []]
    assert all(set(entry) == {"index", "value"} for entry in answer[0])
    back = stack_arrays(tei_json_arrays(answer, 10), 10)
    assert back.data.tolist() == m.data.tolist() and back.indices.tolist() == [2, 9]


def test_tei_json_rows_are_sorted_and_keep_only_positive_weights() -> None:
    [(indices, values)] = tei_json_arrays(
        [[{"index": 7, "value": 1.0}, {"index": 3, "value": 0.0}, {"index": 1, "value": 2.0}]], 10
    )
    assert indices.tolist() == [1, 7] and values.tolist() == [2.0, 1.0]
    assert indices.dtype == np.int32 and values.dtype == np.float32


@pytest.mark.parametrize(
    ("answer", "expected", "index"),
    [
        ([[{"index": 1}]], 'lists of {"index": int, "value": float}', None),
        ([[{"index": 1, "value": 1.0}], ["x"]], 'lists of {"index": int, "value": float}', None),
        ([[{"index": True, "value": 1.0}]], 'lists of {"index": int, "value": float}', None),
        ([[{"index": 1, "value": 1e39}]], "finite float32 values", None),
        ([[{"index": 1, "value": 1.0}, {"index": 1, "value": 2.0}]], "each index once", None),
        ([[{"index": 10, "value": 1.0}]], "indices in 0..9", 10),
        ([[{"index": -1, "value": 1.0}]], "indices in 0..9", -1),
    ],
)
def test_bad_tei_json_is_named(answer: list[object], expected: str, index: int | None) -> None:
    with pytest.raises(MalformedVectorsError, match=f"expected {expected}") as error:
        tei_json_arrays(answer, 10)
    assert error.value.index == index
    assert isinstance(error.value, InvalidArgumentError)


def test_arrow_columns_round_trip_whole_and_sliced() -> None:
    pa = pytest.importorskip("pyarrow")
    m = example()
    column = to_arrow(m)
    assert column.type.field("indices").type == pa.list_(pa.uint32())
    assert column.type.field("values").type == pa.list_(pa.float32())
    assert column.to_pylist()[0] == {"indices": [1, 5], "values": [0.5, 2.0]}
    back = arrow_to_csr(column, 10)
    assert isinstance(back, SparseVectors) and (back != m).nnz == 0
    # A table sliced into upsert batches: each slice reads its own rows only.
    table = pa.table({"vector": column})
    tail = arrow_to_csr(table.slice(1, 2).column("vector"), 10)
    assert tail.shape == (2, 10) and (tail != m[1:3]).nnz == 0


def test_empty_rows_are_the_rows_without_any_weight() -> None:
    assert empty_rows(example()).tolist() == [False, True, False]
    assert empty_rows(stack_arrays([], 10)).tolist() == []
