"""Where the mode-seeking estimators look for modes: the input space, its principal axes, or a graph layout.

A kernel density estimate finds clusters in a few dimensions; in many it cannot
(every distance is about the same, the bandwidth that sees one cluster sees
all). The defaults of `QuickShift` and `MeanShift` therefore look at the data
first (``space='auto'``):

- four features or fewer: the input space, as always;
- otherwise the principal axes, and how many of them carry signal (parallel
  analysis, `shiftkit.embedding.principal_axes`; where three or fewer do but
  more than three of the standardized columns do, a layout: shuffling keeps each
  column's variance, and columns of large variance raise the null to their
  variances, which the other axes must beat); none, the input space; one to
  three (two Gaussians in 128 features; a table whose clusters differ along a
  few directions), the density on those axes, at least two (``'principal-axes'``);
  with none to three, also each feature alone (`multimodal_features`): where
  one to three fall into clusters by themselves (a histogram dip beyond its noise,
  `shiftkit.embedding.histogram_dips`, and clusters found in that feature alone),
  the density on those features and the signal axes, three at most, the
  features first (parallel analysis sees dependence between features, and
  clusters apart along one feature make none); beside the density on the axes,
  a layout (below) of the same rows, the *rival*, which wins where it finds more
  clusters, each cut apart in the data's neighbor graph (`weigh_rival`: clusters
  whose centers scatter over every feature make little dependence, and a density
  on the few axes counted joins them); not where a column has fewer than
  ``LAYOUT_RIVAL_LEAST_VALUES`` distinct values;
- more: the ``GRAPH_NEIGHBORS``-nearest-neighbor graph (of the first
  ``GRAPH_MAX_FEATURES`` principal coordinates), laid out ``LAYOUT_RUNS`` times in
  ``LAYOUT_DIM`` dimensions (`shiftkit.embedding.layout_graph`, seeds
  ``LAYOUT_SEED`` on), and mode seeking in the layouts side by side
  (``'graph-layout'``: a product of one kernel per layout, so that two rows are
  near where every layout puts them near; ``LAYOUT_SEEK_NEIGHBORS`` neighbors),
  from ``LAYOUT_MIN_ROWS`` distinct rows (fewer: the first three axes). On data
  of more distinct rows than the layout needs
  (`layout_rows`: enough that the least cluster the fit keeps has
  ``LAYOUT_ROWS_PER_LEAST_CLUSTER`` rows in it: with the default
  ``min_cluster_size`` 40 times the square root of the rows, at least
  4,000), that many, the first in content order, are laid out,
  each weighted by the rows nearest to it; every other row takes the cluster
  most of its ``ASSIGN_NEIGHBORS`` nearest laid-out rows have (the nearest
  breaks ties).

Measured (``benchmarks/bench_highdim.py --switch``): on twelve clusters along
``s`` of 32 features the density on the axes matches the layout up to ``s = 3``
and falls behind from 4; on the development sets with one to three signal axes
the axes win (the two-Gaussian sets, statlog). Four features stay in the input
space: parallel analysis compares the axes with shuffled columns, and where the
clusters spread over every feature (five blobs in four, 100 points) it counts
fewer axes than the clusters need. Equal rows are one row (weighted by their
copies) and the rows are taken in content order (`shiftkit._rows`), so the
answer depends neither on the order of the rows nor on where they sit.

A layout is a stochastic descent that moves with the last bit of its input:
the order of the rows (their scale-free content order,
`shiftkit._rows.scale_free_hashes`) and the graph coordinates (`graph_axes`: of
the rows in units of their own spread, rounded to a grid, `SnappedAxes`; in units
of the axes' spread, fixed in float64 before the cast to float32) are the same
bits for the data scaled by any factor, and so are the layouts and the clusters. Its seed
still matters: one layout of digits (seeds 0 to 7) gave ARI 0.72 to 0.88 in 11
to 22 clusters, three side by side 0.864 to 0.885 in 13 to 14 (six triples of
seeds; ``LAYOUT_RUNS``), in about the time of one on two cores (they run in
threads).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit._rows import DistinctRows, RoundedColumns, distinct_rows
from shiftkit.bandwidth import local_bandwidth
from shiftkit.cluster._base import Frame
from shiftkit.cluster._cuts import CUT_SAMPLE_ROWS, CutGraph, most_joined
from shiftkit.cluster._mode_seeking import ModeSeeking, seek_modes, seek_modes_of_distinct
from shiftkit.cluster._saddles import DEFAULT_MIN_CLUSTER_SIZE, points_in
from shiftkit.embedding import (
    PrincipalAxes,
    SnappedAxes,
    dip_threshold,
    histogram_dips,
    layout_graph,
    membership_graph,
    principal_axes,
)
from shiftkit.embedding._layout import knn_of_distinct
from shiftkit.neighbors import GRAPH_LEAST_NEIGHBORS, neighbors_for, partitioned_kneighbors

__all__ = [
    "LAYOUT_STAGES",
    "SPACES",
    "LayoutFit",
    "LayoutModel",
    "Space",
    "assign",
    "axes_unit",
    "choose_space",
    "fit_graph_layout",
    "graph_axes",
    "graph_coordinates",
    "input_min_size",
    "multimodal_features",
    "project_axes",
    "spread_and_choose",
    "spread_reason",
    "weigh_rival",
]

SPACES = ("auto", "input", "principal-axes", "graph-layout")
INPUT_MAX_FEATURES = 4
AXES_MAX_SIGNAL = 3
AXES_DIM = 2
AXES_MAX_ROWS = 5000
LAYOUT_MIN_ROWS = 50
GRAPH_MAX_FEATURES = 64
GRAPH_NEIGHBORS = 15  # counting the point itself, as UMAP does
LAYOUT_DIM = 5
# Layouts side by side (module docstring), of the seeds LAYOUT_SEED, LAYOUT_SEED + 1, ...
LAYOUT_RUNS = 3
LAYOUT_SEED = 0
# Neighbors of a laid-out row in the mode seeking (QuickShift's 20 elsewhere): fewer than the least
# cluster a layout keeps (LAYOUT_MIN_CLUSTER_POINTS), so that a cluster of that size can be its own
# neighborhood. With 20, the mutual graph joined 50 clusters of 20 images (apart in every layout)
# into 36 to 39 (benchmarks/bench_image.py --clustering, three draws); with 12, 50. On the development
# sets (six triples of seeds): mean ARI 0.405 (sd 0.002; 0.401, sd 0.005 with 20), digits 0.864 to
# 0.885 in 13 to 14 clusters (0.856 to 0.882 in 12 to 14); uci/wdbc 0.69 in 3 where it was 0.77 in 2.
LAYOUT_SEEK_NEIGHBORS = 12
# How many rows a layout needs: a cluster the size of the least the fit keeps has this many rows in it
# on average (40 times the root of the rows with the default, LAYOUT_LEAST_PER_ROOT); at least
# LAYOUT_ROWS, at most LAYOUT_MAX_ROWS.
# On 100,000 x 64 (benchmarks/bench_highdim.py) laying out 4,000 rows instead of 10,000 gives the same
# ARI (0.9994) in half the time; a size asked for below 1/5,000 of the rows lays out more rows.
LAYOUT_ROWS_PER_LEAST_CLUSTER = 20
# ... and by default a layout's least cluster is half the square root of the rows, at least
# LAYOUT_MIN_CLUSTER_POINTS (21 of scikit-learn's 1,797 digits, 50 of 10,000, 158 of 100,000 rows, 12,650
# of them laid out; 500 of 1,000,000, 40,000 laid out). Past 10,000 rows that is less than 0.5% of them:
# 0.5% of 100,000 embeddings in 300 clusters of 37 to 1,378 rows (median 289) merged them into 112 (ARI
# 0.62; with the root 248, 0.95), where the rows are plenty to tell them apart. A least cluster that grows
# as the root keeps the rows laid out growing as the root too (a fixed 100 rows: 282 clusters, 0.99, but
# 20,000 rows laid out at 100,000 and all 100,000 at 1,000,000). The clusters of more than
# `CUT_SAMPLE_ROWS` rows laid out are also cut apart in a sample's graph (`shiftkit.cluster._cuts`):
# structureless clouds torn, benchmarks/bench_highdim.py --many. Below 10,000 rows it is more than
# 0.5% (more than 15 from 900 rows): digits fell into 14 clusters (ARI 0.88; digit 1 in three, knots
# of 21 and 32 images apart) with 15, and into 12 with the root (0.86; the same over eight triples of
# seeds), issue 20's 8 to 12; the development battery changed in uci/statlog alone (23 -> 22 clusters).
LAYOUT_LEAST_PER_ROOT = 0.5
LAYOUT_ROWS = 4_000
LAYOUT_MAX_ROWS = 100_000
ASSIGN_NEIGHBORS = 10
# A group the layout's mutual graph cuts off from the rest is cut off in the data's neighbor graph:
# from three rows it is a cluster (HDBSCAN's least of five is for the tails of a density; five merged
# a cluster of four images into its neighbor, benchmarks/bench_image.py).
LAYOUT_MIN_GAP_POINTS = 3
# The least cluster the layout keeps where it meets another at a saddle, whatever the default fraction
# says: the layout splits a cluster's tail into knots of ten or so points (ionosphere fell into 7
# clusters, 3.5x its 2, with knots of 10 and 21 rows); HDBSCAN after UMAP is run with 10 to 15.
# Groups cut off across a gap keep `LAYOUT_MIN_GAP_POINTS`.
LAYOUT_MIN_CLUSTER_POINTS = 15
# A principal axis joins the multimodal features' directions where this much of its length is not along
# them (`_features_and_axes`).
FEATURES_AXIS_REST = 0.5
# The temporaries of the one-feature mode seeking that confirms a feature's dip (`multimodal_features`).
FEATURE_MEMORY_BUDGET = 64 << 20
# Where the density on a few principal axes is chosen, a layout is laid out beside it (the rival, module
# docstring) and wins where it finds more clusters, each measured in the data's neighbor graph and none
# joined to another by this fraction of the smaller one's edges or more (`shiftkit.cluster._cuts`); not
# where a column has fewer than LAYOUT_RIVAL_LEAST_VALUES distinct values (a layout splits every
# combination of 0/1 columns apart: four blobs beside four 0/1 columns fell into 64 clusters, each cut
# apart). The pieces a layout tears from structureless clouds of 5 to 32 features kept 0.13 to 0.6 of
# their edges to each other, make_blobs' clusters 0 to 0.26 (a /tmp script); benchmarks/bench_hidden.py
# --rival: 432 such clouds split 8 times with the rival and without, the make_blobs grid 0.892 -> 0.933.
LAYOUT_RIVAL_CUT = 0.1
# ... or below this fraction of what the laid-out rows halved at the median of their first principal
# coordinate keep (`halved_cut`: a cut of a cloud with no clusters in it, in the same graph). Where a
# layout tore a structureless cloud (49 of bench_hidden's clouds, 5 to 8 features, 200 and 1,000 rows)
# its pieces kept 0.79 to 2.0 times that; scikit-learn's wine, whose three classes a density on its
# three axes joins into one, 0.68 (0.128 of the edges against 0.189: found, ARI 0.80, UMAP + HDBSCAN 0.81).
LAYOUT_RIVAL_HALVED = 0.75
LAYOUT_RIVAL_LEAST_VALUES = 6
# The stages of `fit_graph_layout`, as its ``on_stage`` hears them.
LAYOUT_STAGES = ("neighbor graph", "layout", "the rows not laid out", "mode seeking in the layout")


@dataclass(frozen=True)
class Space:
    """Where to seek modes, and why.

    Attributes
    ----------
    name : str
        ``'input'``, ``'principal-axes'`` or ``'graph-layout'``.
    reason : str
    n_signal : int or None
        Principal axes above the shuffled columns (None when not computed).
    axes : PrincipalAxes or None
        For ``'principal-axes'``: the directions of the density, the multimodal features first.
    distinct : DistinctRows or None
    features : tuple of int or None
        The features that fall into clusters alone (`multimodal_features`), the first directions of the
        density; () where none is used (none found, or more than `AXES_MAX_SIGNAL`); None where not
        looked for.
    rival : Space or None
        For ``'principal-axes'`` chosen by ``'auto'``: the ``'graph-layout'`` laid out beside the density
        on the axes, which replaces it where `weigh_rival`; None where there is none (too few distinct
        rows, a column of few values, a space asked for).
    """

    name: str
    reason: str
    n_signal: int | None = None
    axes: PrincipalAxes | None = None
    distinct: DistinctRows | None = None
    features: tuple[int, ...] | None = None
    rival: Space | None = None


def choose_space(X_c: Tensor, requested: str = "auto") -> Space:
    """The space for ``X_c`` (n, d): ``requested``, or what ``'auto'`` chooses (module docstring)."""
    n, d = X_c.shape
    if requested == "input":
        return Space("input", "space='input'")
    if n < 2 or (requested == "auto" and d <= INPUT_MAX_FEATURES):
        return Space("input", f"{d} feature{'s' if d != 1 else ''}: a density in the input space")
    distinct = distinct_rows(X_c, scale_free=True)
    # the rows the axes, their count and the columns' look are measured on: the first distinct ones
    first = torch.as_tensor(distinct.first[:AXES_MAX_ROWS], device=X_c.device)
    A = X_c[first].detach().double().cpu().numpy()
    return space_of_rows(A, d, distinct.n_distinct, requested, distinct)


def space_of_rows(
    A: np.ndarray, d: int, n_distinct: int, requested: str, distinct: DistinctRows | None = None
) -> Space:
    """What `choose_space` chooses (``requested``: not 'input') for data of ``d`` features (more than
    `INPUT_MAX_FEATURES` unless requested) and ``n_distinct`` distinct rows (or at least
    `LAYOUT_MIN_ROWS` where there are more), from their first `AXES_MAX_ROWS` distinct rows in content
    order, ``A`` (float64), as `choose_space` reads them (QuickShift on Dask gathers them from its
    blocks). ``distinct``: the rows' `DistinctRows`, kept in the space (None where they stay in blocks)."""
    axes = principal_axes(A, snapped=True)  # the same directions at every scale, tied variances too
    p = axes.n_signal
    signal = f"{d} features, {p} principal ax{'is' if p == 1 else 'es'} above shuffled columns"
    if requested == "auto" and p <= AXES_MAX_SIGNAL:  # more than three of the standardized columns: a layout
        scaled = principal_axes(A, standardized=True, snapped=True).n_signal
        if scaled > AXES_MAX_SIGNAL:
            p = scaled
            signal = f"{d} features, {p} principal axes of the standardized columns above shuffled columns"
    if requested == "principal-axes":
        return Space("principal-axes", f"space='principal-axes' ({signal})", p, axes, distinct)
    if requested == "graph-layout":
        return Space("graph-layout", f"space='graph-layout' ({signal})", p, axes, distinct)
    if p <= AXES_MAX_SIGNAL:
        features = multimodal_features(A)
        if 0 < len(features) <= AXES_MAX_SIGNAL:
            space = Space(
                "principal-axes",
                "",
                p,
                _features_and_axes(axes, features),
                distinct,
                features,
                _rival(A, signal, p, axes, n_distinct, distinct),
            )
            one, beside = len(features) == 1, n_axes(space) - len(features)
            why = (
                f"{signal}; column{'' if one else 's'} {', '.join(str(j) for j in features)} "
                f"fall{'s' if one else ''} into clusters alone: a density on {'it' if one else 'them'}"
            )
            if beside > 0:
                why += f" and {beside} principal ax{'is' if beside == 1 else 'es'}"
            return replace(space, reason=why)
        if p == 0:
            why = f"{signal}: no direction stands out, a density in the input space"
            return Space("input", why, p, None, None, ())
        why = f"{signal}: a density on the first {max(p, AXES_DIM)}"
        rival = _rival(A, signal, p, axes, n_distinct, distinct)
        return Space("principal-axes", why, p, axes, distinct, (), rival)
    if n_distinct < LAYOUT_MIN_ROWS:
        why = f"{signal}, but {n_distinct} distinct rows: too few for a graph layout"
        return Space("principal-axes", f"{why}; a density on the first {min(p, 3)}", p, axes, distinct)
    why = f"{signal}: mode seeking in a layout of the neighbor graph"
    return Space("graph-layout", why, p, axes, distinct)


