"""numba kernels of the grid index and the graph: exact k nearest neighbors over cells, mutual edges.

Imported only when they run (``import shiftkit`` does not import numba);
compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np

_CHUNK = 256  # queries per parallel task: scratch arrays are allocated once per task


@numba.njit(cache=True)
def _insert(best_sq: np.ndarray, best_idx: np.ndarray, sq: float, row: int) -> None:
    """Insert ``(sq, row)`` into the ascending top-k lists (ties by row) if it belongs there."""
    k = best_sq.shape[0]
    if sq > best_sq[k - 1] or (sq == best_sq[k - 1] and row >= best_idx[k - 1] >= 0):
        return
    a = k - 1
    while a > 0 and (best_sq[a - 1] > sq or (best_sq[a - 1] == sq and best_idx[a - 1] > row)):
        best_sq[a] = best_sq[a - 1]
        best_idx[a] = best_idx[a - 1]
        a -= 1
    best_sq[a] = sq
    best_idx[a] = row


@numba.njit(cache=True)
def _scan(
    y: np.ndarray, X: np.ndarray, first: int, stop: int, skip: int, best_sq: np.ndarray, best_idx: np.ndarray
) -> None:
    """Offer rows ``first`` to ``stop - 1`` of ``X`` (but ``skip``) to the k best of ``y``."""
    for row in range(first, stop):
        if row == skip:
            continue
        sq = 0.0
        for j in range(y.shape[0]):
            diff = y[j] - X[row, j]
            sq += diff * diff
        _insert(best_sq, best_idx, sq, row)


@numba.njit(cache=True)
def _search_one(
    y: np.ndarray,
    X: np.ndarray,
    cell_keys: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    strides: np.ndarray,
    cell_size: float,
    skip: int,
    best_sq: np.ndarray,
    best_idx: np.ndarray,
    home: np.ndarray,
    offset: np.ndarray,
) -> None:
    """The k nearest rows of ``X`` to ``y`` (row ``skip`` left out): rings of cells outwards until no
    unseen cell can hold a closer one."""
    d = y.shape[0]
    k = best_sq.shape[0]
    best_sq[:] = np.inf
    best_idx[:] = -1
    margin = np.inf  # distance from the query to the border of its own cell
    last_ring = 0  # beyond this ring there are no occupied cells
    for j in range(d):
        c = np.floor(y[j] / cell_size)
        home[j] = np.int64(c)
        margin = min(margin, y[j] - c * cell_size, (c + 1.0) * cell_size - y[j])
        last_ring = max(last_ring, home[j] - lo[j], hi[j] - home[j])
    # a hair less than the geometry says: the data's cells were found in their own precision
    margin = max(margin - 1e-6 * cell_size, 0.0)
    ring = 0
    visited = 0  # cells of the cubes enumerated so far (each ring walks its whole cube for the shell)
    while True:
        side = 2 * ring + 1
        visited += side**d
        for code in range(side**d):  # the cells at Chebyshev distance `ring` from the home cell
            rest = code
            on_shell = ring == 0
            inside = True
            key = np.int64(0)
            for j in range(d):
                offset[j] = rest % side - ring
                rest //= side
                on_shell = on_shell or offset[j] == ring or offset[j] == -ring
                cj = home[j] + offset[j]
                inside = inside and lo[j] <= cj <= hi[j]
                key += (cj - lo[j]) * strides[j]
            if not (on_shell and inside):
                continue
            pos = np.searchsorted(cell_keys, key)
            if pos == cell_keys.shape[0] or cell_keys[pos] != key:
                continue
            _scan(y, X, starts[pos], starts[pos] + counts[pos], skip, best_sq, best_idx)
        reach = ring * cell_size + margin  # every point closer than this has been seen
        if (best_idx[k - 1] >= 0 and best_sq[k - 1] <= reach * reach) or ring >= last_ring:
            return
        ring += 1
        if scan_instead(ring, d, visited, X.shape[0]):
            best_sq[:] = np.inf
            best_idx[:] = -1
            _scan(y, X, 0, X.shape[0], skip, best_sq, best_idx)
            return


# Beyond rings of this many cells (or cubes of rings of more cells, all told, than this or the rows), a
# query scans every row instead (`scan_instead`).
_MAX_RING_CELLS = 20_000


@numba.njit(cache=True)
def scan_instead(ring: int, d: int, visited: int, n_rows: int) -> bool:
    """Whether a query about to walk ring ``ring`` (its cube of ``(2 ring + 1)^d`` cells), having walked
    cubes of ``visited`` cells, should scan the ``n_rows`` rows instead. A query far from its neighbors
    (an outlier, or a few points far from the rest) would walk rings of ``(2 ring + 1)^d`` cells each,
    and in one feature the cells walked so far grow as the square of the rings (an outlier 1,000 times
    the data's spread away walked some 10^8 cells: 50 of them made a QuickShift of 5,000 points take
    8.7 s instead of 0.5 s); one pass over every row costs less."""
    return (2 * ring + 1) ** d > _MAX_RING_CELLS or visited > max(_MAX_RING_CELLS, n_rows)


@numba.njit(cache=True, parallel=True)
def knn_over_cells(
    Y: np.ndarray,  # (m, d) queries
    X: np.ndarray,  # (n, d) data sorted by cell
    cell_keys: np.ndarray,  # (c,) sorted keys of the occupied cells
    starts: np.ndarray,  # (c,) first row of each cell in X
    counts: np.ndarray,  # (c,) rows in each cell
    lo: np.ndarray,  # (d,) smallest cell coordinate
    hi: np.ndarray,  # (d,) largest cell coordinate
    strides: np.ndarray,  # (d,) of the linear cell key
    cell_size: float,
    order: np.ndarray,  # (n,) the original index of each sorted row
    self_query: bool,  # Y is X itself: query q is row q, left out of its own neighbors
    targets: np.ndarray,  # (m,) the output row of each query
    out_dist: np.ndarray,  # (m, k) distances, ascending
    out_idx: np.ndarray,  # (m, k) original indices (-1 where X has too few rows)
) -> None:
    m, d = Y.shape
    k = out_idx.shape[1]
    for task in numba.prange((m + _CHUNK - 1) // _CHUNK):
        home = np.empty(d, np.int64)
        offset = np.empty(d, np.int64)
        best_sq = np.empty(k, np.float64)
        best_idx = np.empty(k, np.int64)
        for q in range(task * _CHUNK, min(m, (task + 1) * _CHUNK)):
            skip = q if self_query else -1
            _search_one(
                Y[q],
                X,
                cell_keys,
                starts,
                counts,
                lo,
                hi,
                strides,
                cell_size,
                skip,
                best_sq,
                best_idx,
                home,
                offset,
            )
            t = targets[q]
            for a in range(k):
                out_dist[t, a] = np.sqrt(best_sq[a])
                out_idx[t, a] = order[best_idx[a]] if best_idx[a] >= 0 else -1


@numba.njit(cache=True, parallel=True)
def mutual_mask(indices: np.ndarray) -> np.ndarray:
    """``mask[i, a]``: row ``i`` is among the neighbors of ``indices[i, a]``."""
    n, k = indices.shape
    mask = np.zeros((n, k), np.bool_)
    for i in numba.prange(n):
        for a in range(k):
            j = indices[i, a]
            for b in range(k):
                if indices[j, b] == i:
                    mask[i, a] = True
                    break
    return mask


@numba.njit(cache=True)
def _radius_one(
    y: np.ndarray,
    X: np.ndarray,
    cell_keys: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    strides: np.ndarray,
    cell_size: float,
    radius: float,
    skip: int,
    home: np.ndarray,
    offset: np.ndarray,
    out_rows: np.ndarray,  # room for the rows found, or size 0 to count only
    out_sq: np.ndarray,
) -> int:
    """The rows of ``X`` within ``radius`` of ``y`` (row ``skip`` left out); returns how many."""
    d = y.shape[0]
    for j in range(d):
        home[j] = np.int64(np.floor(y[j] / cell_size))
    rings = np.int64(np.ceil(radius / cell_size)) + 1  # a hair more than the geometry says
    side = 2 * rings + 1
    found = 0
    r2 = radius * radius
    for code in range(side**d):
        rest = code
        inside = True
        key = np.int64(0)
        for j in range(d):
            offset[j] = rest % side - rings
            rest //= side
            cj = home[j] + offset[j]
            inside = inside and lo[j] <= cj <= hi[j]
            key += (cj - lo[j]) * strides[j]
        if not inside:
            continue
        pos = np.searchsorted(cell_keys, key)
        if pos == cell_keys.shape[0] or cell_keys[pos] != key:
            continue
        for row in range(starts[pos], starts[pos] + counts[pos]):
            if row == skip:
                continue
            sq = 0.0
            for j in range(d):
                diff = y[j] - X[row, j]
                sq += diff * diff
            if sq <= r2:
                if out_rows.shape[0] > 0:
                    out_rows[found] = row
                    out_sq[found] = sq
                found += 1
    return found


@numba.njit(cache=True, parallel=True)
def radius_over_cells(
    Y: np.ndarray,
    X: np.ndarray,
    cell_keys: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    strides: np.ndarray,
    cell_size: float,
    radius: float,
    order: np.ndarray,
    self_query: bool,
    targets: np.ndarray,  # (m,) the output row of each query
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each query's rows of ``X`` within ``radius``, nearest first: (offsets, original indices, distances)."""
    m, d = Y.shape
    n_found = np.zeros(m, np.int64)
    empty_rows = np.empty(0, np.int64)
    empty_sq = np.empty(0, np.float64)
    for task in numba.prange((m + _CHUNK - 1) // _CHUNK):  # pass 1: count
        home = np.empty(d, np.int64)
        offset = np.empty(d, np.int64)
        for q in range(task * _CHUNK, min(m, (task + 1) * _CHUNK)):
            skip = q if self_query else -1
            n_found[targets[q]] = _radius_one(
                Y[q],
                X,
                cell_keys,
                starts,
                counts,
                lo,
                hi,
                strides,
                cell_size,
                radius,
                skip,
                home,
                offset,
                empty_rows,
                empty_sq,
            )
    offsets = np.zeros(m + 1, np.int64)
    for t in range(m):
        offsets[t + 1] = offsets[t] + n_found[t]
    indices = np.empty(offsets[m], np.int64)
    distances = np.empty(offsets[m], np.float64)
    for task in numba.prange((m + _CHUNK - 1) // _CHUNK):  # pass 2: fill, nearest first
        home = np.empty(d, np.int64)
        offset = np.empty(d, np.int64)
        for q in range(task * _CHUNK, min(m, (task + 1) * _CHUNK)):
            skip = q if self_query else -1
            t = targets[q]
            a, b = offsets[t], offsets[t + 1]
            rows = np.empty(b - a, np.int64)
            sq = np.empty(b - a, np.float64)
            _radius_one(
                Y[q],
                X,
                cell_keys,
                starts,
                counts,
                lo,
                hi,
                strides,
                cell_size,
                radius,
                skip,
                home,
                offset,
                rows,
                sq,
            )
            by_distance = np.argsort(sq, kind="mergesort")
            for k in range(b - a):
                indices[a + k] = order[rows[by_distance[k]]]
                distances[a + k] = np.sqrt(sq[by_distance[k]])
    return offsets, indices, distances
