"""Points binned on a lattice of cells: the one binning under the grid engine, the grid index and the seeds.

`Cells` gives every point the integer coordinates of its cell and every cell a
linear key (row-major over the box of occupied cells, padded by one cell), so
that occupied cells can be sorted, counted and looked up. Keys are int64: the
box must have fewer than 2^62 cells (`fits`); beyond, the grouping falls back to
sorting coordinate rows, and the lookups that need keys refuse.

- `bin_means`: the weighted mean and total weight of the points of each
  occupied cell (the binned summary of the data; the collapse test of blurring).
- `bin_centers`: the centers of the cells holding enough weight (scikit-learn's
  bin seeding: cells centered on multiples of their side).
- `SortedCells`: the data sorted by cell, where each occupied cell starts and
  how many points it holds, and the occupied cells around a query (the grid
  engine).
"""

from __future__ import annotations

import itertools
from functools import cache

import torch
from torch import Tensor

__all__ = ["Cells", "SortedCells", "bin_centers", "bin_counts", "bin_means", "centers_holding", "fits"]


def fits(X: Tensor, size: float, Y: Tensor | None = None) -> bool:
    """Whether the cells of side ``size`` over ``X`` (and queries ``Y``) can be numbered in 62 bits."""
    lo, hi = X.amin(0), X.amax(0)
    if Y is not None:
        lo, hi = torch.minimum(lo, Y.amin(0)), torch.maximum(hi, Y.amax(0))
    span = (hi.double() - lo.double()) / size + 4
    return bool(torch.isfinite(span).all()) and bool(torch.log2(span).sum() < 62)


@cache
def _offsets(d: int, device: torch.device) -> Tensor:
    """All 3^d neighbor offsets in {-1, 0, 1}^d; (3^d, d)."""
    return torch.tensor(list(itertools.product((-1, 0, 1), repeat=d)), dtype=torch.long, device=device)


class Cells:
    """The cell of every point on a lattice of side ``size``.

    ``centered=False``: cell ``c`` covers ``[c size, (c + 1) size)``;
    ``centered=True``: cell ``c`` is centered on ``c size`` (rounding, as
    scikit-learn's bin seeding).
    """

    def __init__(self, X: Tensor, size: float, *, centered: bool = False) -> None:
        self.size = size
        reach = float(X.abs().amax() / size) if X.numel() else 0.0
        if not reach < 2.0**62:  # integer cell coordinates would overflow int64 and merge distinct points
            raise ValueError(
                f"cells of side {size:.3g} are too small for data reaching {float(X.abs().amax()):.3g}: "
                "their coordinates overflow 64-bit integers"
            )
        # floor in the data's precision (the grid engine's queries do the same); rounding to centered
        # cells in float64, as scikit-learn's bin seeding
        self.coords = (torch.round(X.double() / size) if centered else torch.floor(X / size)).long()  # (n, d)
        self.lo = self.coords.amin(0) - 1
        self.hi = self.coords.amax(0) + 1
        extent = (self.hi - self.lo + 1).double()  # (d,)
        self.numbered = bool(torch.log2(extent).sum() < 62)
        self.strides = torch.ones_like(self.lo)
        for j in range(X.shape[1] - 2, -1, -1):
            self.strides[j] = self.strides[j + 1] * (self.hi[j + 1] - self.lo[j + 1] + 1)

    def keys(self, coords: Tensor) -> Tensor:
        """Linear keys of integer cell coordinates (..., d) -> (...)."""
        if not self.numbered:
            raise ValueError("too many cells to number: the data are too wide against the cell side")
        return ((coords - self.lo) * self.strides).sum(-1)

    def group(self) -> tuple[Tensor, Tensor]:
        """The occupied cells' coordinates, in lexicographic order (k, d), and each point's cell (n,)."""
        if not self.numbered:  # no keys: sort the coordinate rows themselves
            return torch.unique(self.coords, dim=0, return_inverse=True)
        keys, cell_of_point = torch.unique(self.keys(self.coords), return_inverse=True)
        first = torch.full_like(keys, self.coords.shape[0])
        first.scatter_reduce_(0, cell_of_point, torch.arange(len(cell_of_point), device=keys.device), "amin")
        return self.coords[first], cell_of_point