def spread_and_choose(
    frame: Frame, X: Tensor, rows: Tensor | None, requested: str, space: Space
) -> tuple[Frame, Tensor, Space]:
    """Where the modes are sought in a density (``space`` is not a layout, where the spread rows cost
    digits 0.88 -> 0.82, mean of six seeds): the rounded columns of the rows ``X`` (the frame's float64
    coordinates; fitted on its rows ``rows`` where given) spread over their cells (`Frame.spread`, in
    place), and the space ``requested`` chosen again on them, its reason saying so. Rounded, the rows lie
    on slices that the neighbor graph keeps apart. ``frame``, ``X`` and ``space`` as they are where no
    column is rounded, or in a layout."""
    if space.name == "graph-layout":
        return frame, X, space
    spread, X = frame.spread(X, rows)
    if spread is frame:
        return frame, X, space
    chosen = choose_space(X if rows is None else X[rows], requested)
    return spread, X, spread_reason(chosen, spread.rounded)


def spread_reason(space: Space, rounded: RoundedColumns | None) -> Space:
    """``space`` with its reason saying which columns were read as rounded and spread over their grid
    cells (`shiftkit.cluster.stages.Frame.spread`), where any were."""
    if rounded is None:
        return space
    columns = np.flatnonzero(rounded.steps)
    one = len(columns) == 1
    said = ", ".join(str(j) for j in columns[:8]) + (
        f" and {len(columns) - 8} more" if len(columns) > 8 else ""
    )
    whose = "its" if one else "their"
    why = f"{space.reason}; column{'' if one else 's'} {said} rounded to a grid, spread over {whose} cells"
    return replace(space, reason=why)


