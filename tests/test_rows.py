import numpy as np
import pytest

import shiftkit._rows as rows_module
from shiftkit._rows import distinct_rows, match_rows, row_hashes, scale_free_hashes


def _mix(h):
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def plain_row_hashes(X):
    """The hash, column by column in numpy: the reference of the kernel's."""
    bits = (np.asarray(X, dtype=np.float64) + 0.0).view(np.uint64)
    h = np.full(X.shape[0], np.uint64(X.shape[1]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(X.shape[1]):
            h = _mix((h ^ bits[:, j]) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(j))
    return h


def test_the_kernel_hashes_rows_as_the_plain_reference(monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(700, 9)) * 10.0 ** rng.integers(-5, 5, size=(700, 1))
    X[:4, 0] = [-0.0, 0.0, np.inf, -np.inf]
    X32 = X[:, ::2].astype(np.float32)  # float32 and not contiguous
    monkeypatch.setattr(rows_module, "_ROWS_PER_BLOCK", 256)  # more than one block
    np.testing.assert_array_equal(row_hashes(X), plain_row_hashes(X))
    np.testing.assert_array_equal(row_hashes(X32), plain_row_hashes(X32))
    assert row_hashes(X[:, :0]).tolist() == plain_row_hashes(X[:, :0]).tolist()
    # the scale-free hash is the plain hash of the grid: centered, over the spread, in 2^-16 steps
    Y = rng.normal(size=(600, 5)) * 3.0 + 7.0
    unit = np.ldexp(1.0, int(np.frexp(np.abs(Y).max())[1]))
    mean = (Y / unit).sum(0) / len(Y)
    step = float(np.sqrt(np.square(Y / unit - mean).sum() / Y.size)) * 2.0**-16
    np.testing.assert_array_equal(scale_free_hashes(Y), plain_row_hashes(np.floor((Y / unit - mean) / step)))


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


def test_scale_free_order_is_the_same_for_the_data_scaled_or_moved():
    rng = np.random.default_rng(2)
    X = np.round(rng.normal(size=(2000, 6)) * 1024) / 1024  # multiples of 2^-10: moved by 2^20 exactly
    X = np.concatenate([X, X[:100]])
    ref = distinct_rows(X, scale_free=True)
    assert ref.n_distinct == 2000
    for Y in (X * 1e-30, X * 1e3, X * 1e30, X + 2.0**20, (X - 7.0) * 3.7):
        d = distinct_rows(Y, scale_free=True)
        np.testing.assert_array_equal(d.first, ref.first)  # the same rows, in the same order
        np.testing.assert_array_equal(d.inverse, ref.inverse)
    # the order by the float64 bits is another for the same data scaled
    assert not np.array_equal(distinct_rows(X * 1e3).first, distinct_rows(X).first)


def test_rows_nearer_than_the_scale_free_grid_stay_distinct():
    X = np.array([[0.0, 0.0], [1.0, 1.0 + 1e-9], [1.0, 1.0], [1.0, 1.0]])
    d = distinct_rows(X, scale_free=True)
    assert d.n_distinct == 3
    np.testing.assert_array_equal(X[d.first][d.inverse], X)
    at = list(d.first)
    assert at.index(2) == at.index(1) - 1  # one grid cell: in the order of their values
    assert distinct_rows(np.zeros((5, 0)), scale_free=True).inverse.shape == (5,)


def test_column_folds_are_the_correctly_rounded_sum_in_any_order_and_any_blocks():
    """Order-free sums (`column_folds`): the rows permuted, or cut into blocks summed apart and their folds
    added, give the same bits; here, the correctly rounded sum (math.fsum). The plain float sum of the same
    rows in those orders does not (so the check can fail)."""
    import math

    from shiftkit._rows import column_folds, fold_total

    rng = np.random.default_rng(0)
    A = rng.standard_normal((30_000, 3)) * [0.1, 3.0, 100.0] + [5.0, -7.0, 1e3]
    bound, n = np.abs(A).max(0), len(A)
    whole = fold_total(column_folds(A, bound, n))
    np.testing.assert_array_equal(whole, [math.fsum(A[:, j]) for j in range(3)])
    plain = set()
    for seed in range(5):
        P = A[np.random.default_rng(seed).permutation(n)]
        blocks = np.split(P, np.sort(np.random.default_rng(seed).choice(n, 7, replace=False)))
        np.testing.assert_array_equal(fold_total(column_folds(P, bound, n)), whole)
        np.testing.assert_array_equal(fold_total(sum(column_folds(B, bound, n) for B in blocks)), whole)
        plain.add(tuple(np.sum([B.sum(0) for B in blocks], axis=0)))
    assert len(plain) > 1


def test_the_snap_is_the_same_for_the_rows_in_any_order():
    from shiftkit._rows import Snap

    rng = np.random.default_rng(1)
    A = rng.standard_normal((70_000, 2)) * [1.0, 1e-3] + [3.0, 0.5]  # over one block of rows
    snap = Snap.fit(A)
    for seed in range(3):
        other = Snap.fit(A[np.random.default_rng(seed).permutation(len(A))])
        np.testing.assert_array_equal(other.mean, snap.mean)
        assert other.unit == snap.unit
    np.testing.assert_allclose(snap.mean, A.mean(0), rtol=1e-14)
    assert snap.unit == pytest.approx(np.sqrt(np.square(A - A.mean(0)).sum(1).mean()), rel=1e-14)
    assert Snap.fit(np.zeros((0, 2))).unit == 1.0 and Snap.fit(np.ones((5, 2))).unit == 1.0


def _in_blocks(X, cuts, scale):
    """``X`` split at ``cuts`` (an empty block and a block of one row among them, as the cuts say), its
    origin (the mean rounded), its framed rows and the blocks' statistics."""
    from shiftkit.cluster.stages import centered
    from shiftkit.distributed._blocks import _block_stats

    origin = np.round(X.mean(0))
    blocks = np.split(X, cuts)
    return blocks, origin, centered(X, origin, scale), [_block_stats(b) for b in blocks]


class Inline:
    """A client that runs its tasks where they are submitted."""

    def submit(self, f, *args, pure=True):
        return f(*args)

    def gather(self, futures):
        return list(futures)


def test_the_snap_of_blocks_is_one_machines_snap_bit_for_bit():
    """The Dask path's snap (`_snap_of_blocks`: extremes, then folds, block by block) against `Snap.fit` of
    all the rows on one machine, with a client that runs its tasks where they are submitted: the same
    mean and unit, and the same snapped rows. The blocks' plain means, combined (Chan et al.), differ in
    the last bit (so the check can fail)."""
    import torch

    from shiftkit._rows import Snap
    from shiftkit.cluster.stages import centered
    from shiftkit.distributed._blocks import _framed_block, _snap_of_blocks

    rng = np.random.default_rng(3)
    X = rng.standard_normal((30_600, 3)) * [3.0, 0.01, 700.0] + [1e3, -5.0, 0.25]
    scale = 256.0
    blocks, origin, framed, stats = _in_blocks(X, [0, 4000, 4001, 17_000], scale)
    one = Snap.fit(framed)
    many = _snap_of_blocks(Inline(), blocks, stats, origin, scale, len(X))
    np.testing.assert_array_equal(many.mean, one.mean)
    assert many.unit == one.unit
    snapped = one.tensor_(torch.tensor(framed)).numpy()
    parts = [_framed_block(b, origin, scale, "float64", many) for b in blocks]
    np.testing.assert_array_equal(np.concatenate(parts), snapped)
    n, mean = 0, np.zeros(3)
    for b in blocks:
        if len(b):
            block_mean = centered(b, origin, scale).mean(0)
            mean, n = mean + (block_mean - mean) * len(b) / (n + len(b)), n + len(b)
    assert not np.array_equal(mean, one.mean)


def _rounded_table(n=3000, seed=0):
    """A continuous column, one rounded to 0.5, a 0/1 column, a column of irregular levels, and one rounded
    to 1 with a deviation of about 0.45 (its step over twice that)."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.normal(size=n) * 4.0,
            np.round(rng.normal(size=n) * 4.0 / 0.5) * 0.5,
            rng.integers(0, 2, n).astype(np.float64),
            rng.choice([0.0, 1.0, 2.5, 7.0], n),
            np.round(rng.normal(size=n) * 0.4),
        ]
    )


def test_a_column_is_read_as_rounded_by_its_regular_grid_coarse_beside_its_spread():
    from shiftkit._rows import RoundedColumns

    A = _rounded_table()
    rounded = RoundedColumns.fit(A)
    np.testing.assert_allclose(rounded.steps, [0.0, 0.5, 0.0, 0.0, 0.0], rtol=1e-12)
    assert RoundedColumns.fit(A[:, [0, 2, 3, 4]]) is None  # continuous, 0/1, irregular, too coarse
    for m in (100, 400):  # a level for five rows at least: 400 rows hold 44 levels, 100 rows 37
        levels = len(np.unique(A[:m, 1]))
        assert (RoundedColumns.fit(A[:m]) is not None) == (levels <= m // 5)
    assert RoundedColumns.fit(A[:400]) is not None and RoundedColumns.fit(A[:100]) is None
    # the rows in another order, scaled or moved: the same columns, the steps scaled
    P = np.random.default_rng(1).permutation(len(A))
    np.testing.assert_array_equal(RoundedColumns.fit(A[P]).steps, rounded.steps)
    np.testing.assert_allclose(RoundedColumns.fit(A * 1e-30).steps, rounded.steps * 1e-30, rtol=1e-12)
    np.testing.assert_allclose(RoundedColumns.fit(A + 1e6).steps, rounded.steps, rtol=1e-9)


def test_spreading_moves_rounded_values_uniformly_over_their_cells_and_equal_rows_alike():
    import torch
    from scipy.stats import kstest

    from shiftkit._rows import RoundedColumns

    A = _rounded_table()
    copies = np.random.default_rng(2).choice(len(A), 300, replace=False)
    A = np.concatenate([A, A[copies]])
    rounded = RoundedColumns.fit(A)
    S = rounded.spread_(torch.tensor(A)).numpy()
    np.testing.assert_array_equal(np.delete(S, 1, axis=1), np.delete(A, 1, axis=1))  # the others as they were
    moved = (S[:, 1] - A[:, 1]) / 0.5 + 0.5  # where in its cell, from 0 to 1
    assert moved.min() >= 0.0 and moved.max() < 1.0
    assert kstest(moved, "uniform").pvalue > 1e-3
    np.testing.assert_array_equal(S[3000:], S[copies])  # copies stay copies
    # the rows in another order move alike; scaled, they move by the scaled amounts
    P = np.random.default_rng(3).permutation(len(A))
    np.testing.assert_array_equal(RoundedColumns.fit(A[P]).spread_(torch.tensor(A[P])).numpy(), S[P])
    scaled = RoundedColumns.fit(A * 3.0).spread_(torch.tensor(A * 3.0)).numpy()
    np.testing.assert_allclose(scaled, S * 3.0, rtol=1e-12)


def test_the_rounded_columns_of_blocks_are_one_machines_bit_for_bit():
    """The Dask path's (`_rounded_of_blocks`: the blocks' levels merged, the snap of blocks) against
    `RoundedColumns.fit` of all the rows, and the spread rows' snap (`_snap_of_blocks` with the spread,
    their extremes a pass of their own) against `Snap.fit` of the spread rows."""
    import torch

    from shiftkit._rows import RoundedColumns, Snap
    from shiftkit.distributed._blocks import _framed_block, _rounded_of_blocks, _snap_of_blocks

    X = _rounded_table(n=20_000) * [3.0, 7.0, 1.0, 1.0, 1.0] + [1e3, -5.0, 0.0, 0.0, 0.25]
    scale = 16.0
    blocks, origin, framed, stats = _in_blocks(X, [0, 4000, 4001, 13_000], scale)
    one = RoundedColumns.fit(framed)
    many = _rounded_of_blocks(Inline(), blocks, stats, origin, scale, len(X))
    np.testing.assert_array_equal(many.steps, one.steps)
    assert many.steps[1] > 0
    np.testing.assert_array_equal(many.snap.mean, one.snap.mean)
    assert many.snap.unit == one.snap.unit
    spread = one.spread_(torch.tensor(framed)).numpy()
    snap_one = Snap.fit(spread)
    snap_many = _snap_of_blocks(Inline(), blocks, stats, origin, scale, len(X), many)
    np.testing.assert_array_equal(snap_many.mean, snap_one.mean)
    assert snap_many.unit == snap_one.unit
    parts = [_framed_block(b, origin, scale, "float64", snap_many, many) for b in blocks]
    np.testing.assert_array_equal(np.concatenate(parts), snap_one.tensor_(torch.tensor(spread)).numpy())
