"""Rows by content: the distinct rows of a data set, in an order that depends on their values only.

A clustering that must not depend on the order of the rows, and must give equal
rows the same label, can run on the distinct rows (each weighted by its number
of copies) taken in *content order*: sorted by a 64-bit hash of each row's
float64 values, equal hashes then sorted by the values themselves. Permuting
the input permutes nothing downstream. The hash order is also a fair draw: the
first ``m`` rows of it are a sample whose choice depends on the rows' values,
not their positions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DistinctRows",
    "RoundedColumns",
    "Snap",
    "column_folds",
    "column_levels",
    "distinct_rows",
    "fold_total",
    "match_rows",
    "merge_levels",
    "row_hashes",
    "scale_free_hashes",
    "square_bounds",
]

_ROWS_PER_BLOCK = 1 << 16
# The grid of `scale_free_hashes`, in fractions of the data's spread.
SCALE_FREE_BITS = 16
# `Snap`: rows centered and divided by their root-mean-square spread are rounded to multiples of
# 2^-SNAP_BITS (about 6e-8: float32's resolution at 1).
SNAP_BITS = 24
# `RoundedColumns`: a column is read as rounded where its values are at most this many levels, and at
# most a fifth as many as the rows (each level held by five rows on average: the neighbor graph's slices)
ROUNDED_MAX_LEVELS = 1024
ROUNDED_ROWS_PER_LEVEL = 5
# ... on a regular grid: every gap between two levels within this fraction of a whole number of steps
ROUNDED_GRID_TOLERANCE = 0.01
# ... whose step is at most this many of the column's standard deviations (spread over its cells, a
# column gains at most a twelfth of its variance; a 0/1 column, its step twice its deviation or more,
# is left as it is)
ROUNDED_MAX_STEP = 1.0
# the grid, in fractions of the rows' spread, whose cells draw where a rounded value moves
SPREAD_BITS = 16


@dataclass(frozen=True)
class Snap:
    """Rows in units of their own spread, rounded to a grid: the same numbers, bit for bit, for the rows
    scaled by any factor.

    Data scaled by 3 or 1e-30 reach a computation as other floating-point numbers (the estimators'
    frame divides by a power of two), and where two values tie exactly (symmetric data, axes of no
    variance) the rounding at each scale breaks the tie its own way. Centered on their mean and
    divided by their root-mean-square distance from it in float64, scaled rows are the same numbers
    to a few units in the last place, and rounded to multiples of ``2^-SNAP_BITS`` the same numbers
    unless one lies within those few units of a rounding boundary (about 1 value in 10^8): what is
    computed from them is computed from equal numbers. Rows closer than the grid become equal.

    Attributes
    ----------
    mean : ndarray of shape (n_features,)
        The mean of the rows fitted, in their own units.
    unit : float
        Their root-mean-square distance from it (1 where they are all equal).
    """

    mean: np.ndarray
    unit: float

    @classmethod
    def fit(cls, A: np.ndarray) -> Snap:
        """The snap of the rows ``A`` (m, d), float64: its mean and spread are order-free sums
        (`column_folds`), the same numbers, bit for bit, for the rows in any order or summed block by block
        elsewhere (`from_folds`; the Dask path does so)."""
        m, d = A.shape
        if m == 0:
            return cls(np.zeros(d), 1.0)
        lo, hi = A.min(0), A.max(0)
        mean = fold_total(_by_row_blocks(A, lambda B: column_folds(B, np.maximum(-lo, hi), m))) / m
        bound = square_bounds(lo, hi, mean)
        squares = _by_row_blocks(A, lambda B: column_folds(np.square(B - mean), bound, m))
        return cls.from_folds(mean, squares, m)

    @classmethod
    def from_folds(cls, mean: np.ndarray, squares: np.ndarray, count: int) -> Snap:
        """The snap from the rows' ``mean`` (d,) and the `column_folds` (2, d) of their squared deviations
        from it, of ``count`` rows in all."""
        total = float(np.sum(fold_total(squares)))  # d numbers in a fixed order: the same sum everywhere
        unit = float(np.sqrt(total / count)) if count else 0.0
        return cls(np.asarray(mean, dtype=np.float64), unit if unit > 0 else 1.0)

    def array(self, A: np.ndarray) -> np.ndarray:
        """A snapped copy of the rows ``A`` (m, d), float64 (`tensor_` on a copy)."""
        return self.tensor_(torch.tensor(A, dtype=torch.float64)).numpy()

    def tensor_(self, T: Tensor) -> Tensor:
        """``(T - mean) / unit`` rounded to multiples of ``2^-SNAP_BITS``, in place in the float64 tensor
        ``T`` (no copy of it)."""
        mean = torch.as_tensor(self.mean, dtype=T.dtype, device=T.device)
        return T.sub_(mean).div_(self.unit).mul_(2.0**SNAP_BITS).round_().mul_(2.0**-SNAP_BITS)


@dataclass(frozen=True)
class RoundedColumns:
    """Columns whose values are rounded to a grid coarser than the rows' own scatter, and each value
    moved to a point of its grid cell: the values such a column stood for before it was rounded.

    A column rounded to a step (ages in years, counts, a measure to one decimal) beside continuous ones
    puts the rows on parallel slices, one for each of its values. Inside a slice a row's nearest rows
    are in its own slice, so a nearest-neighbor graph joins two slices only at their sparse ends, and
    mode seeking on it finds each slice a cluster (three blobs in two features, the second rounded to
    1: 14 clusters where there are 3). A rounded value ``x`` stands for one of ``[x - s/2, x + s/2)``:
    here it is moved to a point of that cell drawn by a hash of its row's place (`spread_`), a fixed
    function of the row, so that equal rows stay equal, the order of the rows changes nothing, and the
    same row moves alike in `predict`. The draw is uniform in the cell (the row's hash, on a grid of
    ``2^-SPREAD_BITS`` of the rows' spread, `snap`, mixed with the column).

    A column is read as rounded (`from_levels`) where its values are at most `ROUNDED_MAX_LEVELS`
    levels, each held by `ROUNDED_ROWS_PER_LEVEL` rows on average, on a regular grid (the gaps whole
    multiples of the least, within `ROUNDED_GRID_TOLERANCE`) whose step is at most `ROUNDED_MAX_STEP`
    of the column's standard deviation.

    Attributes
    ----------
    steps : ndarray of shape (n_features,)
        The step of each rounded column, in the units of the rows fitted; 0 for the others.
    snap : Snap
        The rows' mean and spread: the grid on which a row's place is hashed.
    """

    steps: np.ndarray
    snap: Snap

    @classmethod
    def fit(cls, A: np.ndarray) -> RoundedColumns | None:
        """The rounded columns of the rows ``A`` (m, d), float64; None where there are none."""
        return cls.from_levels(column_levels(A), A.shape[0], lambda: Snap.fit(A))

    @classmethod
    def from_levels(
        cls, levels: list[tuple[np.ndarray, np.ndarray] | None], count: int, snap: Callable[[], Snap]
    ) -> RoundedColumns | None:
        """The rounded columns from each column's `column_levels` (of ``count`` rows in all: those of
        blocks held elsewhere, merged with `merge_levels`); ``snap``: the rows' `Snap`, made where a
        column is rounded. None where none is."""
        most = min(ROUNDED_MAX_LEVELS, count // ROUNDED_ROWS_PER_LEVEL)
        steps = np.zeros(len(levels))
        for j, found in enumerate(levels):
            if found is not None and 2 <= len(found[0]) <= most:
                steps[j] = _grid_step(*found)
        return cls(steps, snap()) if steps.any() else None

    def spread_(self, T: Tensor) -> Tensor:
        """Each value of a rounded column of the float64 rows ``T`` (n, d), in the units fitted, moved to
        its point of its cell, in place (block by block, on the CPU)."""
        from shiftkit._rows_kernels import move_in_cells

        snap = self.snap
        for start in range(0, T.shape[0], _ROWS_PER_BLOCK):
            block = T[start : start + _ROWS_PER_BLOCK]
            values = np.ascontiguousarray(block.detach().cpu().numpy(), dtype=np.float64)
            # each row's place: its hash on the snap's grid, before it moves
            hashes = _hashes(values, snap.unit, snap.mean / snap.unit, 2.0**-SPREAD_BITS, on_grid=True)
            move_in_cells(values, hashes, self.steps)
            block.copy_(torch.as_tensor(values, device=block.device))
        return T


def column_levels(A: np.ndarray) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Each column's distinct values and their counts, ascending, where it has at most
    `ROUNDED_MAX_LEVELS` (else None): from the rows ``A`` (m, d), float64. A column of more is seen to be
    one in its first rows (no sort of the whole of a continuous column)."""
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for j in range(A.shape[1]):
        if len(np.unique(A[: 2 * ROUNDED_MAX_LEVELS + 1, j])) > ROUNDED_MAX_LEVELS:
            out.append(None)
            continue
        values, counts = np.unique(A[:, j] + 0.0, return_counts=True)  # -0.0 is 0.0
        out.append((values, counts) if len(values) <= ROUNDED_MAX_LEVELS else None)
    return out