def n_axes(space: Space) -> int:
    """The axes a density uses: the multimodal features and the signal axes, at least `AXES_DIM`, at most
    three (more signal axes than three on too few rows for a layout: the first three)."""
    assert space.axes is not None and space.n_signal is not None
    wanted = space.n_signal + len(space.features or ())
    return min(max(wanted, AXES_DIM), AXES_MAX_SIGNAL, space.axes.axes.shape[1])


def _rival(
    A: np.ndarray, reason: str, p: int, axes: PrincipalAxes, n_distinct: int, distinct: DistinctRows | None
) -> Space | None:
    """The layout weighed beside a density on the axes (`weigh_rival`) of the rows whose first distinct
    ones are ``A``: none where they are too few for a layout or a column has fewer than
    `LAYOUT_RIVAL_LEAST_VALUES` values."""
    if n_distinct < LAYOUT_MIN_ROWS or _least_values(A) < LAYOUT_RIVAL_LEAST_VALUES:
        return None
    return Space("graph-layout", reason, p, axes, distinct, ())


def _least_values(A: np.ndarray) -> int:
    """The fewest distinct values of a column of ``A`` (m, d)."""
    if A.shape[0] == 0:
        return 0
    ordered = np.sort(A, axis=0)
    return int((np.diff(ordered, axis=0) != 0).sum(0).min()) + 1


