"""Clusters must be cut apart in the data's neighbor graph, not only in the space the modes are sought in.

A graph layout (`shiftkit.cluster._spaces`) makes the clusters of the
k-nearest-neighbor graph dense and apart, but like every such layout (UMAP's,
t-SNE's) it also tears a cluster-free cloud into pieces: a single correlated
Gaussian of 20 or 64 z-scored features, laid out, fell into 2 to 6 clusters
(three draws of 500 to 10,000 rows each). The pieces show themselves in the
data's graph: cut from a cloud, they keep a large share of their edges to each
other, where real clusters keep few.

So two clusters that the mode seeking keeps apart merge where the edges between
them, counted both ways, exceed `CUT_FRACTION` of the edges of the smaller one
(a cut over the smaller side's volume: the graph's conductance), in the
14-nearest-neighbor graph of the rows laid out; a merged cluster takes the
highest peak. A cluster of no more points than each point has neighbors is not
measured (its points cannot all list their own: without that, 8 clusters of 8
images, `bench_image.py`, fell into 5 at 0.3). Measured with no merging: of 72 clouds
of correlated features (normal, Student's t, uniform; 20 to 128 features; 500
to 10,000 rows), the piece of each cloud most apart from the rest has a ratio of
0.23 to 1.78 (median 0.85); the clusters found in the development sets at most
0.20 (uci/wdbc), 0.23 (digits, uci/glass), 0.24 (uci/ionosphere), 0.44
(uci/sonar). With 0.3 (``python benchmarks/bench_highdim.py --cuts``): 8 of the
72 clouds are still split, into 2 to 4 (all uniform, in 20 or 32 features),
where all 72 were, into 2 to 15; the development sets, the sphere sets and the
embedding mixtures keep every cluster (mean ARI 0.404 against 0.405, digits 0.88
in 14 clusters). At 0.2 every cloud is one cluster, but uci/wdbc loses its
clusters (0.69 -> 0.46).

Two clusters merged are measured again against the rest, until no two left are
joined by more than the fraction. Where more than `CUT_SAMPLE_ROWS` rows are
laid out (data of more than 10,000 rows by default), the clusters must also be
cut apart in the graph of the first `CUT_SAMPLE_ROWS` of them, the size the
fraction was measured at (``python benchmarks/bench_highdim.py --many``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CUT_FRACTION", "CUT_SAMPLE_ROWS", "CutGraph", "DataGraph", "merge_uncut", "most_joined"]

CUT_FRACTION = 0.3
# The fraction was measured on graphs of at most 4,000 rows (a layout's rows by default). In the graph of
# more rows the edges are shorter and a cloud's torn pieces share fewer of them (a correlated Gaussian of
# 200,000 rows in 32 features, laid out on 17,889 rows, kept two pieces apart); so where more rows are laid
# out, the clusters must also be cut apart in the graph of the first CUT_SAMPLE_ROWS of them (a fair sample:
# they are in content order), where a cluster of no more sample rows than each has neighbors is not
# measured (as in the whole graph: small clusters are measured there only).
CUT_SAMPLE_ROWS = 4_000


@dataclass(frozen=True)
class CutGraph:
    """The graphs the clusters of a layout must be cut apart in.

    Attributes
    ----------
    neighbors : ndarray of shape (n_points, k), int64
        The ``k`` nearest other points of each point in the data (not in the space the modes were
        sought in).
    sample : ndarray of shape (n_sample, k), int64, or None
        The ``k`` nearest other points of each of the first ``n_sample`` points among them only
        (`CUT_SAMPLE_ROWS`); None where that would be all the points.
    """

    neighbors: np.ndarray
    sample: np.ndarray | None = None


@dataclass(frozen=True)
class DataGraph:
    """The graphs the clusters must be cut apart in, and the basin of each of their points.

    Attributes
    ----------
    basin : ndarray of shape (n_points,)
        The basin (0..n_basins-1) of each point.
    graph : CutGraph
    """

    basin: np.ndarray
    graph: CutGraph


def cut_ratios(cluster_of_point: np.ndarray, neighbors: np.ndarray, n_clusters: int) -> np.ndarray:
    """The edges between every two clusters, counted both ways, over the smaller one's edges:
    (n_clusters, n_clusters), 0 on the diagonal and where the smaller cluster has no more points than
    each point has neighbors (they cannot all be its own: the graph does not tell it apart)."""
    k = neighbors.shape[1]
    source = np.repeat(cluster_of_point, k)
    target = cluster_of_point[neighbors.ravel()]
    edges = np.bincount(source * n_clusters + target, minlength=n_clusters * n_clusters).reshape(
        n_clusters, n_clusters
    )
    cut = (edges + edges.T).astype(np.float64)
    np.fill_diagonal(cut, 0.0)
    size = np.bincount(cluster_of_point, minlength=n_clusters)
    smaller = np.minimum(size[:, None], size[None, :])
    return np.divide(cut, k * smaller, out=np.zeros_like(cut), where=smaller > k)


def most_joined(labels: np.ndarray, neighbors: np.ndarray) -> float:
    """The largest `cut_ratios` between two clusters of ``labels`` (n,), 0..c-1 (-1: a noise point, in no
    cluster: its edges join none), in the graph of ``neighbors`` (n, k): 0.0 for one cluster, inf where
    a cluster has no more points than each point has neighbors (the graph does not tell it apart: not
    measured)."""
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    if n_clusters < 2:
        return 0.0
    if int(np.bincount(labels[labels >= 0], minlength=n_clusters).min()) <= neighbors.shape[1]:
        return float("inf")
    # noise as one more group, whose row and column of the ratios are left out
    grouped = np.where(labels >= 0, labels, n_clusters)
    return float(cut_ratios(grouped, neighbors, n_clusters + 1)[:n_clusters, :n_clusters].max())


def merge_uncut(target: np.ndarray, peak: np.ndarray, graph: DataGraph) -> np.ndarray:
    """``target`` (the top basin of every basin's cluster) once the clusters that are not cut apart in
    ``graph`` (more than `CUT_FRACTION` of the smaller one's edges between them, in the graph of all the
    points or in that of the sample where it has one) have merged; a merged
    cluster's top is the one with the highest ``peak`` (log density of each basin).

    Merging is repeated until no two clusters left are joined by more than that fraction: a cluster
    merged from two can be joined to a third by more than the fraction where neither part was (a
    structureless cloud of 50,000 rows laid out on 10,000 fell into two pieces whose edges between
    them were 0.42 of the smaller one's after one pass)."""
    n_clusters = len(np.unique(target))
    while True:
        target = _merge_once(target, peak, graph)
        merged = len(np.unique(target))
        if merged == n_clusters:
            return target
        n_clusters = merged


def _merge_once(target: np.ndarray, peak: np.ndarray, graph: DataGraph) -> np.ndarray:
    """One pass of `merge_uncut`: every pair of clusters joined by more than `CUT_FRACTION`, merged."""
    tops, cluster_of_basin = np.unique(target, return_inverse=True)
    cuts = graph.graph
    if len(tops) < 2 or cuts.neighbors.shape[1] == 0:
        return target
    from shiftkit.neighbors.union_find import roots, union_pairs  # numba: imported where it runs

    ratios = cut_ratios(cluster_of_basin[graph.basin], cuts.neighbors, len(tops))
    if cuts.sample is not None:  # joined in either graph: not cut apart
        in_sample = cluster_of_basin[graph.basin[: len(cuts.sample)]]
        ratios = np.maximum(ratios, cut_ratios(in_sample, cuts.sample, len(tops)))
    a, b = np.nonzero(np.triu(ratios > CUT_FRACTION))
    group = np.arange(len(tops))  # union-find over the clusters, by their index in tops
    union_pairs(group, a.astype(np.int64), b.astype(np.int64))
    group = roots(group)
    # the top of each group: its highest peak (ties: the lower basin)
    by_peak = np.lexsort((tops, -peak[tops]))
    groups, first = np.unique(group[by_peak], return_index=True)
    best = np.empty(len(tops), dtype=np.int64)
    best[groups] = tops[by_peak[first]]
    return best[group][cluster_of_basin]
