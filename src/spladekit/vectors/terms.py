"""Vectors read as terms: the weighted tokens of a vector, each token's share of a score."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidArgumentError
from ..validation import optional_positive_int
from .convert import as_csr
from .matrix import Row


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


__all__ = ["contributions", "decode_rows"]