def halved_cut(layout: LayoutFit) -> float:
    """`most_joined` of the laid-out rows halved at the median of their first principal coordinate, in the
    data's neighbor graph of the layout: what a cut of a cloud with no clusters in it keeps."""
    first = layout.model.laid_out[:, 0].double().cpu().numpy()
    halves = (first > np.median(first)).astype(np.int64)
    if halves.min() == halves.max():
        return 0.0
    return most_joined(halves, layout.neighbors)


def weigh_rival(space: Space, on_axes: np.ndarray, layout: LayoutFit) -> Space | None:
    """The rival of ``space`` (`Space.rival`), with its reason, where its ``layout`` replaces the density
    on the principal axes whose labels of the input rows are ``on_axes`` (n,); None where it does not.
    It does where each of the layout's clusters is cut apart in the data's neighbor graph
    (`LayoutFit.most_joined` below `LAYOUT_RIVAL_CUT`, or below `LAYOUT_RIVAL_HALVED` times what the
    rows halved along their first principal coordinate keep, `halved_cut`: the cut of a cloud with no
    clusters, measured on the same rows in the same graph) and it finds more clusters, or as many where
    the axes' clusters are not cut apart in that graph (the laid-out rows' labels on the axes).
    Parallel analysis counts the directions along which the columns depend on each other; clusters
    whose centers scatter over every feature make little such dependence (make_blobs' 8 to 20 centers
    in 5 or 10 features: one to three axes), and a density on those few axes joins them or cuts them
    across (four anisotropic Gaussians in five of ten features: three clusters on two axes, ARI 0.82;
    the layout's three, 0.90)."""
    assert space.rival is not None
    found, on_axes_found = len(layout.seeking.peaks), len(np.unique(on_axes[on_axes >= 0]))  # -1: noise
    joined = layout.most_joined
    halved = halved_cut(layout) if joined >= LAYOUT_RIVAL_CUT else 0.0  # only asked where the 0.1 fails
    if joined >= max(LAYOUT_RIVAL_CUT, LAYOUT_RIVAL_HALVED * halved) or found < on_axes_found:
        return None
    tie = ""
    if found == on_axes_found:
        laid = on_axes[layout.embedding_rows]  # -1 (noise, cluster_all=False) stays in no cluster
        axes_laid_out = np.where(laid >= 0, np.searchsorted(np.unique(laid[laid >= 0]), laid), -1)
        if found < 2 or most_joined(axes_laid_out, layout.neighbors) < LAYOUT_RIVAL_CUT:
            return None
        tie = " where the axes' clusters are not"
    why = (
        f"{space.rival.reason}: a density on the axes found {on_axes_found} cluster"
        f"{'' if on_axes_found == 1 else 's'}, a layout of the neighbor graph {found}, cut apart in it"
        f"{tie} (at most {joined:.2f} of the smaller one's edges join two"
        f"{'' if joined < LAYOUT_RIVAL_CUT else f', where halves of the rows keep {halved:.2f}'})"
        ": mode seeking in the layout"
    )
    return replace(space.rival, reason=why)


