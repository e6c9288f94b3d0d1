"""numba loops of the saddle merge tree (imported only when they run; cached on disk)."""

from __future__ import annotations

import numba
import numpy as np

from shiftkit.neighbors.union_find import find as _root


@numba.njit(cache=True)
def union_by_saddles(
    a: np.ndarray, b: np.ndarray, level: np.ndarray, peak: np.ndarray, n_basins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Join basins along edges ``(a, b)`` taken from the highest ``level`` down (elder rule).

    When two components meet, the one whose top has the lower peak (ties: the
    larger index) dies there: its top gets that saddle, and as elder the basin
    at the other end of the edge, in the higher component: the one it meets
    there. (Not that component's top: where the component holds two clusters
    that stay apart, a basin merged for want of prominence joins the cluster it
    touches, as in ToMATo, not the one with the higher peak; two Gaussians 3.5
    standard deviations apart in one feature had the far tail of the lower one
    labelled with the higher one.)
    """
    parent = np.arange(n_basins)
    top = np.arange(n_basins)
    saddle = np.full(n_basins, -np.inf)
    elder = np.full(n_basins, -1, np.int64)
    for e in range(a.shape[0]):
        ea, eb = a[e], b[e]
        ra, rb = _root(parent, ea), _root(parent, eb)
        if ra == rb:
            continue
        ta, tb = top[ra], top[rb]
        if peak[ta] < peak[tb] or (peak[ta] == peak[tb] and ta > tb):
            ra, rb, ta, tb, ea, eb = rb, ra, tb, ta, eb, ea
        saddle[tb] = level[e]
        elder[tb] = ea
        parent[rb] = ra
    return saddle, elder


@numba.njit(cache=True)
def merge_pass(
    order: np.ndarray,
    height: np.ndarray,
    elder: np.ndarray,
    size: np.ndarray,
    threshold: float,
    min_size: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge, in ``order``, each basin less than ``threshold`` above its saddle or under its ``min_size``.

    Returns the basin each basin ends in, and the merged sizes (0 for merged basins).
    """
    merged = size.copy()
    target = np.arange(size.shape[0])
    for B in order:
        E = elder[B]
        if E < 0:
            continue
        if height[B] < threshold or merged[B] < min_size[B]:
            E = _root(target, E)
            merged[E] += merged[B]
            merged[B] = 0.0
            target[B] = E
    for B in range(target.shape[0]):
        target[B] = _root(target, B)
    return target, merged
