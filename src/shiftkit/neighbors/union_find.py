"""Union-find (disjoint sets) in numba, for every algorithm that joins points or cells into components:
DBSCAN's clusters and the saddle merge tree (a public module, so that every algorithm imports the
same one; not loaded by ``import shiftkit.neighbors``: numba loads when it is first imported)."""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["find", "roots", "union_pairs"]


@numba.njit(cache=True)
def find(parent: np.ndarray, x: int) -> int:
    """The root of ``x``, compressing the path on the way."""
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        parent[x], x = root, parent[x]
    return root


@numba.njit(cache=True)
def union_pairs(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Join the sets of ``a[i]`` and ``b[i]`` for every i (the smaller root becomes the parent)."""
    for i in range(a.shape[0]):
        ra, rb = find(parent, a[i]), find(parent, b[i])
        if ra < rb:
            parent[rb] = ra
        elif rb < ra:
            parent[ra] = rb


@numba.njit(cache=True)
def roots(parent: np.ndarray) -> np.ndarray:
    """The root of every element (with full path compression)."""
    out = np.empty_like(parent)
    for i in range(parent.shape[0]):
        out[i] = find(parent, i)
    return out