def _falls_apart(column: np.ndarray) -> bool:
    """Whether the mode seeking of the estimators finds more than one cluster in ``column`` (m,) alone
    (its distinct values in content order, each weighted by its copies, as `QuickShift` seeks them)."""
    sought = seek_modes_of_distinct(
        torch.as_tensor(column[:, None]),
        n_neighbors=None,
        bandwidth=None,
        prominence=None,
        min_cluster_size=input_min_size(None, 1, float(len(column))),
        memory_budget=FEATURE_MEMORY_BUDGET,
    )
    return bool(sought.seeking.labels.max() > 0)


def multimodal_features(A: np.ndarray) -> tuple[int, ...]:
    """The columns of ``A`` (m, d) whose values fall into clusters alone (``A``: the first distinct rows
    in content order, float64): a histogram dip (`shiftkit.embedding.histogram_dips`) beyond
    `shiftkit.embedding.dip_threshold` for that many columns, and more than one cluster found by the
    mode seeking in that column alone (which a column of a few repeated values, a dip between every
    two values, does not give). The deepest dips first; at most ``AXES_MAX_SIGNAL + 1`` are confirmed
    (more than `AXES_MAX_SIGNAL` are not used)."""
    depth = histogram_dips(A)
    beyond = np.flatnonzero(depth > dip_threshold(A.shape[0], A.shape[1]))
    found: list[int] = []
    for j in beyond[np.lexsort((beyond, -depth[beyond]))]:  # deepest first, ties by index
        if _falls_apart(A[:, int(j)]):
            found.append(int(j))
            if len(found) > AXES_MAX_SIGNAL:
                break
    return tuple(found)


