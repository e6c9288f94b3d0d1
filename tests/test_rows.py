import numpy as np
import pytest

import shiftkit._rows as rows_module
from shiftkit._rows import distinct_rows, match_rows, row_hashes


def test_distinct_rows_reconstruct_the_data_and_count_copies():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 4))
    X = base[rng.integers(0, 50, 400)]
    d = distinct_rows(X)
    np.testing.assert_array_equal(X[d.first][d.inverse], X)
    assert d.counts.sum() == 400
    assert d.n_distinct == len(np.unique(X, axis=0))
    np.testing.assert_array_equal(d.counts, np.bincount(d.inverse))


def test_content_order_does_not_depend_on_row_order():
    rng = np.random.default_rng(1)
    X = np.repeat(rng.normal(size=(30, 3)), 3, axis=0)
    perm = rng.permutation(len(X))
    a, b = distinct_rows(X), distinct_rows(X[perm])
    np.testing.assert_array_equal(X[a.first], X[perm][b.first])
    np.testing.assert_array_equal(a.counts, b.counts)


def test_minus_zero_is_zero():
    d = distinct_rows(np.array([[0.0, 1.0], [-0.0, 1.0]]))
    assert d.n_distinct == 1
    assert row_hashes(np.array([[-0.0]]))[0] == row_hashes(np.array([[0.0]]))[0]


def test_colliding_hashes_are_told_apart_by_value(monkeypatch):
    X = np.array([[3.0, 1.0], [1.0, 2.0], [3.0, 1.0], [1.0, 0.0]])
    monkeypatch.setattr(rows_module, "row_hashes", lambda A: np.zeros(len(A), dtype=np.uint64))
    d = distinct_rows(X)
    assert d.n_distinct == 3
    np.testing.assert_array_equal(X[d.first], [[1.0, 0.0], [1.0, 2.0], [3.0, 1.0]])  # by value
    np.testing.assert_array_equal(X[d.first][d.inverse], X)


@pytest.mark.parametrize("shape", [(0, 3), (5, 0)])
def test_edge_shapes(shape):
    d = distinct_rows(np.zeros(shape))
    assert d.inverse.shape == (shape[0],)


def test_match_rows_finds_equal_rows_only():
    known = np.array([[1.0, 2.0], [3.0, 4.0], [-0.0, 5.0]])
    queries = np.array([[3.0, 4.0], [3.0, 4.000001], [0.0, 5.0], [1.0, 2.0], [9.0, 9.0]])
    np.testing.assert_array_equal(match_rows(known, queries), [1, -1, 2, 0, -1])
    assert match_rows(known[:0], queries).tolist() == [-1] * 5
    assert match_rows(known, queries[:0]).shape == (0,)


def test_match_rows_never_reports_a_colliding_row(monkeypatch):
    monkeypatch.setattr(rows_module, "row_hashes", lambda A: np.zeros(len(A), dtype=np.uint64))
    known = np.array([[1.0], [2.0]])
    found = match_rows(known, np.array([[2.0], [3.0]]))
    assert found[1] == -1 and found[0] in (-1, 1)  # a collision may miss an equal row, never a wrong one
