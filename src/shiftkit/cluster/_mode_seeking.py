"""Mode seeking on a k-nearest-neighbor graph: the stages of `QuickShift`, as one function.

The local bandwidth, the kernel density at every point with its graph
(`shiftkit.cluster._saddles.density_graph`), the climb to the modes and the
merge through the saddles. `QuickShift` runs it on the data or on where the data
were embedded (`shiftkit.cluster._spaces`); the graph-layout space runs it on the
layout, with the rows' weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from shiftkit._rows import DistinctRows, distinct_rows
from shiftkit.bandwidth import local_bandwidth
from shiftkit.cluster._cuts import CutGraph
from shiftkit.cluster._saddles import (
    LEVELS,
    MIN_GAP_POINTS,
    density_graph,
    hill_climb,
    merge_through_saddles,
)
from shiftkit.kernels import get_kernel
from shiftkit.neighbors import GRAPH_LEAST_NEIGHBORS, NeighborIndex, make_index, neighbors_for

__all__ = ["NEIGHBORS", "DistinctModes", "ModeSeeking", "seek_modes", "seek_modes_of_distinct"]

# Neighbors per point in the graph (at most a tenth of the points: `neighbors_for`).
NEIGHBORS = 20


@dataclass(frozen=True)
class ModeSeeking:
    """The clusters of `seek_modes`.

    Attributes
    ----------
    labels : ndarray of shape (n,)
        Cluster of each row, 0 for the cluster of the highest mode.
    peaks : ndarray of shape (n_clusters,)
        The row at the mode (the densest row) of each cluster.
    density : Tensor of shape (n,)
    bandwidth : float
        In the units of the rows given.
    level : float
    levels, counts : ndarray
    index : NeighborIndex or None
        The index of the rows (None for a single row).
    n_neighbors : int
    core_levels : ndarray of shape (n_clusters,)
        Log density of each cluster's core (`shiftkit.cluster._saddles.core_levels`).
    """

    labels: np.ndarray
    peaks: np.ndarray
    density: Tensor
    bandwidth: float
    level: float
    levels: np.ndarray
    counts: np.ndarray
    index: NeighborIndex | None
    n_neighbors: int
    core_levels: np.ndarray

    def labels_with_noise(self, noise: bool) -> np.ndarray:
        """``labels``, and with ``noise`` -1 for the rows below their cluster's core level (the fringes
        and the background)."""
        if not noise:
            return self.labels
        below = self.density.double().log().cpu().numpy() < self.core_levels[self.labels]
        return np.where(below, -1, self.labels)


def seek_modes(
    X: Tensor,
    weights: Tensor | None = None,
    *,
    n_neighbors: int | None,
    bandwidth: float | None,
    prominence: float | None,
    min_cluster_size: float,
    memory_budget: int,
    min_gap_points: float = MIN_GAP_POINTS,
    content_ordered: bool = False,
    low_levels: bool = True,
    data_neighbors: CutGraph | None = None,
) -> ModeSeeking:
    """Cluster the rows of ``X`` (n, d) by mode seeking on their k-nearest-neighbor graph.

    ``n_neighbors`` None: `NEIGHBORS`, at most a tenth of the distinct rows;
    ``bandwidth`` None: the local scale; ``weights`` (n,): a row of weight 3
    counts as three rows; ``min_gap_points``: the least group the mutual graph cuts off that stays a
    cluster; ``content_ordered``: the rows are distinct and in content order, and the local scale is
    measured on the first of them (`shiftkit.bandwidth.local_bandwidth`); ``data_neighbors``: where
    ``X`` is not the data (a layout), each row's nearest rows in the data, in which the clusters must
    be cut apart (`shiftkit.cluster._cuts.CutGraph`).
    """
    n = X.shape[0]
    index, k = None, 1
    if n > 1:
        wanted = n_neighbors or neighbors_for(X, NEIGHBORS, least=GRAPH_LEAST_NEIGHBORS)
        k = min(wanted, n - 1)
        index = make_index(X, n_neighbors=k + 1, memory_budget=memory_budget)
    if bandwidth is None:
        bandwidth = (
            local_bandwidth(
                X, sample_weight=weights, memory_budget=memory_budget, content_ordered=content_ordered
            )
            if n > 1
            else 0.0
        )
    if n == 1 or bandwidth == 0:  # one point, or every point the same
        total = float(n) if weights is None else float(weights.sum())
        level = float(prominence) if prominence is not None else float(LEVELS[0])
        return ModeSeeking(
            np.zeros(n, dtype=np.int64),
            np.zeros(1, dtype=np.int64),
            X.new_full((n,), total),
            bandwidth or 1.0,
            level,
            np.array([level]),
            np.array([1]),
            index,
            k,
            np.full(1, -np.inf),
        )
    landscape = density_graph(
        X, bandwidth, get_kernel("gaussian"), weights, n_neighbors=k, memory_budget=memory_budget, index=index
    )
    merged = merge_through_saddles(
        hill_climb(landscape.log_density, landscape.graph),
        landscape.log_density,
        landscape.graph,
        X,
        prominence=prominence,
        min_cluster_size=min_cluster_size,
        weights=weights,
        min_gap_points=min_gap_points,
        low_levels=low_levels,
        kernel=get_kernel("gaussian"),
        data_neighbors=data_neighbors,
    )
    return ModeSeeking(
        merged.labels,
        np.asarray(merged.peak_points, dtype=np.int64),
        landscape.density,
        float(bandwidth),
        merged.level,
        merged.levels,
        merged.counts,
        index,
        k,
        merged.core_levels,
    )


@dataclass(frozen=True)
class DistinctModes:
    """`seek_modes_of_distinct`: the distinct rows (``distinct.inverse``: row ``i`` is distinct row
    ``inverse[i]``), the first input row of each (``rows``, (u,)), their points (``points``, (u, d)) and
    copies (``copies``, (u,); None where every row is distinct), and the clusters of the distinct rows."""

    distinct: DistinctRows
    rows: Tensor
    points: Tensor
    copies: Tensor | None
    seeking: ModeSeeking


def seek_modes_of_distinct(
    Z: Tensor,
    *,
    n_neighbors: int | None,
    bandwidth: float | None,
    prominence: float | None,
    min_cluster_size: float,
    memory_budget: int,
    low_levels: bool = True,
) -> DistinctModes:
    """`seek_modes` on the distinct rows of ``Z`` (n, d) in content order, each weighted by its copies
    (`shiftkit._rows`): equal rows share a cluster and the order of the rows changes nothing."""
    distinct = distinct_rows(Z)
    rows = torch.as_tensor(distinct.first, device=Z.device)
    points = Z[rows]  # (u, d)
    copies = None
    if distinct.n_distinct < Z.shape[0]:
        copies = torch.as_tensor(distinct.counts, dtype=Z.dtype, device=Z.device)
    found = seek_modes(
        points,
        copies,
        n_neighbors=n_neighbors,
        bandwidth=bandwidth,
        prominence=prominence,
        min_cluster_size=min_cluster_size,
        memory_budget=memory_budget,
        content_ordered=True,
        low_levels=low_levels,
    )
    return DistinctModes(distinct, rows, points, copies, found)
