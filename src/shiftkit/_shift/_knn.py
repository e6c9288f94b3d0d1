"""The knn engine: a step over each query's k nearest data points, for dimensions where cells stop working.

Grid cells cost 3^d lookups and stop paying beyond about 6 dimensions. Here a
neighbour index finds each query's ``k`` nearest points and the step is taken
over those only, O(m k d) after the search:

- faiss (the optional extra ``shiftkit[knn]``): an exact flat index below
  ``HNSW_MIN_POINTS`` points, an HNSW graph above (sub-quadratic, but
  approximate: a true neighbour can be missed, so steps there are approximate
  for every kernel);
- otherwise scikit-learn's ``NearestNeighbors`` (exact; trees in low dimension,
  chunked brute force in high).

Compact kernels are exact whenever a query has fewer than ``k`` points inside
the support; the queries whose ``k``-th neighbour is still inside it are
recomputed over all the data with the exact engine, so the step is exact
whatever ``k`` (with an exact index). The Gaussian is truncated to the ``k``
nearest points.

The index of the data is kept between calls while the data tensor is the same
and unchanged (standard mean shift climbs over fixed data), and rebuilt
otherwise (blurring moves the data every step).
"""

from __future__ import annotations

import weakref
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit._shift import _fused
from shiftkit._shift._dense import rows_per_chunk, shift_dense, weighted_means
from shiftkit.kernels import Kernel

NEIGHBOURS = 64
HNSW_MIN_POINTS = 50_000


@cache
def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def backend() -> str:
    """``'faiss'`` when the optional extra is installed, else ``'sklearn'``."""
    return "sklearn" if _faiss() is None else "faiss"


class _Index:
    """k-nearest-neighbour search over fixed data, faiss or scikit-learn."""

    def __init__(self, X: np.ndarray) -> None:
        faiss = _faiss()
        self.n = X.shape[0]
        if faiss is None:
            from sklearn.neighbors import NearestNeighbors

            self.sklearn = NearestNeighbors().fit(X)
            self.faiss = None
            return
        if self.n >= HNSW_MIN_POINTS:
            # graph degree and effort measured on 100,000 x 16 (benchmarks/bench_scale.py)
            index = faiss.IndexHNSWFlat(X.shape[1], 16)
            index.hnsw.efConstruction = 40
        else:
            index = faiss.IndexFlatL2(X.shape[1])
        index.add(np.ascontiguousarray(X, dtype=np.float32))
        self.faiss = index

    def search(self, Y: np.ndarray, k: int) -> np.ndarray:
        """Indices of the ``k`` nearest data rows of each query; (m, k)."""
        k = min(k, self.n)
        if self.faiss is None:
            return self.sklearn.kneighbors(Y, n_neighbors=k, return_distance=False)
        if hasattr(self.faiss, "hnsw"):
            self.faiss.hnsw.efSearch = max(k, 64)
        _, idx = self.faiss.search(np.ascontiguousarray(Y, dtype=np.float32), k)
        return idx


_cached: dict[str, Any] = {}


def _index_for(X: Tensor) -> _Index:
    """The index of ``X``, reused while ``X`` is the same live tensor, unchanged since it was built.

    A weak reference, not the memory address: a freed tensor's memory is soon
    handed to a new tensor of the same shape, and an address key would then
    return the old data's index.
    """
    ref, version = _cached.get("tensor"), _cached.get("version")
    if ref is None or ref() is not X or version != X._version:
        _cached["index"] = _Index(X.detach().cpu().numpy())
        _cached["tensor"], _cached["version"] = weakref.ref(X), X._version
    return _cached["index"]


def shift_knn(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    memory_budget: int,
    *,
    neighbours: int = NEIGHBOURS,
) -> tuple[Tensor, Tensor]:
    """One mean-shift step over each query's nearest points; see the module docstring."""
    if weights is not None:
        keep = weights > 0
        X, weights = X[keep], weights[keep]
    idx = torch.from_numpy(_index_for(X).search(Y.detach().cpu().numpy(), neighbours)).to(Y.device)  # (m, k)
    valid = idx >= 0  # an approximate index may return fewer than k
    idx = idx.clamp_min(0)
    m, d = Y.shape
    Y_new = torch.empty_like(Y)
    density = Y.new_empty(m)
    rows = rows_per_chunk(idx.shape[1], d, Y.element_size(), memory_budget)
    for start in range(0, m, rows):
        y_i = Y[start : start + rows]  # (b, d)
        x_ij = X[idx[start : start + rows]]  # (b, k, d)
        D_ij = (y_i[:, None, :] - x_ij).square_().sum(-1)  # (b, k)
        if kernel.exponential:  # factor the nearest point out, as the dense engine does
            D_min = D_ij.amin(1, keepdim=True)
            K_ij = kernel(D_ij - D_min, bandwidth)
            scale = kernel(D_min[:, 0], bandwidth)
        else:
            K_ij, scale = kernel(D_ij, bandwidth), None
        K_ij = K_ij * valid[start : start + rows]
        if weights is not None:
            K_ij = K_ij * weights[idx[start : start + rows]]
        den = K_ij.sum(1)
        num = torch.einsum("bk,bkd->bd", K_ij, x_ij)
        Y_new[start : start + rows] = weighted_means(num, den, y_i)
        density[start : start + rows] = den if scale is None else den * scale
    if kernel.compact and idx.shape[1] < X.shape[0]:
        # the k-th neighbour inside the support: there may be more; redo those queries over all the data
        kth = (Y - X[idx[:, -1]]).square().sum(1)
        full = torch.nonzero(kth <= kernel.support_radius(bandwidth) ** 2)[:, 0]
        if full.numel():
            exact = _fused.shift_fused if _fused.supports(Y, X, kernel) else shift_dense
            Y_new[full], density[full] = exact(Y[full], X, bandwidth, kernel, weights, memory_budget)
    return Y_new, density
