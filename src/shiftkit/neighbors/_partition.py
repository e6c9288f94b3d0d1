"""Approximate k nearest neighbors of many queries among a fixed set of rows, by cells of the rows.

The rows are split into cells around ``m / cell_size`` pivots (a few Lloyd
steps from evenly spaced rows); a query is searched exactly among the rows of
the ``n_probe`` cells whose pivots are nearest to the pivot of its own cell.
Queries that share a cell share their candidates, so each cell's search is one
dense product (`ExactIndex` on the candidates): 90,000 queries among 10,000
rows in 64 dimensions take a tenth of the exhaustive search's time
(``benchmarks/bench_highdim.py`` reports the time and the recall of the ``k``
found against the exhaustive search). It is what the graph layout uses to
place the rows it did not lay out, where a near neighbor that is not the
nearest changes no label.
"""

from __future__ import annotations

import torch
from torch import Tensor

from shiftkit._ops import DEFAULT_MEMORY_BUDGET
from shiftkit.neighbors._indexes import ExactIndex

__all__ = ["partitioned_kneighbors"]

CELL_SIZE = 64
N_PROBE = 16
LLOYD_STEPS = 4


def _nearest(centers: Tensor, Y: Tensor, memory_budget: int) -> Tensor:
    """The index of the nearest row of ``centers`` to each row of ``Y``; (n,)."""
    return ExactIndex(memory_budget=memory_budget).fit(centers).kneighbors(Y, 1)[1][:, 0]


def _pivots(X: Tensor, n_cells: int, memory_budget: int) -> Tensor:
    """``n_cells`` pivots (n_cells, d): evenly spaced rows of ``X`` moved by `LLOYD_STEPS` Lloyd steps
    (a cell left empty keeps its pivot)."""
    pivots = X[torch.linspace(0, X.shape[0] - 1, n_cells).round().long()].clone()
    for _ in range(LLOYD_STEPS):
        cell = _nearest(pivots, X, memory_budget)
        sums = torch.zeros_like(pivots).index_add_(0, cell, X)
        counts = torch.bincount(cell, minlength=n_cells).to(X.dtype)[:, None]
        pivots = torch.where(counts > 0, sums / counts.clamp(min=1), pivots)
    return pivots


def partitioned_kneighbors(
    X: Tensor,
    Y: Tensor,
    k: int,
    *,
    cell_size: int = CELL_SIZE,
    n_probe: int = N_PROBE,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor]:
    """Approximate ``k`` nearest rows of ``X`` (m, d) to each row of ``Y`` (n, d), nearest first: their
    distances and indices (n, k), as `ExactIndex.kneighbors` returns them (see the module docstring).

    Exact where there are at most ``n_probe`` cells (``m <= n_probe * cell_size``) or a cell's
    candidates number fewer than ``k``.
    """
    m = X.shape[0]
    if not 1 <= k <= m:
        raise ValueError(f"k must be between 1 and the number of rows ({m}), got {k}")
    n_cells = m // cell_size
    if n_cells <= n_probe or Y.shape[0] == 0:
        return ExactIndex(memory_budget=memory_budget).fit(X).kneighbors(Y, k)
    pivots = _pivots(X, n_cells, memory_budget)  # (c, d)
    cell_of_row = _nearest(pivots, X, memory_budget)  # (m,)
    rows_by_cell = torch.argsort(cell_of_row, stable=True)  # (m,)
    ends = torch.bincount(cell_of_row, minlength=n_cells).cumsum(0).tolist()
    starts = [0, *ends[:-1]]  # cell c holds rows_by_cell[starts[c]:ends[c]]
    _, probes = ExactIndex(memory_budget=memory_budget).fit(pivots).kneighbors(pivots, n_probe)  # (c, p)
    cell_of_query = _nearest(pivots, Y, memory_budget)  # (n,)
    queries_by_cell = torch.argsort(cell_of_query, stable=True)
    query_ends = torch.bincount(cell_of_query, minlength=n_cells).cumsum(0).tolist()
    distances = Y.new_empty((Y.shape[0], k))
    indices = torch.empty((Y.shape[0], k), dtype=torch.long, device=Y.device)
    first = 0
    for cell, last in enumerate(query_ends):
        if last == first:
            continue
        queries = queries_by_cell[first:last]  # (b,)
        first = last
        candidates = (
            torch.cat([rows_by_cell[starts[c] : ends[c]] for c in probes[cell].tolist()]).sort().values
        )  # (r,) in row order, so that ties go to the lower row as in the exact search
        if candidates.shape[0] < k:
            candidates = torch.arange(m, device=X.device)
        d, j = ExactIndex(memory_budget=memory_budget).fit(X[candidates]).kneighbors(Y[queries], k)
        distances[queries] = d
        indices[queries] = candidates[j]
    return distances, indices