def bin_means(X: Tensor, weights: Tensor, size: float) -> tuple[Tensor, Tensor, Tensor]:
    """Merge the points of each occupied cell of side ``size`` into one point at their weighted mean.

    Returns the means (k, d), their total weights (k,), and the cell of each
    point (n,). Sums in float64: thousands of float32 coordinates summed in
    float32 lose ~1e-4 of their size.
    """
    _, cell_of_point = Cells(X, size).group()
    k = int(cell_of_point.max()) + 1
    w64 = weights.double()
    total = w64.new_zeros(k).index_add_(0, cell_of_point, w64)
    sums = w64.new_zeros(k, X.shape[1]).index_add_(0, cell_of_point, X.double() * w64[:, None])
    return (sums / total[:, None]).to(X.dtype), total.to(weights.dtype), cell_of_point


def bin_counts(X: Tensor, weights: Tensor | None, size: float) -> tuple[Tensor, Tensor, Tensor]:
    """The occupied cells of side ``size`` centered on multiples of it (lexicographic), the weight in each
    (float64), and each row's cell."""
    coords, cell_of_point = Cells(X, size, centered=True).group()
    freq = torch.zeros(coords.shape[0], dtype=torch.float64, device=X.device)
    freq.index_add_(
        0, cell_of_point, torch.ones_like(freq[cell_of_point]) if weights is None else weights.double()
    )
    return coords, freq, cell_of_point


def centers_holding(
    coords: Tensor, freq: Tensor, size: float, min_weight: float, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """The centers of the cells ``coords`` (integer, of side ``size``) whose weight ``freq`` reaches
    ``min_weight``, and each cell's index among them (-1 where it holds too little): the counts may be
    a data set's (`bin_counts`) or merged from blocks held elsewhere."""
    keep = freq >= min_weight
    index_of_cell = torch.cumsum(keep.long(), 0) - 1
    index_of_cell[~keep] = -1
    return (coords[keep].double() * size).to(dtype), index_of_cell


def bin_centers(X: Tensor, weights: Tensor | None, size: float, min_weight: float) -> tuple[Tensor, Tensor]:
    """Centers of the cells of side ``size`` (centered on multiples of it) holding at least ``min_weight``.

    Returns the centers and, for each row of ``X``, the index of its cell's
    center (-1 when the cell holds too little).
    """
    coords, freq, cell_of_point = bin_counts(X, weights, size)
    centers, index_of_cell = centers_holding(coords, freq, size, min_weight, X.dtype)
    return centers, index_of_cell[cell_of_point]


class SortedCells(Cells):
    """The data sorted by cell, with where each occupied cell starts and how many points it holds."""

    def __init__(self, X: Tensor, weights: Tensor | None, size: float) -> None:
        super().__init__(X, size)
        # stable: a cell's points keep the data's order, so a sum over a cell runs in the same order
        # whatever other rows the data hold (a slab of the data gives a row the same density)
        keys, order = torch.sort(self.keys(self.coords), stable=True)
        self.order = order  # (n,): the row of X at each sorted position
        self.occupied, self.counts = torch.unique_consecutive(keys, return_counts=True)  # (k,), (k,)
        self.starts = torch.cumsum(self.counts, 0) - self.counts
        self.X = X[order]  # (n, d), sorted by cell
        self.weights = None if weights is None else weights[order]

    def neighbor_cells(self, Y: Tensor) -> Tensor:
        """Index of each occupied cell among the 3^d around each query (-1 where empty); (m, 3^d).

        One offset at a time, so that the temporaries are (m, d), not (m, 3^d, d).
        """
        offsets = _offsets(Y.shape[1], Y.device)  # (3^d, d)
        home = torch.floor(Y / self.size).long()  # (m, d)
        out = torch.empty((Y.shape[0], offsets.shape[0]), dtype=torch.long, device=Y.device)
        for o, offset in enumerate(offsets):
            nb = home + offset  # (m, d)
            inside = ((nb >= self.lo) & (nb <= self.hi)).all(1)  # (m,)
            keys = self.keys(nb)  # (m,)
            pos = torch.searchsorted(self.occupied, keys).clamp_max_(self.occupied.numel() - 1)
            out[:, o] = torch.where(inside & (self.occupied[pos] == keys), pos, -1)
        return out

    def n_occupied(self) -> int:
        return int(self.occupied.numel())
