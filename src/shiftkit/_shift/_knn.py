"""The knn engine: a step over each query's k nearest data points, for dimensions where cells stop working.

Grid cells cost 3^d lookups and stop paying beyond about 6 dimensions. Here a
neighbor index (any `shiftkit.neighbors.NeighborIndex`) finds each query's
``k`` nearest points and the step is taken over those only, O(m k d) after the
search. The default index: faiss when the optional extra ``shiftkit[knn]`` is
installed (an exact flat index below 50,000 points, an HNSW graph above:
sub-quadratic, but approximate, a true neighbor can be missed), else
scikit-learn's ``NearestNeighbors`` (exact; trees in low dimension, chunked
brute force in high).

Compact kernels are exact whenever a query has fewer than ``k`` points inside
the support; the queries whose ``k``-th neighbor is still inside it are
recomputed over all the data with an exact engine, so the step is exact
whatever ``k`` (with an exact index). The Gaussian is truncated to the ``k``
nearest points.

Over fixed data (standard mean shift) the index is built once by the loop that
owns the data (`Engine.steps_over`); blurring moves the data, and every step
builds its own.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from shiftkit._ops import kernel_weights, row_chunks, rows_per_chunk, weighted_means
from shiftkit._shift import _fused
from shiftkit._shift._dense import shift_dense
from shiftkit._shift._engine import Engine, Step
from shiftkit.kernels import Kernel
from shiftkit.neighbors import FaissIndex, NeighborIndex, TreeIndex, faiss_available

NEIGHBORS = 64
# Compact kernels go to this engine (with faiss) only in high dimension on large data: measured,
# it is 10x the fused engine at d = 128 and 50,000 points, but in 16-D it loses up to 300,000
# points (bench_engines.py, bench_scale.py).
MIN_FEATURES = 64
MIN_POINTS = 50_000


def backend() -> str:
    """``'faiss'`` when the optional extra is installed, else ``'sklearn'``."""
    return "faiss" if faiss_available() else "sklearn"


def default_index(X: Tensor) -> NeighborIndex:
    """The index the engine builds for ``X``: faiss if installed, else scikit-learn's; fitted."""
    return (FaissIndex() if faiss_available() else TreeIndex()).fit(X)


def _taking_part(X: Tensor, weights: Tensor | None) -> tuple[Tensor, Tensor | None]:
    if weights is None:
        return X, None
    keep = weights > 0
    return X[keep], weights[keep]


def shift_knn(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    memory_budget: int,
    *,
    neighbors: int = NEIGHBORS,
    index: NeighborIndex | None = None,
) -> tuple[Tensor, Tensor]:
    """One mean-shift step over each query's nearest points; see the module docstring.

    ``index``: an index fitted on the rows of ``X`` of positive weight; built here when None.
    """
    X, weights = _taking_part(X, weights)
    if index is None:
        index = default_index(X)
    _, idx = index.kneighbors(Y, min(neighbors, X.shape[0]))  # (m, k)
    idx = idx.to(Y.device).long()
    valid = idx >= 0  # an approximate index may return fewer than k
    idx = idx.clamp_min(0)
    m, d = Y.shape
    Y_new = torch.empty_like(Y)
    density = Y.new_empty(m)
    for rows in row_chunks(m, rows_per_chunk(idx.shape[1], d, Y.element_size(), memory_budget)):
        y_i = Y[rows]  # (b, d)
        x_ij = X[idx[rows]]  # (b, k, d)
        K_ij, scale = kernel_weights(kernel, (y_i[:, None, :] - x_ij).square_().sum(-1), bandwidth)  # (b, k)
        K_ij = K_ij * valid[rows]
        if weights is not None:
            K_ij = K_ij * weights[idx[rows]]
        den = K_ij.sum(1)
        Y_new[rows] = weighted_means(torch.einsum("bk,bkd->bd", K_ij, x_ij), den, y_i)
        density[rows] = den if scale is None else den * scale
    if kernel.compact and idx.shape[1] < X.shape[0]:
        # the k-th neighbor inside the support: there may be more; redo those queries over all the data
        kth = (Y - X[idx[:, -1]]).square().sum(1)
        full = torch.nonzero(kth <= kernel.support_radius(bandwidth) ** 2)[:, 0]
        if full.numel():
            exact = _fused.shift_fused if _fused.supports(Y, X, kernel) else shift_dense
            Y_new[full], density[full] = exact(Y[full], X, bandwidth, kernel, weights, memory_budget)
    return Y_new, density


def _supports(Y: Tensor, X: Tensor, kernel: Kernel) -> bool:
    return True


def _pays(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, fixed_data: bool) -> bool:
    return (
        kernel.compact
        and kernel.code is not None
        and X.shape[1] >= MIN_FEATURES
        and X.shape[0] >= MIN_POINTS
        and backend() == "faiss"
    )


def _steps_over(
    X: Tensor,
    weights: Tensor | None,
    bandwidth: float,
    kernel: Kernel,
    memory_budget: int,
    index: NeighborIndex | None = None,
) -> Step:
    """Steps over fixed data with one index built for them: ``index`` (unfitted, copied and fitted
    here; e.g. `shiftkit.neighbors.LSHIndex`), or the default."""
    part = _taking_part(X, weights)[0]
    fitted = default_index(part) if index is None else copy.deepcopy(index).fit(part)
    return lambda Y: shift_knn(Y, X, bandwidth, kernel, weights, memory_budget, index=fitted)


ENGINE = Engine(
    name="knn",
    run=shift_knn,
    supports=_supports,
    exact=lambda kernel: kernel.compact and backend() == "sklearn",  # faiss's HNSW is approximate
    pays=_pays,
    priority=20,
    steps_over=_steps_over,
    takes_index=True,
    summary="each query's 64 nearest points (faiss HNSW, or scikit-learn), saturated queries redone exactly",
)
