"""Modes merged through their saddles, and the level of merging chosen from the data.

The mode-seeking estimators end with many small basins of attraction (a basin:
the points that climb to one mode of a density estimate). Most modes are
noise. This module decides which modes are clusters, from two facts per mode:

- its *peak* density ``p`` and the *saddle* ``s`` at which its basin first
  joins the basins of a higher mode, along the edges of the mutual
  k-nearest-neighbor graph (an edge's level is the lower density of its two
  ends); the basin it touches there is its *elder*, the one it merges into;
- its *relative prominence* ``1 - s / p``: how far the density must fall
  below the peak before the mode meets a higher one.

At a level ``beta`` a mode stays a cluster when its relative prominence is at
least ``beta`` (Quickshift++'s cluster cores, Jiang, Jang & Kpotufe, ICML 2018:
a mode is a core when the component of its ``(1 - beta) p`` upper level set
holds no higher mode); the others, and the clusters that end up with less than
``min_cluster_size`` of the points, are merged into their elders. Processing the
modes in the order in which they die (highest saddle first) makes one pass
enough, and as the saddles do not depend on the level, sweeping ``beta``
costs one such pass per level (the merge tree of ToMATo, Chazal et al. 2013).

The level is chosen by the *lifetime* criterion (Leung, Zhang & Xu, 2000):
over ``LEVELS`` (``beta`` log-spaced from 0.1 to 0.9), the number of clusters
that stays the same over the longest stretch of ``log beta`` wins (one cluster
only when nothing else is seen). Measured on the development battery
(``benchmarks/bench_quality.py``), this is what lifts the default above any
fixed level.

Basins that the mutual graph leaves unconnected (a point whose neighbors do
not count it among theirs) join the basin of their nearest point of higher
density, at no saddle: they stay apart when they are large enough.

At the level chosen, a cluster that meets another at a saddle must also rise
above it by more than the noise of the density estimate: the density is a
kernel-weighted count, whose variance, for points that fall at random, is
``density_noise`` times itself (``2^(-d/2)`` for the Gaussian in ``d``
dimensions); its peak ``p`` and saddle ``s`` must be `SIGNIFICANCE` standard
errors apart, ``p - s >= 2 sqrt(noise (p + s))`` (`significant`), or it merges
into its elder. The relative prominence alone took the noise of a flat or
smooth top for clusters: a normal sample of 10,000 points in 2-D fell into
2 or 3 clusters. Where the modes are sought in a layout of the data's neighbor
graph, the clusters kept must also be cut apart in that graph
(`shiftkit.cluster._cuts`: a layout tears a cloud into pieces), and where one
cluster is what those tests leave at more of the levels than any number of
clusters, the answer is one cluster (`_one_if_it_outlives`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from shiftkit._shift import shift_tensors
from shiftkit.cluster._cuts import CutGraph, DataGraph, merge_uncut
from shiftkit.kernels import Kernel
from shiftkit.neighbors import KNNGraph, NeighborIndex, knn_graph

# The levels (relative prominence) swept to choose one; log-spaced. The lower ones only when
# the main sweep finds a single cluster.
LEVELS = np.geomspace(0.1, 0.9, 40)
LOW_LEVELS = np.geomspace(0.01, 0.1, 20, endpoint=False)
# Where the modes are sought in more features than this (the input space of data in which no direction
# stands out), the lower levels are not swept: a kernel density in 6 to 32 dimensions dips by a few
# percent between modes of one Gaussian (isotropic normal data of 500 to 10,000 rows in 6 to 32
# features were split into 2 to 6 clusters at prominence 0.011 to 0.025; none of the development
# battery's sets seeks its modes there).
LOW_LEVELS_MAX_FEATURES = 4
# The least cluster, as a fraction of the points: measured on the development battery, 0.003 to
# 0.005 give the same median (0.002 less), and 0.01 merges the 100 clusters of 1% each of
# sipu/birch1 and birch2 into 61 and 78 (benchmarks/bench_quality.py --large).
DEFAULT_MIN_CLUSTER_SIZE = 0.005


def points_in(min_cluster_size: float, total: float) -> float:
    """A least cluster as points (or weight): a fraction of ``total`` below 1, else the count itself."""
    return min_cluster_size * total if min_cluster_size < 1 else float(min_cluster_size)


# Points a group cut off from the rest of the mutual graph needs to be a cluster (HDBSCAN's
# default least cluster size).
MIN_GAP_POINTS = 5
# A cluster that meets another at a saddle stays apart only where its peak's density exceeds the
# saddle's by this many standard errors of the density estimate (`significant`). Measured (QuickShift(),
# five draws each of 300 to 30,000 points): a normal 2-D sample was split into 2 to 25 clusters from 1,000
# points on, a uniform square into 2 to 17 from 300; the noise between the peak and the saddle of
# those splits was 0.1 to 2.5 standard errors (three draws of each size from 1,000 points; under 1.8 for
# the normal samples). With 2: the normal
# samples are one cluster at every size, the uniform ones up to 3,000 points (2 to 4 clusters at 10,000
# and 30,000: a flat top's noise is the largest of many). The development battery's 44 low-dimensional
# sets keep their median (0.964) and every cluster they need but the g2mg sets of 60% overlap (1.7
# standard errors or less: one flat top, as the dip test sees it too), uci/wdbc and uci/yeast (the
# lowest 0.4 to 1.0).
SIGNIFICANCE = 2.0
# In one feature (`significance_for`): the standard errors are this times sqrt(ln m), m the kernel windows
# the data fill. 2 is the bound of a flat top (below); measured on 1-D samples (QuickShift(); normal and
# uniform samples of 1,000 to 20,000 points, six draws each; mixtures of two to five Gaussians 3 to 6
# standard deviations apart, weights 1:1 to 1:30, 200 to 5,000 points, four draws each): 0 (the
# two-feature test) split 24 of the 48 null samples, mixtures' mean ARI 0.816; 1.4: 15 of 48, 0.816; 1.7:
# 7 of 48, 0.785; 2: 3 of 48, 0.726 (five Gaussians of 40 points 5 standard deviations apart merged).
# Before the one-feature rules (neighbors and this) 35 of the 48 were split, 0.805.
SIGNIFICANCE_1D = 1.7


def significance_for(n_features: int, size: np.ndarray, peak: np.ndarray) -> float:
    """The standard errors a peak must rise above its saddle (`significant`): `SIGNIFICANCE`, and in one
    feature ``SIGNIFICANCE_1D sqrt(ln m)``, ``m`` the kernel windows the data fill (their total ``size``
    over the highest ``peak``'s density, a count of points), where that is more.

    In two features or more the saddle between two peaks is the best of many paths between them; in
    one there is one path, and its saddle is the least density along it, as its peak is the highest:
    over a flat stretch of ``m`` independent windows the highest and the least of ``m`` noisy counts lie
    about ``sqrt(2 ln m)`` standard errors either side of their mean, ``2 sqrt(ln m)`` standard errors of
    a difference apart. With `SIGNIFICANCE` alone a uniform sample of 5,000 points in one feature fell
    into 2 to 11 clusters (peaks near 50 points, saddles near 27), a normal one of 5,000 or 20,000 into
    1 to 5 (QuickShift(), six draws each)."""
    if n_features != 1 or len(peak) == 0:
        return SIGNIFICANCE
    windows = float(np.sum(size)) / float(np.exp(np.max(peak)))
    return max(SIGNIFICANCE, SIGNIFICANCE_1D * float(np.sqrt(np.log(max(windows, 1.0)))))


@dataclass(frozen=True)
class ModeTree:
    """The merge tree of the basins: which basin joins which, at what saddle.

    Attributes
    ----------
    peak : ndarray of shape (n_basins,)
        Log density at each basin's highest point.
    saddle : ndarray of shape (n_basins,)
        Log density at which the basin joins its elder (-inf: it joins across a
        gap, or it is the highest of all).
    elder : ndarray of shape (n_basins,)
        The basin it joins: the one at the other end of the edge where it meets
        a higher mode's basins (-1 for the highest basin). A basin merged joins
        the cluster it touches, not the highest of those it meets.
    size : ndarray of shape (n_basins,)
        Points (or weight) in each basin.
    peak_point : ndarray of shape (n_basins,)
        Index of each basin's highest point.
    min_gap_size : float
        The least size of a basin that joins across a gap to stay apart
        (`MIN_GAP_POINTS`): two or three points off in a tail, cut off from the
        mutual graph, are outliers, not a cluster, even where
        ``min_cluster_size`` (a fraction) lets that few stand.
    noise : float
        The variance of the density estimate per unit of density (`density_noise`): a
        cluster whose peak is not ``significance`` standard errors above its saddle merges
        into its elder (`significant`). 0: no such test.
    cuts : DataGraph or None
        The points' neighbors in the data, where the clusters must be cut apart
        (`shiftkit.cluster._cuts`); None: no such test.
    n_features : int
        The dimensions of the density: how many standard errors its noise test asks
        (`significance`).
    """

    peak: np.ndarray
    saddle: np.ndarray
    elder: np.ndarray
    size: np.ndarray
    peak_point: np.ndarray
    min_gap_size: float = 0.0
    noise: float = 0.0
    cuts: DataGraph | None = None
    n_features: int = 2

    @property
    def significance(self) -> float:
        """The standard errors a peak must rise above its saddle: `significance_for` the tree's basins."""
        return significance_for(self.n_features, self.size, self.peak)

    @property
    def prominence(self) -> np.ndarray:
        """Relative prominence ``1 - s / p`` of each basin (1 for those that join at no saddle)."""
        with np.errstate(over="ignore"):
            return -np.expm1(self.saddle - self.peak)


@dataclass(frozen=True)
class DensityGraph:
    """The density at every point and the k-nearest-neighbor graph the modes are merged through."""

    density: Tensor  # (n,)
    graph: KNNGraph

    @property
    def log_density(self) -> Tensor:
        return self.density.log()


def density_graph(
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    *,
    n_neighbors: int,
    memory_budget: int,
    index: NeighborIndex | None = None,
) -> DensityGraph:
    """The kernel density at every row of ``X`` (with shiftkit's engines), then the graph.

    In that order: the density's temporaries are gone before the graph is built.
    """
    _, density = shift_tensors(X, X, bandwidth, kernel, weights, memory_budget=memory_budget)
    k = min(n_neighbors, X.shape[0] - 1)
    return DensityGraph(density, knn_graph(X, k, index=index, memory_budget=memory_budget))


def climb_steps(log_density: Tensor, graph: KNNGraph, rows_per_chunk: int = 1 << 18) -> Tensor:
    """Each point's step up: its densest mutual neighbor if that is denser (ties: the lower index), else
    itself (a mode). Rows whose neighbors' densities are unknown (a slab's halo) take a step too: the
    caller keeps the ones it can vouch for."""
    n = log_density.shape[0]
    f = log_density
    parent = torch.empty(n, dtype=torch.long, device=f.device)
    for start in range(0, n, rows_per_chunk):  # chunks: the (rows, k) temporaries stay small
        rows = slice(start, start + rows_per_chunk)
        nb = graph.indices[rows]  # (r, k)
        f_nb = torch.where(graph.mutual[rows], f[nb], -torch.inf)  # (r, k)
        best = f_nb.argmax(1, keepdim=True)  # (r, 1)
        f_best = f_nb.gather(1, best)[:, 0]
        j = nb.gather(1, best)[:, 0].long()
        own = torch.arange(start, start + j.shape[0], device=f.device)
        f_own = f[rows]
        higher = (f_best > f_own) | ((f_best == f_own) & (j < own))
        parent[rows] = torch.where(higher, j, own)
    return parent


def follow(parent: Tensor) -> Tensor:
    """Where each pointer chain of ``parent`` ends (pointer jumping: log(depth) rounds)."""
    while True:
        grand = parent[parent]
        if bool((grand == parent).all()):
            return parent
        parent = grand


def hill_climb(log_density: Tensor, graph: KNNGraph, rows_per_chunk: int = 1 << 18) -> Tensor:
    """The basin of every point: follow the densest mutual neighbor that is denser, to a mode.

    Returns the mode (a point index) each point climbs to. Ties in density are
    broken by index, so the climb always ends.
    """
    return follow(climb_steps(log_density, graph, rows_per_chunk))


def density_noise(
    kernel: Kernel,
    n_features: int,
    weights: Tensor | np.ndarray | None = None,
    *,
    sums: tuple[float, float] | None = None,
) -> float:
    """The variance of a kernel density (a weighted count: `shiftkit.kernels`) per unit of it, for points
    that fall at random: a sum of ``w K`` has variance ``sum w^2 K^2``, about ``square_ratio * (sum w^2 /
    sum w)`` times the sum where the density varies little over the kernel (``2^(-d/2)`` for the
    Gaussian without weights). ``sums``: ``(sum w, sum w^2)`` where the weights are not at hand (the
    Dask fit adds them up from its slabs)."""
    ratio = kernel.square_ratio(n_features)
    if sums is None and weights is not None:
        w = (
            weights.double().cpu().numpy()
            if isinstance(weights, Tensor)
            else np.asarray(weights, dtype=np.float64)
        )
        sums = float(w.sum()), float(np.square(w).sum())
    if sums is None or sums[0] <= 0:
        return ratio
    return ratio * sums[1] / sums[0]


def significant(tree: ModeTree, basins: np.ndarray) -> np.ndarray:
    """Whether each of ``basins`` rises above its saddle by more than the density's noise: its peak ``p``
    and saddle ``s`` (densities) at least ``tree.significance`` standard errors apart,
    ``p - s >= significance * sqrt(noise * (p + s))``. Basins that join across a gap (or at no saddle)
    are; all are where ``tree.noise`` is 0."""
    basins = np.asarray(basins, dtype=np.int64)
    out = np.ones(len(basins), dtype=bool)
    saddle = tree.saddle[basins]
    tested = np.isfinite(saddle) & (tree.elder[basins] >= 0)
    if tree.noise <= 0 or not tested.any():
        return out
    # in units of the peak (densities may be far from 1): (1 - s/p) sqrt(p) >= Z sqrt(noise (1 + s/p))
    peak = tree.peak[basins][tested]
    ratio = np.exp(saddle[tested] - peak)
    z = tree.significance
    out[tested] = (1.0 - ratio) * np.exp(peak / 2) >= z * np.sqrt(tree.noise * (1.0 + ratio))
    return out


def mode_tree(
    basin_of_point: Tensor,
    log_density: Tensor,
    graph: KNNGraph,
    X: Tensor,
    weights: Tensor | None = None,
    min_gap_points: float = MIN_GAP_POINTS,
    kernel: Kernel | None = None,
    data_neighbors: CutGraph | None = None,
) -> tuple[ModeTree, Tensor]:
    """The merge tree of the basins ``basin_of_point`` (any labels) through the saddles of ``graph``;
    ``kernel``: the one the density was summed with, whose noise (`density_noise`, in ``X``'s
    dimensions, with ``weights``) the clusters kept must rise above (None: no significance test);
    ``data_neighbors``: each point's nearest points in the data, where the clusters kept must be cut
    apart (`shiftkit.cluster._cuts`; None: no such test).

    Returns the tree and the basin index (0..n_basins-1) of every point.
    """
    _, basin = torch.unique(basin_of_point, return_inverse=True)
    basin_np = basin.cpu().numpy()
    f = log_density.double().cpu().numpy()
    nb = int(basin_np.max()) + 1
    w = np.ones(len(f)) if weights is None else weights.double().cpu().numpy()
    size = np.bincount(basin_np, weights=w, minlength=nb)
    order = np.lexsort((np.arange(len(f)), -f))  # densest first, ties by index
    peak_point = np.full(nb, -1)
    first = np.unique(basin_np[order], return_index=True)[1]
    peak_point[basin_np[order][first]] = order[first]
    peak = f[peak_point]

    a, b, level = edges_between_basins(basin_np, f, graph)
    saddle, elder = join_by_saddles(a, b, level, peak)
    _join_across_gaps(saddle, elder, peak, peak_point, basin_np, f, graph, X)
    noise = 0.0 if kernel is None else density_noise(kernel, X.shape[1], weights)
    cuts = None if data_neighbors is None else DataGraph(basin_np, data_neighbors)
    tree = ModeTree(peak, saddle, elder, size, peak_point, float(min_gap_points), noise, cuts, X.shape[1])
    return tree, basin


def edges_between_basins(
    basin: np.ndarray,
    f: np.ndarray,
    graph: KNNGraph,
    rows: np.ndarray | None = None,
    rows_per_chunk: int = 1 << 18,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mutual edges between different basins, once each: basins ``a < b`` and the edge's level.

    An edge's level is the lower log density of its two ends; an edge is listed
    by its end in the lower basin. ``rows``: only the edges those rows list (a
    slab lists its own rows'); None: all. Chunked over rows, so that only the
    edges between basins (a small share) are ever held whole.
    """
    idx = graph.indices.cpu().numpy()
    mutual = graph.mutual.cpu().numpy()
    which = np.arange(len(f)) if rows is None else np.asarray(rows)
    parts = [(np.zeros(0, basin.dtype), np.zeros(0, basin.dtype), np.zeros(0))]
    for start in range(0, len(which), rows_per_chunk):
        r = which[start : start + rows_per_chunk]
        nb = basin[idx[r]]  # (r, k)
        i, col = np.nonzero(mutual[r] & (basin[r, None] < nb))
        j = idx[r][i, col]
        i = r[i]
        parts.append((basin[i], basin[j], np.minimum(f[i], f[j])))
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def join_by_saddles(
    a: np.ndarray, b: np.ndarray, level: np.ndarray, peak: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each basin's saddle and elder from the edges between basins (`union_by_saddles`), the edges taken
    from the highest level down and, at one level, by their basins: an order that the edges alone set
    (not the rows that listed them), so edges gathered from many slabs give the same tree."""
    from shiftkit.cluster._saddle_kernels import union_by_saddles

    order = np.lexsort((b, a, -level))
    return union_by_saddles(a[order], b[order], level[order], peak, len(peak))


def _join_across_gaps(
    saddle: np.ndarray,
    elder: np.ndarray,
    peak: np.ndarray,
    peak_point: np.ndarray,
    basin: np.ndarray,
    f: np.ndarray,
    graph: KNNGraph,
    X: Tensor,
) -> None:
    """Give each top of a mutual-graph component but the highest an elder: its nearest denser point's basin.

    Looked for among the peak's k nearest neighbors first, then among all
    points. The saddle stays -inf: such a basin is never merged for lack of
    prominence, only for lack of size.
    """
    tops = np.flatnonzero(elder < 0)
    highest = tops[np.argmax(peak[tops])] if len(tops) else -1
    rank = np.empty(len(f), np.int64)
    rank[np.lexsort((np.arange(len(f)), -f))] = np.arange(len(f))
    idx = graph.indices.cpu().numpy()
    far = []
    for top in tops:
        if top == highest:
            continue
        p = peak_point[top]
        denser = idx[p][rank[idx[p]] < rank[p]]
        if len(denser):
            elder[top] = basin[denser[0]]
        else:
            far.append(top)
    if far:
        points = torch.as_tensor(peak_point[far], device=X.device)
        rank_t = torch.as_tensor(rank, device=X.device)
        for top, p in zip(far, points):
            sq = (X - X[p]).square().sum(1)  # (n,)
            sq = torch.where(rank_t < rank_t[p], sq, torch.inf)
            elder[top] = basin[int(sq.argmin())]


def merge_at_level(tree: ModeTree, level: float, min_size: float) -> tuple[np.ndarray, np.ndarray]:
    """The basin each basin merges into at relative prominence ``level``, and the merged sizes.

    A basin merges into its elder when its prominence is below ``level`` or
    its merged size is below ``min_size`` (``tree.min_gap_size`` for one
    joined across a gap).
    """
    from shiftkit.cluster._saddle_kernels import merge_pass

    threshold = -np.log1p(-level)  # prominence >= level  <=>  peak - saddle >= -log(1 - level)
    order = np.lexsort((tree.peak, -tree.saddle))  # the order in which basins die: highest saddle first
    across_gap = (tree.elder >= 0) & ~np.isfinite(tree.saddle)
    least = np.where(across_gap, max(min_size, tree.min_gap_size), min_size)  # (n_basins,)
    return merge_pass(order, tree.peak - tree.saddle, tree.elder, tree.size, threshold, least)


def _kept_sizes(tree: ModeTree, level: float, min_size: float) -> np.ndarray:
    """The size of each cluster kept at ``level`` (at its top basin; 0 elsewhere)."""
    return np.bincount(_kept_at_level(tree, level, min_size), weights=tree.size, minlength=len(tree.size))


def _n_clusters(merged_sizes: np.ndarray, min_size: float) -> int:
    """Clusters left after a merge pass: basins that kept a size of at least ``min_size`` (and above 0)."""
    return int(((merged_sizes > 0) & (merged_sizes >= min_size)).sum())


def _runs(counts: np.ndarray) -> Iterator[tuple[int, float, int]]:
    """Each run of equal ``counts``: the count, its lifetime (the levels are log-spaced: its number of
    steps, half a step at the ends) and the index of its middle."""
    start = 0
    for stop in range(1, len(counts) + 1):
        if stop == len(counts) or counts[stop] != counts[start]:
            span = stop - start - 0.5 * (start == 0) - 0.5 * (stop == len(counts))
            yield int(counts[start]), span, (start + stop - 1) // 2
            start = stop


def _longest_lived(counts: np.ndarray) -> int | None:
    """Index of the middle of the longest run of equal counts of at least 2 (ties: the later run)."""
    best: tuple[float, int] | None = None
    for count, span, middle in _runs(counts):
        if count >= 2 and (best is None or span >= best[0]):
            best = (span, middle)
    return None if best is None else best[1]


def _one_if_it_outlives(levels: np.ndarray, counts: np.ndarray, level: float) -> float:
    """``level``, or the middle of the longest run of one cluster in ``counts`` (the clusters each of
    ``levels`` keeps once the clusters not cut apart in the data's graph have merged) where that run
    outlives every run of more clusters.

    Where the modes are sought in a layout, the clusters kept must be cut apart in the data's graph, and
    a layout tears a cloud with no clusters in it into pieces that the test joins at most levels but
    not all: 7 of the 8 uniform clouds of ``benchmarks/bench_highdim.py --cuts`` that stayed torn (of
    72 clouds) were one cluster over 13 to 37 of the 40 levels and 2 to 7 over at most 13, and the
    lifetime rule, which takes one cluster only where no level keeps two, kept them torn (the eighth, of
    500 rows, is two clusters over 17 levels, one over 16). The clusters of the development sets sought
    in a layout outlive one cluster (the one set that changes, uci/sonar, is one cluster over 32
    levels and two, ARI 0.00, over 8)."""
    runs = list(_runs(counts))
    one = max(((span, middle) for count, span, middle in runs if count == 1), default=None)
    more = max((span for count, span, _ in runs if count >= 2), default=-1.0)
    return float(levels[one[1]]) if one is not None and one[0] > more else level


def choose_level(
    tree: ModeTree, min_size: float, low_levels: bool = True
) -> tuple[float, np.ndarray, np.ndarray]:
    """The level of the longest-lived number of clusters (see the module docstring).

    Sweeps `LEVELS`; if no level there gives two clusters, the lower
    `LOW_LEVELS` too, so that one cluster is the answer only when no level down
    to 0.01 separates two. Returns the level, the levels swept and the number
    of clusters at each.
    """

    def counts_at(levels: np.ndarray) -> np.ndarray:
        return np.array([_n_clusters(merge_at_level(tree, b, min_size)[1], min_size) for b in levels])

    counts = counts_at(LEVELS)
    best = _longest_lived(counts)
    if best is not None or not low_levels:
        return float(LEVELS[0] if best is None else LEVELS[best]), LEVELS, counts
    low = counts_at(LOW_LEVELS)
    levels, counts = np.concatenate([LOW_LEVELS, LEVELS]), np.concatenate([low, counts])
    best = _longest_lived(low)
    return float(LEVELS[0] if best is None else LOW_LEVELS[best]), levels, counts


def core_levels(tree: ModeTree, cluster_of_basin: np.ndarray, n_clusters: int) -> np.ndarray:
    """Each cluster's core level (log density): the highest saddle at which it meets another cluster.

    Quickshift++'s cluster cores and HDBSCAN's clusters leave out the points below
    the density at which a cluster separates from its neighbours: the fringe where
    two clusters meet, and a background of low density. A cluster that meets no
    other through a saddle (alone, or apart across a gap) has no fringe (-inf).
    """
    core = np.full(n_clusters, -np.inf)
    basins = np.flatnonzero((tree.elder >= 0) & np.isfinite(tree.saddle))
    own, elder = cluster_of_basin[basins], cluster_of_basin[tree.elder[basins]]
    apart = own != elder
    np.maximum.at(core, own[apart], tree.saddle[basins[apart]])
    np.maximum.at(core, elder[apart], tree.saddle[basins[apart]])
    return core


def _kept_at_level(tree: ModeTree, level: float, min_size: float) -> np.ndarray:
    """The top basin of every basin's cluster at ``level``, once the clusters that are not `significant`
    have merged into their elders' (`clusters_of`), and those not cut apart in the data's graph into
    each other (`merge_uncut`, where the tree has that graph)."""
    target, _ = merge_at_level(tree, level, min_size)
    tops = np.unique(target)
    weak = tops[~significant(tree, tops)]
    if len(weak):
        # each weak top joins the cluster its elder is in, in the order the tops die (highest saddle
        # first), and ends where that cluster ends: a chain, followed to its end (a union-find), as the
        # cluster joined may itself be weak and lower (an elder is the basin a top touches, and the
        # cluster holding it can have a lower peak than the top)
        from shiftkit.neighbors.union_find import find, roots  # numba: imported where it runs

        parent = np.arange(len(target))
        for top in weak[np.lexsort((tree.peak[weak], -tree.saddle[weak]))]:
            into = find(parent, target[tree.elder[top]])
            if into != top:
                parent[top] = into
        target = roots(parent)[target]  # a strong top is its own root
    return target if tree.cuts is None else merge_uncut(target, tree.peak, tree.cuts)


def clusters_of(tree: ModeTree, level: float, min_size: float) -> tuple[np.ndarray, np.ndarray]:
    """The cluster (0..k-1, highest peak first) of every basin at ``level``; each cluster's top basin.

    A cluster whose top is not `significant` (its peak within the density's noise of its saddle)
    merges into the cluster of its elder, the highest peaks first (its elder's cluster may have merged
    already: the chain ends where that one went).
    """
    target = _kept_at_level(tree, level, min_size)
    tops = np.unique(target)
    tops = tops[np.argsort(-tree.peak[tops], kind="stable")]
    cluster_of_top = np.full(len(target), -1)
    cluster_of_top[tops] = np.arange(len(tops))
    return cluster_of_top[target], tops


@dataclass(frozen=True)
class SaddleMerge:
    """What `merge_through_saddles` decided.

    Attributes
    ----------
    labels : ndarray of shape (n_points,)
        Cluster of each point, 0 for the cluster of the highest peak.
    top_basins : ndarray of shape (n_clusters,)
        The basin label (as given) at the top of each cluster.
    peak_points : ndarray of shape (n_clusters,)
        The densest point of each cluster.
    level : float
        The relative prominence used.
    levels, counts : ndarray
        The levels swept and the clusters at each (just the one given when fixed).
    core_levels : ndarray of shape (n_clusters,)
        The log density of each cluster's core: the highest saddle at which it
        meets another cluster (-inf for a cluster that meets none through a
        saddle). Points below it are the cluster's fringe (`core_levels`).
    """

    labels: np.ndarray
    top_basins: np.ndarray
    peak_points: np.ndarray
    level: float
    levels: np.ndarray
    counts: np.ndarray
    core_levels: np.ndarray


def merge_through_saddles(
    basin_of_point: Tensor,
    log_density: Tensor,
    graph: KNNGraph,
    X: Tensor,
    *,
    prominence: float | None,
    min_cluster_size: float,
    weights: Tensor | None = None,
    min_gap_points: float = MIN_GAP_POINTS,
    low_levels: bool = True,
    kernel: Kernel | None = None,
    data_neighbors: CutGraph | None = None,
) -> SaddleMerge:
    """Merge the basins ``basin_of_point`` into clusters; ``prominence=None`` chooses the level.

    ``min_cluster_size`` is a fraction of the points (or total weight) when
    below 1, else a number of points; ``min_gap_points`` is the least size of a group the mutual
    graph cuts off from the rest (`MIN_GAP_POINTS`); ``kernel``: the density's, for the significance
    of the clusters kept, and ``data_neighbors``, the graph they must be cut apart in (`mode_tree`;
    None: not tested).
    """
    tree, basin = mode_tree(
        basin_of_point, log_density, graph, X, weights, min_gap_points, kernel, data_neighbors
    )
    merged = merge_tree(tree, prominence=prominence, min_cluster_size=min_cluster_size, low_levels=low_levels)
    basin_labels = torch.unique(basin_of_point).cpu().numpy()
    return SaddleMerge(
        merged.cluster_of_basin[basin.cpu().numpy()],
        basin_labels[merged.tops],
        tree.peak_point[merged.tops],
        merged.level,
        merged.levels,
        merged.counts,
        merged.core_levels,
    )


@dataclass(frozen=True)
class TreeMerge:
    """What `merge_tree` decided for the basins of a `ModeTree`: the cluster of each basin (0 for the
    highest peak), each cluster's top basin, the level and the levels swept with their counts, each
    cluster's core level."""

    cluster_of_basin: np.ndarray
    tops: np.ndarray
    level: float
    levels: np.ndarray
    counts: np.ndarray
    core_levels: np.ndarray


def merge_tree(
    tree: ModeTree, *, prominence: float | None, min_cluster_size: float, low_levels: bool = True
) -> TreeMerge:
    """The basins of ``tree`` merged into clusters at ``prominence`` (None: the level chosen from the data,
    `choose_level`), clusters under ``min_cluster_size`` (a fraction of the total size below 1, else
    points) merged too, and clusters within the density's noise or not cut apart in the data's graph
    (`clusters_of`). ``counts``: the clusters each level swept keeps, those tests included (the level
    is chosen from the counts before them: the noise test applied inside the sweep changed which count
    lived longest, wut/isolation 3 -> 21)."""
    min_size = points_in(min_cluster_size, float(tree.size.sum()))
    if prominence is None:
        level, levels, counts = choose_level(tree, min_size, low_levels)
    else:
        level = float(prominence)
        levels = np.array([level])
        counts = np.array([_n_clusters(merge_at_level(tree, level, min_size)[1], min_size)])
    if tree.noise > 0 or tree.cuts is not None:  # the counts reported: what each level keeps (what
        # `prominence=` that level gives) once the tests have merged clusters; the level was chosen before
        counts = np.array([_n_clusters(_kept_sizes(tree, b, min_size), min_size) for b in levels])
        if prominence is None and tree.cuts is not None:
            level = _one_if_it_outlives(levels, counts, level)
    cluster_of_basin, tops = clusters_of(tree, level, min_size)
    return TreeMerge(
        cluster_of_basin, tops, level, levels, counts, core_levels(tree, cluster_of_basin, len(tops))
    )