def merge_levels(
    parts: list[list[tuple[np.ndarray, np.ndarray] | None]],
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """The `column_levels` of rows held in blocks, from each block's: the same arrays as one machine's."""
    merged: list[tuple[np.ndarray, np.ndarray] | None] = []
    for columns in zip(*parts, strict=True):
        if any(c is None for c in columns):
            merged.append(None)
            continue
        values = np.concatenate([c[0] for c in columns if c is not None])
        counts = np.concatenate([c[1] for c in columns if c is not None])
        distinct, at = np.unique(values, return_inverse=True)
        summed = np.bincount(at, weights=counts, minlength=len(distinct)).astype(np.int64)
        merged.append((distinct, summed) if len(distinct) <= ROUNDED_MAX_LEVELS else None)
    return merged


def _grid_step(values: np.ndarray, counts: np.ndarray) -> float:
    """The step of the regular grid the ``values`` (ascending, distinct) lie on, where it is at most
    `ROUNDED_MAX_STEP` of their standard deviation (each held ``counts`` times); else 0."""
    gaps = np.diff(values)
    steps = gaps / gaps.min()
    whole = np.round(steps)
    if float(np.abs(steps - whole).max()) > ROUNDED_GRID_TOLERANCE:
        return 0.0
    step = float((values[-1] - values[0]) / whole.sum())
    weights = counts / counts.sum()
    mean = float(np.sum(weights * values))
    deviation = float(np.sqrt(np.sum(weights * np.square(values - mean))))
    return step if step <= ROUNDED_MAX_STEP * deviation else 0.0


# `column_folds`: the bound is held at least this (a column of zeros and subnormal noise), so that the
# second fold's offset is a normal number
_LEAST_BOUND = 2.0**-900


def column_folds(A: np.ndarray, bound: np.ndarray, count: int) -> np.ndarray:
    """Column sums of ``A`` (m, d), float64, that do not depend on the order of the rows: two folds (2, d),
    each an exact sum, their total (`fold_total`) the sum to about 2^-100 of ``bound``.

    A floating-point sum depends on the order of its terms (each addition rounds), so the rows summed in
    another order, or block by block on other machines and the blocks' sums added, give another last bit.
    Here (Demmel and Nguyen's reproducible summation) every value ``a`` of a column is split into a part
    ``q`` on a fixed grid and the rest: ``q = (s + a) - s`` with ``s = 1.5 * 2^e`` and ``2^e >= 2 count
    bound``, so ``s + a`` stays in one binade and ``q`` is ``a`` rounded to its multiples of ``2^(e-52)``;
    sums of up to ``count`` such parts are exact in any order. The rest ``a - q`` (exact, below half that
    step) is split once more on a grid ``2^52`` times finer; what remains after it is dropped (a fixed
    function of each value). ``bound`` (d,): at least every column's largest absolute value; ``count``: the
    rows in all. Blocks summed apart, given the same ``bound`` and ``count``, add their folds exactly.
    """
    A = np.asarray(A, dtype=np.float64)
    bound = np.maximum(np.asarray(bound, dtype=np.float64), _LEAST_BOUND)
    out = np.zeros((2, A.shape[1]))
    exponent = np.frexp(2.0 * max(count, 1) * bound)[1]  # 2^e > 2 count bound
    if int(exponent.max()) > 1000:  # the grid's offset would overflow: plain sums (not met in a frame)
        out[0] = A.sum(0)
        return out
    rest = A
    for fold in range(2):
        offset = 1.5 * np.ldexp(1.0, exponent)
        q = (offset + rest) - offset
        out[fold] = q.sum(0)
        rest = rest - q
        # the rest is at most half a step of this fold's grid, 2^(e - 53)
        exponent = np.frexp(2.0 * max(count, 1) * np.ldexp(1.0, np.maximum(exponent - 53, -960)))[1]
    return out


def fold_total(folds: np.ndarray) -> np.ndarray:
    """The sums that `column_folds` (2, d) hold: their two folds added (one rounding, the same
    everywhere)."""
    return folds[0] + folds[1]


def square_bounds(lo: np.ndarray, hi: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The largest ``(a - mean)^2`` float64 computes for ``a`` in ``[lo, hi]`` per column: the bound of
    `column_folds` of squared deviations (rounding is monotone, so the extremes' are the largest)."""
    reach = np.maximum(hi - mean, mean - lo)
    return reach * reach


def _by_row_blocks(A: np.ndarray, f: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``f`` of blocks of the rows of ``A``, added: the `column_folds` of the blocks, exact."""
    total = np.zeros((2, A.shape[1]))
    for start in range(0, A.shape[0], _ROWS_PER_BLOCK):
        total += f(A[start : start + _ROWS_PER_BLOCK])
    return total


def row_hashes(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of ``X`` (float64), from its values: (n, d) -> (n,) uint64.

    ``-0.0`` hashes as ``0.0`` (they are equal values). Row by row in a numba kernel
    (`shiftkit._rows_kernels`), by blocks: no float64 copy the size of the data.
    """
    return _hashes(X, 1.0, np.zeros(X.shape[1]), 1.0, on_grid=False)


def _hashes(X: np.ndarray, unit: float, mean: np.ndarray, step: float, *, on_grid: bool) -> np.ndarray:
    """`grid_row_hashes` over blocks of the rows of ``X``."""
    from shiftkit._rows_kernels import grid_row_hashes

    out = np.empty(X.shape[0], dtype=np.uint64)
    mean = np.ascontiguousarray(mean, dtype=np.float64)
    for start in range(0, X.shape[0], _ROWS_PER_BLOCK):
        block = np.ascontiguousarray(X[start : start + _ROWS_PER_BLOCK], dtype=np.float64)
        grid_row_hashes(block, float(unit), mean, float(step), on_grid, out[start : start + _ROWS_PER_BLOCK])
    return out


@dataclass(frozen=True)
class DistinctRows:
    """The distinct rows of a data set, in content order.

    Attributes
    ----------
    first : ndarray of shape (n_distinct,)
        A row of the input holding each distinct row (its first copy).
    inverse : ndarray of shape (n_rows,)
        The distinct row (0..n_distinct-1) of every input row.
    counts : ndarray of shape (n_distinct,)
        Copies of each distinct row in the input.
    hashes : ndarray of shape (n_distinct,), uint64
        Each distinct row's hash (`row_hashes`, or `scale_free_hashes`), ascending.
    """

    first: np.ndarray
    inverse: np.ndarray
    counts: np.ndarray
    hashes: np.ndarray

    @property
    def n_distinct(self) -> int:
        return int(self.first.shape[0])


def scale_free_hashes(X: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of ``X`` (float64) from its place relative to the data: its values
    less the mean, over the root-mean-square spread, on a grid of ``2^-SCALE_FREE_BITS`` of it.

    Data scaled (by any positive factor) or moved hash the same: their centered, spread-relative
    values differ from the original's in the last bits of float64 only, and a value lands on the
    other side of a grid line with odds of about 1e-11 (the grid is 2^36 float64 rounding errors
    wide). Rows nearer than the grid hash the same: `distinct_rows` orders them by value. So do rows
    held in blocks (`ScaleFreeGrid` from the blocks' sums, QuickShift on Dask), whose sums differ from
    these in the last bits.
    """
    n = X.shape[0]
    if X.size == 0:
        return row_hashes(X)
    blocks = range(0, n, _ROWS_PER_BLOCK)  # every pass by blocks: no temporary the size of the data
    unit = ScaleFreeGrid.unit_of(max(float(X.max()), -float(X.min())))
    mean = sum((X[s : s + _ROWS_PER_BLOCK] / unit).sum(0) for s in blocks) / n
    squares = sum(float(np.square(X[s : s + _ROWS_PER_BLOCK] / unit - mean).sum()) for s in blocks)
    return ScaleFreeGrid.of(unit, mean, squares, n).hashes(X)


@dataclass(frozen=True)
class ScaleFreeGrid:
    """The grid of `scale_free_hashes`: the data scaled by ``unit`` (a power of two, so that neither the
    mean nor the squares overflow), less ``mean``, on a grid of ``step``."""

    unit: float
    mean: np.ndarray
    step: float

    @staticmethod
    def unit_of(largest: float) -> float:
        """The power of two at or above the largest absolute value."""
        return float(np.ldexp(1.0, int(np.frexp(largest)[1]))) if largest > 0 else 1.0

    @classmethod
    def of(cls, unit: float, mean: np.ndarray, squares: float, n: int) -> ScaleFreeGrid:
        """From the mean of the rows over ``unit`` and the sum of their squared deviations from it."""
        rms = float(np.sqrt(squares / (n * mean.shape[0])))
        return cls(unit, mean, rms * 2.0**-SCALE_FREE_BITS if rms > 0 else 1.0)

    def hashes(self, X: np.ndarray) -> np.ndarray:
        """The hash of each row's cell, floor((x / unit - mean) / step): whole numbers below
        2^SCALE_FREE_BITS * sqrt(n * d) in size, exact in float64."""
        return _hashes(X, self.unit, self.mean, self.step, on_grid=True)


def distinct_rows(
    X: Tensor | np.ndarray, *, scale_free: bool = False, hashes: np.ndarray | None = None
) -> DistinctRows:
    """The distinct rows of ``X`` (n, d) in content order: by hash, then by value where hashes collide.

    ``scale_free``: the hash of each row's place relative to the data (`scale_free_hashes`), so that
    the order (the first rows of it, a fair draw) is the same for the data scaled or moved; else of its
    float64 values (`row_hashes`: equal hashes are, but for collisions, equal rows). ``hashes``: these
    (n,) instead (rows gathered from blocks, hashed there).
    """
    # no copy of float64 data: the hashes read -0.0 as 0.0 (`row_hashes`), and so do comparisons
    data = X.detach().double().cpu().numpy() if isinstance(X, Tensor) else np.asarray(X, dtype=np.float64)
    if hashes is not None:
        h = np.asarray(hashes, dtype=np.uint64)
    else:
        h = scale_free_hashes(data) if scale_free else row_hashes(data)
    order = np.argsort(h, kind="stable")
    h_sorted = h[order]
    boundary = np.ones(len(order), dtype=bool)
    boundary[1:] = h_sorted[1:] != h_sorted[:-1]
    group_start = np.flatnonzero(boundary)
    sizes = np.diff(np.append(group_start, len(order)))
    # rows of one hash are one distinct row unless they differ (a collision, or never in practice)
    for g in np.flatnonzero(sizes > 1):
        members = order[group_start[g] : group_start[g] + sizes[g]]
        block = data[members]
        if bool((block == block[0]).all()):
            continue
        by_value = np.lexsort(block.T[::-1])  # lexicographic, first column first
        members = members[by_value]
        order[group_start[g] : group_start[g] + sizes[g]] = members
        changes = np.any(np.diff(data[members], axis=0) != 0, axis=1)
        boundary[group_start[g] + 1 : group_start[g] + sizes[g]] = changes
    distinct_of_sorted = np.cumsum(boundary) - 1
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = distinct_of_sorted
    starts = np.flatnonzero(boundary)
    counts = np.diff(np.append(starts, len(order)))
    return DistinctRows(order[starts], inverse, counts, h_sorted[starts])


def match_rows(known: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each row of ``queries`` (m, d), the index of an equal row of ``known`` (u, d), else -1.

    By hash, then checked value by value (the rare query whose hash collides with
    another known row's first is reported as -1: not found, never a wrong row).
    """
    known = np.asarray(known, dtype=np.float64) + 0.0
    queries = np.asarray(queries, dtype=np.float64) + 0.0
    found = np.full(queries.shape[0], -1, dtype=np.int64)
    if known.shape[0] == 0 or queries.shape[0] == 0:
        return found
    h_known = row_hashes(known)
    order = np.argsort(h_known, kind="stable")
    sorted_hashes = h_known[order]
    h_queries = row_hashes(queries)
    pos = np.minimum(np.searchsorted(sorted_hashes, h_queries), len(order) - 1)
    candidate = order[pos]
    equal = (sorted_hashes[pos] == h_queries) & np.all(known[candidate] == queries, axis=1)
    found[equal] = candidate[equal]
    return found
