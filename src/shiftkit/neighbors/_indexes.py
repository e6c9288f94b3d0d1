"""Neighbor indexes behind one small protocol: ``fit(X)``, ``kneighbors(Y, k)``, ``radius_neighbors(Y, r)``.

Every index returns ``(distances, indices)`` as tensors of shape (m, k), nearest
first (indices of an integer dtype: `GridIndex` gives int32 below 2^31 rows, to
halve the largest array of a big graph); ``kneighbors(None, k)`` asks for the
neighbors of the fitted rows themselves, each row's own entry left out
(scikit-learn's convention).

- `GridIndex`: exact, for a few features on the CPU. The data are sorted into
  cells sized so that a point's cell holds about ``n_neighbors / 2`` points; a
  query scans rings of cells outwards until its k-th candidate is closer than
  the unscanned cells can be. A numba kernel, one query per thread. On
  1,000,000 points in 2-D (20 blobs), the 20 neighbors of every point took
  2.3 s here (0.5 s to sort, 1.8 s to search) against 6.9 s for
  scikit-learn's ``KDTree`` with ``n_jobs=2`` (``benchmarks/bench_scale.py``).
- `ExactIndex`: exact brute force in torch on any device, chunked so that the
  (queries x data) block fits a memory budget; distances of the chosen
  neighbors recomputed from explicit differences, so they are as exact as the
  dense engine's.
- `TreeIndex`: scikit-learn's ``NearestNeighbors`` (k-d and ball trees), exact.
- `FaissIndex`: faiss (the optional extra ``shiftkit[knn]``): an exact flat
  index, or an HNSW graph for large data (approximate: a true neighbor can be
  missed).

`make_index` chooses one for the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from shiftkit._ops import DEFAULT_MEMORY_BUDGET
from shiftkit.neighbors.cells import SortedCells

__all__ = [
    "ExactIndex",
    "FaissIndex",
    "GridIndex",
    "NeighborIndex",
    "Neighborhoods",
    "TreeIndex",
    "faiss_available",
    "make_index",
]


@dataclass(frozen=True)
class Neighborhoods:
    """Each query's neighbors within a radius, nearest first, in compressed rows.

    Query ``i``'s neighbors are ``indices[offsets[i]:offsets[i + 1]]`` at
    ``distances[offsets[i]:offsets[i + 1]]``.
    """

    offsets: Tensor  # (m + 1,), int64
    indices: Tensor  # (nnz,), int64
    distances: Tensor  # (nnz,)

    def counts(self) -> Tensor:
        """How many neighbors each query has; (m,)."""
        return self.offsets.diff()


def _csr(rows: list[Tensor], dists: list[Tensor], dtype: torch.dtype, device: torch.device) -> Neighborhoods:
    counts = torch.tensor([len(r) for r in rows], dtype=torch.long)
    offsets = torch.zeros(len(rows) + 1, dtype=torch.long)
    offsets[1:] = torch.cumsum(counts, 0)
    empty = torch.zeros(0)
    return Neighborhoods(
        offsets.to(device),
        torch.cat([r.long() for r in rows]).to(device) if rows else empty.long(),
        torch.cat([d.to(dtype) for d in dists]).to(device) if dists else empty.to(dtype),
    )


class NeighborIndex(Protocol):
    """What every index offers: ``fit``, ``kneighbors`` and ``radius_neighbors``."""

    @property
    def exact(self) -> bool:
        """Whether the neighbors found are the true nearest (approximate indexes may miss some)."""
        ...

    def fit(self, X: Tensor) -> NeighborIndex: ...

    def kneighbors(self, Y: Tensor | None, n_neighbors: int) -> tuple[Tensor, Tensor]: ...

    def radius_neighbors(self, Y: Tensor | None, radius: float) -> Neighborhoods: ...


def _drop_self(dist: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
    """From the k + 1 neighbors of every fitted row, drop the row itself (or, if absent, the farthest)."""
    n = idx.shape[0]
    own = idx == torch.arange(n, device=idx.device)[:, None]  # (n, k+1)
    missing = ~own.any(1)
    own[missing, -1] = True
    keep = ~own
    k = idx.shape[1] - 1
    return dist[keep].reshape(n, k), idx[keep].reshape(n, k)


def _check_k(n_neighbors: int, available: int) -> int:
    if n_neighbors < 1:
        raise ValueError(f"n_neighbors must be >= 1, got {n_neighbors}")
    if n_neighbors > available:
        raise ValueError(f"n_neighbors={n_neighbors} but only {available} data rows can be neighbors")
    return n_neighbors


class ExactIndex:
    """Exact k nearest neighbors by chunked brute force in torch, on the data's device."""

    exact = True

    def __init__(self, *, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> None:
        self.memory_budget = memory_budget

    def fit(self, X: Tensor) -> ExactIndex:
        self.X_ = X
        # |x|^2 - 2 x.y + |y|^2 ranks well only near the origin: data far from it (float32 at an offset of
        # 100 ranked 35% of neighbors wrongly) are searched centered, the mean taken in float64
        self.center_ = _center_if_far(X)
        self._X = self._centered(X)
        self.sq_norms_ = self._X.square().sum(1)  # (n,)
        return self

    def _centered(self, T: Tensor) -> Tensor:
        if self.center_ is None:
            return T
        return T - self.center_.to(T.device, T.dtype)

    def kneighbors(self, Y: Tensor | None, n_neighbors: int) -> tuple[Tensor, Tensor]:
        X = self._X
        if Y is None:
            _check_k(n_neighbors, X.shape[0] - 1)
            return _drop_self(*self._search(X, n_neighbors + 1))
        return self._search(self._centered(Y), _check_k(n_neighbors, X.shape[0]))

    def radius_neighbors(self, Y: Tensor | None, radius: float) -> Neighborhoods:
        """Rows within ``radius`` (inclusive) of each query, nearest first; chunked to the memory budget."""
        X = self._X
        queries = X if Y is None else self._centered(Y)
        rows = max(1, self.memory_budget // (3 * X.shape[0] * X.element_size()))
        found, dists = [], []
        x_norm = self.sq_norms_.max() if X.shape[0] else X.new_zeros(())
        for start in range(0, queries.shape[0], rows):
            y_i = queries[start : start + rows]  # (b, d)
            D_ij = torch.addmm(self.sq_norms_[None, :], y_i, X.T, alpha=-2.0)  # (b, n), less |y|^2
            y_norm = y_i.square().sum(1, keepdim=True)  # (b, 1)
            # a generous candidate set (the expansion's rounding), then exact distances decide
            r2 = radius * radius  # inf past 1e154 (or for radius=inf): every row
            slack = 8 * torch.finfo(X.dtype).eps * (y_norm + x_norm) + r2 * 1e-6
            candidate = D_ij + y_norm <= r2 + slack
            for b in range(y_i.shape[0]):
                j = torch.nonzero(candidate[b])[:, 0]
                if Y is None:
                    j = j[j != start + b]
                d_j = (X[j] - y_i[b]).square().sum(1).sqrt()
                keep = d_j <= radius
                j, d_j = j[keep], d_j[keep]
                order = torch.sort(d_j, stable=True).indices
                found.append(j[order])
                dists.append(d_j[order])
        return _csr(found, dists, X.dtype, X.device)

    def _search(self, Y: Tensor, k: int) -> tuple[Tensor, Tensor]:
        X = self._X
        rows = max(1, self.memory_budget // (3 * X.shape[0] * X.element_size()))
        dists, idxs = [], []
        for start in range(0, Y.shape[0], rows):
            y_i = Y[start : start + rows]  # (b, d)
            # the expansion ranks the candidates; exact distances are recomputed below
            D_ij = torch.addmm(self.sq_norms_[None, :], y_i, X.T, alpha=-2.0)  # (b, n), less |y|^2
            idx = _smallest(D_ij, k)  # (b, k)
            sq = (y_i[:, None, :] - X[idx]).square().sum(-1)  # (b, k)
            sq, order = torch.sort(sq, dim=1, stable=True)
            dists.append(sq.sqrt())
            idxs.append(idx.gather(1, order))
        if not dists:  # no queries
            return X.new_zeros((0, k)), torch.zeros((0, k), dtype=torch.long, device=X.device)
        return torch.cat(dists), torch.cat(idxs)


def _center_if_far(X: Tensor, sample: int = 10_000) -> Tensor | None:
    """A center for ``X`` (n, d), in its dtype, when its rows lie far from the origin (the expansion then
    loses digits), else None. Per feature: the mean of at most ``sample`` evenly spaced rows where it is
    more than twice their spread, else 0. Rounded to ``X``'s dtype, so that ``x - center`` is exact for
    every ``x`` within a factor two of it (Sterbenz): equal distances stay equal."""
    n = X.shape[0]
    if n == 0:
        return None
    rows = X[:: max(1, n // sample)].detach().double()
    mean, spread = rows.mean(0), rows.std(0, unbiased=False)
    far = mean.abs() > 2 * spread
    if not bool(far.any()):
        return None
    return torch.where(far, mean, 0.0).to(X.dtype)


def _smallest(D: Tensor, k: int) -> Tensor:
    """The columns of the ``k`` smallest entries of each row of ``D`` (b, n), smallest first, ties to the
    lower column: a compiled selection on the CPU (a third of ``torch.topk``'s time), ``topk`` elsewhere."""
    if D.device.type != "cpu" or D.requires_grad:
        return D.topk(k, dim=1, largest=False).indices
    from shiftkit.neighbors._select_kernels import smallest_k

    out = np.empty((D.shape[0], k), dtype=np.int64)
    smallest_k(D.numpy(), k, out)
    return torch.from_numpy(out)


class GridIndex:
    """Exact k nearest neighbors over a grid of cells (few features, CPU); see the module docstring."""

    exact = True
    MAX_FEATURES = 3

    def __init__(self, *, n_neighbors: int = 16) -> None:
        self.n_neighbors = n_neighbors

    @staticmethod
    def fits(X: Tensor) -> bool:
        """Whether this index takes ``X``: CPU, at most ``MAX_FEATURES`` features."""
        return X.device.type == "cpu" and 1 <= X.shape[1] <= GridIndex.MAX_FEATURES

    def fit(self, X: Tensor) -> GridIndex:
        if not self.fits(X):
            raise ValueError(f"GridIndex takes CPU data of at most {self.MAX_FEATURES} features")
        self.X_ = X
        data = X.detach().numpy()
        self.cell_size_ = _cell_size(data, max(2.0, self.n_neighbors / 2))
        cells = SortedCells(X.detach(), None, self.cell_size_)  # ValueError: too many cells to number
        self.order_ = cells.order.numpy()
        self.cell_keys_ = cells.occupied.numpy()
        self.starts_ = cells.starts.numpy()
        self.counts_ = cells.counts.numpy()
        self.sorted_ = np.ascontiguousarray(cells.X.numpy())
        self.lo_, self.hi_, self.strides_ = cells.lo.numpy(), cells.hi.numpy(), cells.strides.numpy()
        return self

    def kneighbors(self, Y: Tensor | None, n_neighbors: int) -> tuple[Tensor, Tensor]:
        from shiftkit.neighbors._grid_kernels import knn_over_cells

        n = self.X_.shape[0]
        if Y is None:
            # the fitted rows in cell order: neighboring queries read the same cells
            queries, targets = self.sorted_, self.order_
            k = _check_k(n_neighbors, n - 1)
        else:
            queries = np.ascontiguousarray(Y.detach().cpu().numpy(), dtype=self.sorted_.dtype)
            targets = np.arange(queries.shape[0])
            k = _check_k(n_neighbors, n)
        dist = np.empty((queries.shape[0], k), dtype=self.sorted_.dtype)
        # int32 halves the largest array of a graph of millions of points
        idx = np.empty((queries.shape[0], k), dtype=np.int32 if n < 2**31 else np.int64)
        knn_over_cells(
            queries,
            self.sorted_,
            self.cell_keys_,
            self.starts_,
            self.counts_,
            self.lo_,
            self.hi_,
            self.strides_,
            float(self.cell_size_),
            self.order_,
            Y is None,
            targets,
            dist,
            idx,
        )
        return torch.from_numpy(dist), torch.from_numpy(idx)

    def radius_neighbors(self, Y: Tensor | None, radius: float) -> Neighborhoods:
        """Rows within ``radius`` (inclusive) of each query, nearest first."""
        return _grid_radius_neighbors(self, Y, radius)


def _grid_radius_neighbors(index: GridIndex, Y: Tensor | None, radius: float) -> Neighborhoods:
    from shiftkit.neighbors._grid_kernels import radius_over_cells

    reach = radius / float(index.cell_size_)
    span = index.hi_ - index.lo_ + 1  # cells along each axis
    if not reach < 2**31 or np.prod(np.minimum(2 * math.ceil(reach) + 1, span), dtype=np.float64) > max(
        64, len(index.cell_keys_)
    ):  # a radius wider than the grid (1e30, inf): more cells to visit than are occupied, so every row
        return ExactIndex().fit(index.X_).radius_neighbors(Y, radius)
    if Y is None:
        queries, targets = index.sorted_, index.order_
    else:
        queries = np.ascontiguousarray(Y.detach().cpu().numpy(), dtype=index.sorted_.dtype)
        targets = np.arange(queries.shape[0])
    offsets, indices, distances = radius_over_cells(
        queries,
        index.sorted_,
        index.cell_keys_,
        index.starts_,
        index.counts_,
        index.lo_,
        index.hi_,
        index.strides_,
        float(index.cell_size_),
        float(radius),
        index.order_,
        Y is None,
        targets,
    )
    return Neighborhoods(
        torch.from_numpy(offsets), torch.from_numpy(indices), torch.from_numpy(distances).to(index.X_.dtype)
    )


def _cell_size(data: np.ndarray, occupancy: float, sample: int = 100_000) -> float:
    """A cell side at which a point's cell holds about ``occupancy`` points (measured on a subsample)."""
    n, d = data.shape
    rng = np.random.default_rng(0)
    part = data if n <= sample else data[rng.choice(n, sample, replace=False)]
    scale_up = n / part.shape[0]  # a subsample's cells hold this many times fewer points
    # a first guess from the bulk of the data (four interquartile ranges), blind to far outliers
    span = 4 * (np.quantile(part, 0.75, axis=0) - np.quantile(part, 0.25, axis=0))
    extent = float(np.max(span))
    if extent == 0:
        span = part.max(0) - part.min(0)
        extent = float(np.max(span))
    if extent == 0:
        return 1.0  # every point is the same point: one cell
    # (volume * occupancy / n)^(1/d), in logarithms (the volume of wide data overflows), over the
    # dimensions the data fill: on a line in the plane, cells as thin as the line is would number millions
    spread = span > extent * 1e-3
    log_volume = float(np.log(span[spread]).sum())
    size = float(np.exp((log_volume + np.log(occupancy / n)) / int(spread.sum())))
    for _ in range(4):
        cells = np.floor(part / size)
        if not np.isfinite(cells).all() or np.abs(cells).max() >= 2**62:
            break  # too many cells to number: the caller refuses the grid
        _, counts = np.unique(cells.astype(np.int64), axis=0, return_counts=True)
        seen = float((counts.astype(np.float64) ** 2).sum() / part.shape[0]) * scale_up
        if 0.5 * occupancy <= seen <= 2 * occupancy:
            break
        size *= (occupancy / max(seen, 1e-12)) ** (1.0 / d)
    return size


class TreeIndex:
    """scikit-learn's ``NearestNeighbors`` (trees in low dimension, brute force in high), exact."""

    exact = True

    def fit(self, X: Tensor) -> TreeIndex:
        from sklearn.neighbors import NearestNeighbors

        self.X_ = X
        self.model_ = NearestNeighbors().fit(X.detach().cpu().numpy())
        return self

    def kneighbors(self, Y: Tensor | None, n_neighbors: int) -> tuple[Tensor, Tensor]:
        n = self.X_.shape[0]
        _check_k(n_neighbors, n - 1 if Y is None else n)
        query = None if Y is None else Y.detach().cpu().numpy()
        dist, idx = self.model_.kneighbors(query, n_neighbors=n_neighbors)
        device = self.X_.device
        return torch.from_numpy(dist).to(device, self.X_.dtype), torch.from_numpy(idx).to(device)

    def radius_neighbors(self, Y: Tensor | None, radius: float) -> Neighborhoods:
        """Rows within ``radius`` (inclusive) of each query, nearest first."""
        query = None if Y is None else Y.detach().cpu().numpy()
        dist, idx = self.model_.radius_neighbors(query, radius=radius, sort_results=True)
        return _csr(
            [torch.from_numpy(i) for i in idx],
            [torch.from_numpy(d) for d in dist],
            self.X_.dtype,
            self.X_.device,
        )


@cache
def _faiss() -> Any:
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def faiss_available() -> bool:
    """Whether the optional extra ``shiftkit[knn]`` (faiss) is installed."""
    return _faiss() is not None


class FaissIndex:
    """faiss: an exact flat index below ``hnsw_min_points`` rows, an (approximate) HNSW graph above."""

    # graph degree and effort measured on 100,000 x 16 (benchmarks/bench_scale.py)
    HNSW_MIN_POINTS = 50_000

    def __init__(self, *, hnsw_min_points: int = HNSW_MIN_POINTS) -> None:
        if _faiss() is None:
            raise ImportError("FaissIndex needs faiss: pip install 'shiftkit[knn]'")
        self.hnsw_min_points = hnsw_min_points

    @property
    def exact(self) -> bool:
        return not hasattr(self.index_, "hnsw")

    def fit(self, X: Tensor) -> FaissIndex:
        faiss = _faiss()
        self.X_ = X
        d = X.shape[1]
        if X.shape[0] >= self.hnsw_min_points:
            index = faiss.IndexHNSWFlat(d, 16)
            index.hnsw.efConstruction = 40
        else:
            index = faiss.IndexFlatL2(d)
        index.add(np.ascontiguousarray(X.detach().cpu().numpy(), dtype=np.float32))
        self.index_ = index
        return self

    def kneighbors(self, Y: Tensor | None, n_neighbors: int) -> tuple[Tensor, Tensor]:
        n = self.X_.shape[0]
        if Y is None:
            _check_k(n_neighbors, n - 1)
            return _drop_self(*self._search(self.X_, n_neighbors + 1))
        return self._search(Y, _check_k(n_neighbors, n))

    def radius_neighbors(self, Y: Tensor | None, radius: float) -> Neighborhoods:
        """Rows within ``radius`` of each query, nearest first (faiss's range search, in float32)."""
        queries = self.X_ if Y is None else Y
        q = np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32)
        lims, sq, idx = self.index_.range_search(q, np.float32(radius) ** 2 * (1 + 1e-6))
        found, dists = [], []
        for i in range(q.shape[0]):
            j = torch.from_numpy(idx[lims[i] : lims[i + 1]].astype(np.int64))
            d_j = torch.from_numpy(np.sqrt(np.maximum(sq[lims[i] : lims[i + 1]], 0)))
            keep = (d_j <= radius) & ((j != i) if Y is None else torch.ones_like(j, dtype=torch.bool))
            j, d_j = j[keep], d_j[keep]
            order = torch.sort(d_j, stable=True).indices
            found.append(j[order])
            dists.append(d_j[order])
        return _csr(found, dists, self.X_.dtype, self.X_.device)

    def _search(self, Y: Tensor, k: int) -> tuple[Tensor, Tensor]:
        if hasattr(self.index_, "hnsw"):
            self.index_.hnsw.efSearch = max(k, 64)
        sq, idx = self.index_.search(np.ascontiguousarray(Y.detach().cpu().numpy(), dtype=np.float32), k)
        device = self.X_.device
        dist = torch.from_numpy(np.sqrt(np.maximum(sq, 0))).to(device, self.X_.dtype)
        return dist, torch.from_numpy(idx).to(device)


# Above this many (rows x rows) pairs, exact brute force in high dimension is slow enough that
# faiss (when installed) is preferred.
BRUTE_FORCE_MAX_PAIRS = 10**10


def make_index(
    X: Tensor, *, n_neighbors: int = 16, memory_budget: int = DEFAULT_MEMORY_BUDGET, exact: bool = True
) -> NeighborIndex:
    """The index for ``X``, fitted.

    CPU data of at most `GridIndex.MAX_FEATURES` features: the grid (scikit-learn's
    trees where the grid cannot number its cells). Otherwise exact brute force
    in torch on the data's device, unless the data are large (over
    ``BRUTE_FORCE_MAX_PAIRS`` pairs), ``exact=False`` and faiss is installed.
    """
    if GridIndex.fits(X):
        try:
            return GridIndex(n_neighbors=n_neighbors).fit(X)
        except ValueError:
            return TreeIndex().fit(X)
    if not exact and faiss_available() and X.shape[0] ** 2 > BRUTE_FORCE_MAX_PAIRS:
        return FaissIndex().fit(X)
    return ExactIndex(memory_budget=memory_budget).fit(X)