def _features_and_axes(axes: PrincipalAxes, features: tuple[int, ...]) -> PrincipalAxes:
    """The directions of a density on ``features`` and the principal ``axes`` beside them: the features'
    unit vectors, then each principal axis less its part along those before it (Gram-Schmidt), where
    what is left is `FEATURES_AXIS_REST` of its length or more (an axis mostly along a feature already
    taken, as the first of two Gaussians apart along one unscaled column, would leave a direction of
    noise), `AXES_MAX_SIGNAL` directions at most."""
    d = axes.axes.shape[0]
    basis = [np.eye(d)[:, j] for j in features]
    for v in axes.axes.T:
        if len(basis) >= min(AXES_MAX_SIGNAL, d):
            break
        B = np.stack(basis, 1)
        rest = v - B @ (B.T @ v)
        norm = float(np.linalg.norm(rest))
        if norm >= FEATURES_AXIS_REST:
            rest = rest / norm
            basis.append(rest * (1.0 if rest[np.abs(rest).argmax()] >= 0 else -1.0))  # the sign: the data's
    directions = np.stack(basis, 1)  # (d, k)
    k = directions.shape[1]
    nan = np.full(k, np.nan)
    return PrincipalAxes(axes.mean, directions, nan, nan, axes.n_signal, axes.snap, axes.snapped_center)


def project_axes(X_c: Tensor, space: Space) -> Tensor:
    """The rows of ``X_c`` on the first `n_axes` principal axes, in ``X_c``'s dtype; (n, n_axes), in units
    of `axes_unit` (the axes' snap: the same coordinates at every scale)."""
    assert space.axes is not None
    return space.axes.project(X_c, n_axes(space)).to(X_c.dtype)


def axes_unit(space: Space) -> float:
    """One unit of `project_axes`' coordinates in ``X_c``'s units."""
    assert space.axes is not None
    return space.axes.unit


def graph_axes(X: Tensor, rows: np.ndarray) -> SnappedAxes:
    """The axes of `graph_coordinates`, of the rows ``rows`` of ``X`` (the first distinct ones in
    content order: the first `AXES_MAX_ROWS` of them)."""
    first = torch.as_tensor(rows[:AXES_MAX_ROWS], dtype=torch.long, device=X.device)
    return SnappedAxes.fit(X[first].detach().double().cpu().numpy())


def graph_coordinates(X: Tensor, axes: SnappedAxes, rows: np.ndarray | None = None) -> Tensor:
    """Where the neighbor graph is built: the first `GRAPH_MAX_FEATURES` principal coordinates (all of
    them, a rotation, when there are no more features), float32 on the CPU, in units of the axes' total
    spread (the root of their summed variances).

    The same numbers, bit for bit, for the data scaled by any factor (`SnappedAxes`): the estimators'
    frame scales by a power of two, so data scaled by 1,000 reached the cast as other float32 numbers,
    and the layout, a stochastic descent that amplifies the last bit, laid them out otherwise (digits:
    11 to 22 clusters for the same rows scaled by 1e-30 to 1e30; that was mended by fixing the units in
    float64 before the cast, but the axes of near-zero variance still carried each scale's own
    rounding noise into the layout's start: uci/statlog 28 clusters, 46 at 1e-30). ``rows``: of those
    rows of ``X`` only."""
    spread = float(np.sqrt(axes.variances.sum()))
    coordinates = axes.project(X, min(X.shape[1], GRAPH_MAX_FEATURES), rows)
    return (coordinates / (spread if spread > 0 else 1.0)).float().cpu()


def nearest_laid_out(laid_out: Tensor, G: Tensor, k: int, memory_budget: int) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest laid-out rows to each row of ``G`` (r, q), nearest first: their distances and
    indices (r, k), searched among the laid-out rows of nearby cells (`partitioned_kneighbors`: a tenth
    of the exhaustive search's time at 10,000 laid-out rows; ``benchmarks/bench_highdim.py`` reports
    the recall of the ``k`` found against the exhaustive search)."""
    return partitioned_kneighbors(laid_out, G, k, memory_budget=memory_budget)


@dataclass(frozen=True)
class LayoutModel:
    """What labels new rows in a graph layout: the laid-out rows' coordinates and clusters."""

    axes: SnappedAxes  # of the graph coordinates
    laid_out: Tensor  # (m, q) float32: graph coordinates of the laid-out rows
    labels: np.ndarray  # (m,)
    memory_budget: int


@dataclass(frozen=True)
class LayoutFit:
    """The clusters found in a graph layout.

    Attributes
    ----------
    labels : ndarray of shape (n,)
    peak_rows : ndarray of shape (n_clusters,)
        The input row at the mode of each cluster.
    density : ndarray of shape (n,)
        The layout's density at each row (at its nearest laid-out row).
    embedding : ndarray of shape (m, LAYOUT_RUNS * LAYOUT_DIM)
        The layouts of the laid-out rows, side by side.
    embedding_rows : ndarray of shape (m,)
        The input row of each laid-out row.
    seeking : ModeSeeking
        The mode seeking in the layout (bandwidth, levels, ...).
    model : LayoutModel
    neighbors : ndarray of shape (m, k)
        Each laid-out row's nearest other laid-out rows in the data.
    most_joined : float
        The largest share of the smaller cluster's edges that join two clusters in that graph
        (`shiftkit.cluster._cuts.most_joined`: 0 for one cluster, inf where a cluster is too small to
        be measured).
    """

    labels: np.ndarray
    peak_rows: np.ndarray
    density: np.ndarray
    embedding: np.ndarray
    embedding_rows: np.ndarray
    seeking: ModeSeeking
    model: LayoutModel
    neighbors: np.ndarray

    @property
    def most_joined(self) -> float:
        return most_joined(self.seeking.labels, self.neighbors)


