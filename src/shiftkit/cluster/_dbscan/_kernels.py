"""DBSCAN's compiled loops (numba, CPU; imported on first use): counts, links and borders on a cell grid;
union-find comes from `shiftkit.neighbors.union_find`.

The grid: cells of side ``eps / sqrt(d)`` (a little less), so that any two
points of one cell are within ``eps`` of each other; ``nbr[c]`` lists the
occupied cells that can hold a point within ``eps`` of cell ``c`` (itself
included, -1 where empty). Points are sorted by cell: cell ``c`` holds rows
``starts[c] : starts[c] + counts[c]`` of ``X``. Distances are squared and in
float64, compared with ``eps2`` inclusively (as scikit-learn's ``<= eps``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from shiftkit.neighbors.union_find import roots, union_pairs

__all__ = ["grid_borders", "grid_core", "grid_links", "min_core_label", "roots", "union_pairs"]


@njit(inline="always")
def _d2(X, p, q):  # type: ignore[no-untyped-def]
    s = 0.0
    for j in range(X.shape[1]):
        t = X[p, j] - X[q, j]
        s += t * t
    return s


@njit(parallel=True, cache=True)
def grid_core(X, w, starts, counts, cell_weight, nbr, eps2, min_samples):  # type: ignore[no-untyped-def]
    """Whether each point is core: the weight within ``eps`` (itself included) reaches ``min_samples``.

    A cell holding ``min_samples`` of weight makes all its points core without
    a distance; elsewhere each point stops counting once it has enough.
    """
    n_cells = starts.shape[0]
    core = np.zeros(X.shape[0], dtype=np.bool_)
    for c in prange(n_cells):
        a, b = starts[c], starts[c] + counts[c]
        if cell_weight[c] >= min_samples:
            for p in range(a, b):
                core[p] = True
            continue
        for p in range(a, b):
            total = 0.0
            for o in range(nbr.shape[1]):
                nb = nbr[c, o]
                if nb < 0:
                    continue
                for q in range(starts[nb], starts[nb] + counts[nb]):
                    if _d2(X, p, q) <= eps2:
                        total += w[q]
                if total >= min_samples:
                    break
            core[p] = total >= min_samples
    return core


@njit(parallel=True, cache=True)
def grid_links(X, core, starts, counts, has_core, nbr, eps2):  # type: ignore[no-untyped-def]
    """For each cell and each neighbor cell after it: whether some core pair across them is within ``eps``."""
    n_cells = starts.shape[0]
    linked = np.zeros(nbr.shape, dtype=np.bool_)
    for c in prange(n_cells):
        if not has_core[c]:
            continue
        for o in range(nbr.shape[1]):
            nb = nbr[c, o]
            if nb <= c or not has_core[nb]:
                continue
            found = False
            for p in range(starts[c], starts[c] + counts[c]):
                if not core[p]:
                    continue
                for q in range(starts[nb], starts[nb] + counts[nb]):
                    if core[q] and _d2(X, p, q) <= eps2:
                        found = True
                        break
                if found:
                    break
            linked[c, o] = found
    return linked


@njit(parallel=True, cache=True)
def grid_borders(X, core, starts, counts, has_core, nbr, eps2, cell_label):  # type: ignore[no-untyped-def]
    """Labels of all points: a core point its cell's cluster; any other point the smallest cluster label
    among the core points within ``eps`` (scikit-learn's order), or -1 (noise)."""
    n_cells = starts.shape[0]
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    for c in prange(n_cells):
        for p in range(starts[c], starts[c] + counts[c]):
            if core[p]:
                labels[p] = cell_label[c]
                continue
            best = -1
            for o in range(nbr.shape[1]):
                nb = nbr[c, o]
                if nb < 0 or not has_core[nb]:
                    continue
                lab = cell_label[nb]
                if best != -1 and lab >= best:
                    continue
                for q in range(starts[nb], starts[nb] + counts[nb]):
                    if core[q] and _d2(X, p, q) <= eps2:
                        best = lab
                        break
            labels[p] = best
    return labels


@njit(parallel=True, cache=True)
def min_core_label(idx_ptr, idx, is_core, point_label, n_rows):  # type: ignore[no-untyped-def]
    """For rows given their neighbors in compressed rows: the smallest label among core neighbors, or -1."""
    out = np.full(n_rows, -1, dtype=np.int64)
    for i in prange(n_rows):
        best = -1
        for t in range(idx_ptr[i], idx_ptr[i + 1]):
            j = idx[t]
            if is_core[j]:
                lab = point_label[j]
                if best == -1 or lab < best:
                    best = lab
        out[i] = best
    return out
