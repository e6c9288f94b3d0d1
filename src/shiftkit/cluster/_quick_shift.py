"""Mode seeking on a k-nearest-neighbor graph with cluster cores (Quickshift++-style), parameter-free.

Mean shift with one global bandwidth cannot follow clusters of different
densities and shapes. Here every point climbs the graph instead: to its
densest mutual neighbor that is denser than itself, until a mode. The density
is a Gaussian kernel density estimate whose bandwidth is the local scale of the
data (the mean distance to the 10th nearest neighbor), evaluated with
shiftkit's engines. Most modes are noise; `shiftkit.cluster._saddles` keeps
those whose relative prominence reaches a level chosen from the data, and
merges clusters under ``min_cluster_size`` into their neighbors.

Cost: one k-nearest-neighbor graph (a grid in low dimension, brute force or
faiss in high), one density evaluation, then near-linear graph work. On
1,000,000 points in 2-D, about 10 s here (``benchmarks/bench_scale.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from shiftkit._array import to_numpy
from shiftkit._shift import DEFAULT_MEMORY_BUDGET, shift_tensors
from shiftkit._validation import Rule, check_bandwidth, check_params, fraction_or_count, integer_at_least
from shiftkit.bandwidth import local_bandwidth
from shiftkit.cluster._base import MEMORY_BUDGET_RULE, PROMINENCE_RULE, Frame, TensorInputMixin
from shiftkit.cluster._saddles import (
    DEFAULT_MIN_CLUSTER_SIZE,
    LEVELS,
    density_graph,
    hill_climb,
    merge_through_saddles,
)
from shiftkit.kernels import get_kernel
from shiftkit.neighbors import GRAPH_LEAST_NEIGHBORS, NeighborIndex, make_index, neighbors_for

__all__ = ["QuickShift", "quick_shift"]


@dataclass(frozen=True)
class _Fitted:
    """What `QuickShift.predict` needs from the fit: the scaled data, their index and density."""

    X: Tensor  # (n, d), in the frame: X_input = frame.back(X)
    frame: Frame
    index: NeighborIndex | None
    density: Tensor  # (n,)


# Neighbors per point in the graph (at most a tenth of the points: `neighbors_for`).
NEIGHBORS = 20

PARAMETER_RULES: dict[str, Rule] = {
    "n_neighbors": integer_at_least(2).or_none(),
    "prominence": PROMINENCE_RULE,
    "min_cluster_size": fraction_or_count(),
    "memory_budget": MEMORY_BUDGET_RULE,
}


class QuickShift(TensorInputMixin, ClusterMixin, BaseEstimator):
    """Mode-seeking clustering on a nearest-neighbor graph; the number of clusters is found, not given.

    Every point climbs to its densest mutual nearest neighbor that is denser
    than itself, until it reaches a mode of the density; modes whose relative
    prominence (how far the density falls below the peak before meeting a
    higher mode) is below a level are merged into their neighbors, and so are
    clusters smaller than ``min_cluster_size``. With the defaults, nothing needs
    choosing: the bandwidth is the local scale of the data and the level is the
    one at which the number of clusters lives longest.

    Parameters
    ----------
    n_neighbors : int, default=None
        Neighbors per point in the graph the points climb on. None: `NEIGHBORS`
        (20), but at most a tenth of the points (`shiftkit.neighbors.neighbors_for`:
        on small data twenty neighbors reach across the gaps between clusters).
    bandwidth : float, default=None
        Standard deviation of the Gaussian kernel density estimate. None: the
        mean distance to the 10th nearest neighbor (at most a tenth of the
        points away; `shiftkit.bandwidth.local_bandwidth`).
    prominence : float in (0, 1), default=None
        The level: modes whose density falls by less than this fraction before
        meeting a higher mode are merged (0.5: the saddle is above half the
        peak). None: chosen from the data by the lifetime criterion (see
        ``levels_`` and ``n_clusters_by_level_``).
    min_cluster_size : float or int, default=0.005
        A fraction of the points (below 1) or a number of points: smaller
        clusters are merged into their neighbors.
    device : str or torch.device, default=None
        Where to compute: the device of a tensor ``X``, else CUDA when torch
        sees it, else CPU. The graph steps after the density run on the CPU.
    dtype : {'float32', 'float64'} or None, default='float32'
        Precision of the distances and densities (the data are centered and
        scaled in float64 first); None: the input's (float64 for integers).
        ``cluster_centers_`` follow the input's float dtype either way.
    memory_budget : int, default=256 MiB
        Bytes of temporaries per step; no n x n matrix is ever allocated.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, 0 for the cluster of the highest mode.
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The mode of each cluster: its densest point.
    cluster_densities_ : ndarray of shape (n_clusters,)
        Density at each mode, ``sum_j exp(-|c - x_j|^2 / (2 h^2))`` (a count of
        nearby points), decreasing.
    density_ : ndarray of shape (n_samples,)
        The density at every point, on the same scale.
    bandwidth_ : float
        The bandwidth used.
    n_neighbors_ : int
        The neighbors per point used (``n_neighbors``, or its default's value).
    prominence_ : float
        The level used (given, or chosen).
    levels_ : ndarray of shape (n_levels,)
        The levels swept when ``prominence=None`` (else just the one given).
    n_clusters_by_level_ : ndarray of shape (n_levels,)
        Clusters of at least ``min_cluster_size`` at each level.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string column names.

    See Also
    --------
    MeanShift : Mean shift; with its defaults it merges modes the same way.

    Notes
    -----
    Quickshift++ (Jiang, Jang & Kpotufe, ICML 2018) defines cluster cores as
    the connected components, in the mutual k-NN graph, of the points whose
    density is within a factor ``1 - beta`` of their component's peak; with the
    elder rule of ToMATo (Chazal, Guibas, Oudot & Skraba, 2013) the cores of
    every ``beta`` come from one merge tree. The level is chosen with the
    lifetime criterion of Leung, Zhang & Xu (2000). `predict` sends a new point
    to the cluster of its nearest denser training point among its
    ``n_neighbors_`` nearest.

    Examples
    --------
    >>> from shiftkit import QuickShift
    >>> from shiftkit.datasets import make_blobs
    >>> X, y, centers = make_blobs()
    >>> qs = QuickShift().fit(X)
    >>> len(qs.cluster_centers_)
    6
    """

    def __init__(
        self,
        *,
        n_neighbors: int | None = None,
        bandwidth: float | None = None,
        prominence: float | None = None,
        min_cluster_size: float = DEFAULT_MIN_CLUSTER_SIZE,
        device: Any = None,
        dtype: Any = "float32",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.bandwidth = bandwidth
        self.prominence = prominence
        self.min_cluster_size = min_cluster_size
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget

    def fit(self, X: Any, y: Any = None) -> QuickShift:
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Lists, numpy arrays, pandas DataFrames or torch tensors.
        y : Ignored

        Returns
        -------
        self : QuickShift
        """
        check_params(self, PARAMETER_RULES)
        if self.bandwidth is not None:
            check_bandwidth(self.bandwidth)
        X_c, frame = self._validate_framed(X, reset=True)
        scale = frame.scale
        n = X_c.shape[0]
        given = None if self.bandwidth is None else float(self.bandwidth) / scale
        index, k = None, 1
        if n > 1:
            wanted = self.n_neighbors or neighbors_for(X_c, NEIGHBORS, least=GRAPH_LEAST_NEIGHBORS)
            k = min(wanted, n - 1)
            index = make_index(X_c, n_neighbors=k + 1, memory_budget=self.memory_budget)
        bandwidth = given if given is not None else local_bandwidth(X_c) if n > 1 else 0.0
        if n == 1 or bandwidth == 0:  # one point, or every point the same
            density = X_c.new_full((n,), float(n))
            labels = np.zeros(n, dtype=np.int64)
            peaks = np.zeros(1, dtype=np.int64)
            level = float(self.prominence) if self.prominence is not None else float(LEVELS[0])
            levels, counts = np.array([level]), np.array([1])
            bandwidth = bandwidth or 1.0
        else:
            landscape = density_graph(
                X_c,
                bandwidth,
                get_kernel("gaussian"),
                None,
                n_neighbors=k,
                memory_budget=self.memory_budget,
                index=index,
            )
            density = landscape.density
            merged = merge_through_saddles(
                hill_climb(landscape.log_density, landscape.graph),
                landscape.log_density,
                landscape.graph,
                X_c,
                prominence=self.prominence,
                min_cluster_size=self.min_cluster_size,
            )
            labels, peaks, level = merged.labels, merged.peak_points, merged.level
            levels, counts = merged.levels, merged.counts
        modes = torch.as_tensor(peaks, device=X_c.device)
        self.labels_ = labels
        self.cluster_centers_ = frame.out(X_c[modes])
        self.cluster_densities_ = to_numpy(density[modes])
        self.density_ = to_numpy(density)
        self.bandwidth_ = bandwidth * scale
        self.prominence_ = level
        self.levels_, self.n_clusters_by_level_ = levels, counts
        self.n_neighbors_ = k
        self._fitted = _Fitted(X_c, frame, index, density)
        return self

    def _density(self, Y: Tensor, X: Tensor, bandwidth: float) -> Tensor:
        _, density = shift_tensors(Y, X, bandwidth, get_kernel("gaussian"), memory_budget=self.memory_budget)
        return density

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each row of ``X``: that of its nearest denser training point.

        Among the ``n_neighbors_`` nearest training points, the nearest whose
        density is at least the new point's; if none is, the nearest.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        fitted = self._fitted
        X_fit = fitted.X
        Y = fitted.frame.to(self._validate_X(X, reset=False, dtype=torch.float64)).to(X_fit.device)
        if fitted.index is None:
            return np.zeros(Y.shape[0], dtype=np.int64)
        k = min(self.n_neighbors_, X_fit.shape[0])
        _, idx = fitted.index.kneighbors(Y, k)  # (m, k)
        idx = idx.to(X_fit.device).long()
        own = self._density(Y, X_fit, self.bandwidth_ / fitted.frame.scale)  # (m,)
        denser = fitted.density[idx] >= own[:, None]  # (m, k)
        first = torch.where(denser.any(1), denser.to(torch.int8).argmax(1), 0)
        nearest = idx.gather(1, first[:, None])[:, 0]
        return self.labels_[nearest.cpu().numpy()]


def quick_shift(X: Any, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mode-seeking clustering, the function form of `QuickShift`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    **params
        The parameters of `QuickShift`.

    Returns
    -------
    cluster_centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,)
    """
    estimator = QuickShift(**params).fit(X)
    return estimator.cluster_centers_, estimator.labels_