def vote(labels: np.ndarray) -> np.ndarray:
    """Per row of ``labels`` (r, k), nearest first: the most frequent; ties to the nearest of them (a numba
    loop: 0.02 s for 1,000,000 rows of 10, where k passes of numpy comparisons took 1.3 s)."""
    if labels.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    from shiftkit.cluster._vote_kernels import most_frequent

    out = np.empty(labels.shape[0], dtype=np.int64)
    most_frequent(np.ascontiguousarray(labels, dtype=np.int64), out)
    return out


def assign(model: LayoutModel, G: Tensor) -> np.ndarray:
    """The clusters of rows at graph coordinates ``G`` (r, q): a laid-out row's own where one is equal,
    else the vote of the `ASSIGN_NEIGHBORS` nearest laid-out rows."""
    k = min(ASSIGN_NEIGHBORS, model.laid_out.shape[0])
    distances, nearest = nearest_laid_out(model.laid_out, G, k, model.memory_budget)
    labels = vote(model.labels[nearest.cpu().numpy()])
    same = (distances[:, 0] == 0).cpu().numpy()
    labels[same] = model.labels[nearest[:, 0].cpu().numpy()[same]]
    return labels


def _layout_min_size(min_cluster_size: float | None, total: float, *, root: bool = False) -> float:
    """A size given (a fraction or a count); None: the default fraction (``root``, a layout's least
    cluster: `LAYOUT_LEAST_PER_ROOT` times the square root of the points instead), but at least
    `LAYOUT_MIN_CLUSTER_POINTS` (and at most 5% of the points)."""
    if min_cluster_size is not None:
        return min_cluster_size
    if root:
        least = LAYOUT_LEAST_PER_ROOT * float(np.sqrt(total))
    else:
        least = DEFAULT_MIN_CLUSTER_SIZE * total
    return float(max(least, min(LAYOUT_MIN_CLUSTER_POINTS, 0.05 * total), 1.0))


def input_min_size(min_cluster_size: float | None, n_features: int, total: float) -> float:
    """The least cluster of a density of data of ``n_features`` features, in the input space or on
    their principal axes (``total`` points or weight): ``min_cluster_size`` as given; None: the default
    fraction, and for data of more than `INPUT_MAX_FEATURES` features the layout's rule
    (`_layout_min_size`: at least `LAYOUT_MIN_CLUSTER_POINTS` points, at most 5% of them). On the axes,
    the heavy tails of structureless clouds (Student's t, 5 to 12 features, 1,000 rows) fell into
    knots of 5 to 8 rows, 6 of the 432 clouds of ``benchmarks/bench_hidden.py --rival`` (8 of them
    split; 2 with the rule);
    in the input space the nearest-neighbor graph cuts knots of a few rows off the tails of a cloud:
    of 108 structureless samples (normal, uniform and Student's t with 3 degrees of freedom; 6 to 64
    features; 500 to 10,000 rows; three draws; ``benchmarks/bench_hidden.py --columns``) 12 were
    split, 8 of them by knots of 4 to 7 rows; with this 4. The development battery is the same with
    both (no set of it loses a cluster of fewer than 15 rows)."""
    if min_cluster_size is not None:
        return min_cluster_size
    if n_features <= INPUT_MAX_FEATURES:
        return DEFAULT_MIN_CLUSTER_SIZE
    return _layout_min_size(None, total)


def layout_rows(n_distinct: int, least: float, total: float) -> int:
    """How many distinct rows to lay out (module docstring): ``least`` is the least cluster kept, in
    the same units (rows or weight) as ``total``."""
    wanted = int(np.ceil(LAYOUT_ROWS_PER_LEAST_CLUSTER * total / max(least, 1.0)))
    return min(n_distinct, LAYOUT_MAX_ROWS, max(wanted, LAYOUT_ROWS))


def layout_size(n_distinct: int, total: float, min_cluster_size: float | None) -> tuple[float, int]:
    """The least cluster a layout keeps (`_layout_min_size`, in the units of ``total``, the rows' count or
    weight) and how many of the ``n_distinct`` distinct rows it lays out (`layout_rows`)."""
    least = _layout_min_size(min_cluster_size, total, root=True)
    return least, layout_rows(n_distinct, points_in(least, total), total)


def lay_out(
    laid_out: Tensor, memory_budget: int, report: Callable[[str], Any]
) -> tuple[CutGraph, np.ndarray]:
    """The `GRAPH_NEIGHBORS`-nearest-neighbor graph of the rows ``laid_out`` (m, q) (graph coordinates)
    and its `LAYOUT_RUNS` layouts side by side: (each row's nearest other rows (m, k), and the first
    `CUT_SAMPLE_ROWS` rows' among themselves where there are more; the layouts
    (m, LAYOUT_RUNS * LAYOUT_DIM)); ``report`` hears the first two of `LAYOUT_STAGES`."""
    m = laid_out.shape[0]
    report(LAYOUT_STAGES[0])
    k = min(GRAPH_NEIGHBORS - 1, m - 1)
    distances, indices = knn_of_distinct(laid_out, k, memory_budget)
    sample = None
    if m > CUT_SAMPLE_ROWS:
        sample = knn_of_distinct(laid_out[:CUT_SAMPLE_ROWS], k, memory_budget)[1]
    report(LAYOUT_STAGES[1])
    embedding = layout_graph(
        membership_graph(distances, indices),
        laid_out.double().numpy(),
        n_components=LAYOUT_DIM,
        seed=LAYOUT_SEED,
        runs=LAYOUT_RUNS,
    )
    return CutGraph(indices, sample), embedding


def seek_in_layout(
    embedding: np.ndarray,
    weight: np.ndarray,
    neighbors: CutGraph,
    *,
    least: float,
    prominence: float | None,
    memory_budget: int,
) -> ModeSeeking:
    """The modes of the ``embedding`` (m, q) of laid-out rows, each weighted by ``weight`` (m,) (its copies
    and the rows nearest to it), whose clusters must be cut apart in the data's neighbor graph
    ``neighbors`` (`lay_out`)."""
    E = torch.as_tensor(embedding)
    m = E.shape[0]
    return seek_modes(
        E,
        None if bool((weight == 1).all()) else torch.as_tensor(weight),
        n_neighbors=neighbors_for(E, LAYOUT_SEEK_NEIGHBORS, least=GRAPH_LEAST_NEIGHBORS),  # a tenth at most
        # the local scale of the layout's points, whatever each stands for: with the rows' weights it
        # would shrink to the nearest laid-out row where each stands for ten rows
        bandwidth=local_bandwidth(E, memory_budget=memory_budget) if m > 1 else None,
        prominence=prominence,
        min_cluster_size=least,
        memory_budget=memory_budget,
        min_gap_points=LAYOUT_MIN_GAP_POINTS,
        data_neighbors=neighbors,  # the layout tears clouds apart: its clusters must be cut apart in the data
    )


def fit_graph_layout(
    X_c: Tensor,
    space: Space,
    weights: Tensor | None,
    *,
    prominence: float | None,
    min_cluster_size: float | None,
    memory_budget: int,
    cluster_all: bool = True,
    on_stage: Callable[[str], Any] | None = None,
) -> LayoutFit:
    """Mode seeking in a layout of the neighbor graph of ``X_c`` (n, d) (the module docstring);
    ``on_stage`` hears the name of each of `LAYOUT_STAGES` as it starts. QuickShift on Dask runs the
    same steps on rows held in blocks (`shiftkit.distributed._layout`)."""
    report = on_stage or (lambda name: None)
    distinct = space.distinct
    assert distinct is not None
    n_distinct = distinct.n_distinct
    row_weights = np.ones(X_c.shape[0]) if weights is None else weights.double().cpu().numpy()
    copies = np.bincount(distinct.inverse, weights=row_weights, minlength=n_distinct)  # (u,)
    axes = graph_axes(X_c, distinct.first)
    G = graph_coordinates(X_c, axes, distinct.first)  # (u, q)
    least, m = layout_size(n_distinct, float(copies.sum()), min_cluster_size)
    laid_out = G[:m]
    graph, embedding = lay_out(laid_out, memory_budget, report)
    nearest = np.zeros((0, ASSIGN_NEIGHBORS), dtype=np.int64)
    weight = copies[:m].copy()
    report(LAYOUT_STAGES[2])
    if m < n_distinct:  # the rows not laid out: their nearest laid-out rows, and their weight to the nearest
        _, found = nearest_laid_out(laid_out, G[m:], min(ASSIGN_NEIGHBORS, m), memory_budget)
        nearest = found.cpu().numpy().astype(np.int64)
        weight += np.bincount(nearest[:, 0], weights=copies[m:], minlength=m)
    report(LAYOUT_STAGES[3])
    seeking = seek_in_layout(
        embedding, weight, graph, least=least, prominence=prominence, memory_budget=memory_budget
    )
    laid_labels = seeking.labels_with_noise(not cluster_all)
    labels = np.concatenate([laid_labels, vote(laid_labels[nearest])])  # (u,)
    density_laid_out = seeking.density.double().cpu().numpy()
    density = np.concatenate([density_laid_out, density_laid_out[nearest[:, 0]] if len(nearest) else []])
    model = LayoutModel(axes, laid_out, laid_labels, memory_budget)
    return LayoutFit(
        labels[distinct.inverse],
        distinct.first[seeking.peaks],
        density[distinct.inverse],
        embedding,
        distinct.first[:m],
        seeking,
        model,
        graph.neighbors,
    )
