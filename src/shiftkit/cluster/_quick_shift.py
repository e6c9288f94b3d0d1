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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from shiftkit._array import to_numpy
from shiftkit._ops import DEFAULT_MEMORY_BUDGET
from shiftkit._rows import match_rows
from shiftkit._shift import shift_tensors
from shiftkit._validation import (
    Rule,
    check_bandwidth,
    check_params,
    fraction_or_count,
    integer_at_least,
    one_of,
)
from shiftkit.cluster._base import MEMORY_BUDGET_RULE, PROMINENCE_RULE, Frame, TensorInputMixin
from shiftkit.cluster._mode_seeking import ModeSeeking, seek_modes_of_distinct
from shiftkit.cluster._saddles import LOW_LEVELS_MAX_FEATURES
from shiftkit.cluster._spaces import (
    LAYOUT_STAGES,
    SPACES,
    LayoutFit,
    LayoutModel,
    Space,
    assign,
    axes_unit,
    choose_space,
    fit_graph_layout,
    graph_coordinates,
    input_min_size,
    project_axes,
    spread_and_choose,
    weigh_rival,
)
from shiftkit.kernels import get_kernel
from shiftkit.neighbors import NeighborIndex

__all__ = ["QuickShift", "Stage", "quick_shift"]


@dataclass(frozen=True)
class Stage:
    """What a `QuickShift` ``callback`` receives as a stage of the fit starts.

    Attributes
    ----------
    name : str
        What the stage does (``'neighbor graph'``, ``'layout'``, ...).
    index : int
        1 for the first stage.
    total : int
        The stages of this fit (known once the space is chosen; 2 until then).
    """

    name: str
    index: int
    total: int


@dataclass(frozen=True)
class _Fitted:
    """What `QuickShift.predict` needs from the fit: where the modes were sought, and how to get there."""

    frame: Frame
    space: Space
    X: Tensor | None  # (u, d'): the distinct rows in the space sought; None for 'graph-layout'
    weights: Tensor | None  # (u,): copies of each (None: one each)
    labels: np.ndarray | None  # (u,): the cluster of each distinct row
    index: NeighborIndex | None
    density: Tensor | None  # (u,)
    layout: LayoutModel | None
    core_levels: np.ndarray | None = None  # (n_clusters,): log density of each core (noise below it)


PARAMETER_RULES: dict[str, Rule] = {
    "n_neighbors": integer_at_least(2).or_none(),
    "space": one_of(*SPACES),
    "prominence": PROMINENCE_RULE,
    "min_cluster_size": fraction_or_count().or_none(),
    "memory_budget": MEMORY_BUDGET_RULE,
    "cluster_all": Rule(lambda v: isinstance(v, bool | np.bool_), "True or False"),
}


@dataclass(frozen=True)
class QuickShiftFit:
    """What a fit found (`QuickShift._store` writes it): the input rows at the modes, each row's label
    and density, the mode seeking, the scale of its units, where it was sought, what predicts."""

    mode_rows: np.ndarray
    labels: np.ndarray
    density: np.ndarray
    seeking: ModeSeeking
    scale: float
    embedding: np.ndarray | None
    embedding_rows: np.ndarray | None
    embedding_centers: np.ndarray | None
    model: _Fitted


def layout_result(frame: Frame, space: Space, fit: LayoutFit) -> QuickShiftFit:
    """What a fit in a graph layout found (``fit``, made here or on Dask), for `QuickShift._store`."""
    return QuickShiftFit(
        np.asarray(fit.peak_rows),
        fit.labels,
        fit.density,
        fit.seeking,
        1.0,
        fit.embedding,
        fit.embedding_rows,
        fit.embedding[fit.seeking.peaks],
        _Fitted(frame, space, None, None, None, None, None, fit.model),
    )


class QuickShift(TensorInputMixin, ClusterMixin, BaseEstimator):
    """Mode-seeking clustering on a nearest-neighbor graph; the number of clusters is found, not given.

    Every point climbs to its densest mutual nearest neighbor that is denser
    than itself, until it reaches a mode of the density; modes whose relative
    prominence (how far the density falls below the peak before meeting a
    higher mode) is below a level are merged into their neighbors, and so are
    clusters smaller than ``min_cluster_size``. With the defaults, nothing needs
    choosing: the bandwidth is the local scale of the data and the level is the
    one at which the number of clusters lives longest. On more than four
    features the modes are sought where a density can find them: on the
    principal axes that carry signal, or in a layout of the nearest-neighbor
    graph (``space``; `shiftkit.cluster._spaces`). Equal rows are one row
    weighted by its copies, taken in an order set by the rows' values: equal
    rows share a label, and the order of the rows changes nothing. The rows
    are taken in units of their own spread on a fine grid (in the input space
    where no bandwidth is given: a bandwidth given is kept exactly there; on
    the principal axes always), so that exact ties (data symmetric about a
    point, a lattice) are broken the same way whatever the data's scale.
    Where the modes are sought in a density (not in a layout) and no
    bandwidth is given, a column rounded to a regular grid coarse beside the
    rows' scatter (ages in years, counts, a measure to one decimal) has each
    value moved to a point of its grid cell drawn by a hash of its row
    (`shiftkit._rows.RoundedColumns`): rounded, the rows lie on slices, one for
    each value, that the neighbor graph keeps apart (three blobs with one
    column rounded to whole numbers fell into 14 clusters). Equal rows move
    alike, and ``predict`` moves its rows the same way.

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
        ``levels_`` and ``n_clusters_by_level_``; in a graph layout one
        cluster where it lives longer than any number of clusters, elsewhere
        one only where no level keeps two). Either way a cluster whose
        peak is within two standard errors of the density estimate of its
        saddle (the noise of a kernel-weighted count) is merged too.
    min_cluster_size : float or int, default=None
        A fraction of the points (below 1) or a number of points: smaller
        clusters are merged into their neighbors. None: 0.5% of the points,
        and in a graph layout or the input space of more than four features
        at least 15 of them (at most 5%): there the neighbor graph cuts a
        cluster's tail into knots of a few to ten or so points. In a graph
        layout half the square root of the points instead of 0.5% (at least
        15: 21 of 1,797, 50 of 10,000, 158 of 100,000, 500 of 1,000,000), so
        that many small clusters in many rows are told apart and knots of a
        few dozen rows in a few thousand are not.
    cluster_all : bool, default=True
        False: a point whose density is below its cluster's core level (the
        highest saddle at which the cluster meets another, as Quickshift++'s
        cluster cores and HDBSCAN's clusters leave out the rest) is noise,
        label -1: the fringes where clusters meet and a background of low
        density. A cluster that meets no other through a saddle keeps all its
        points.
    space : {'auto', 'input', 'principal-axes', 'graph-layout'}, default='auto'
        Where the modes are sought. ``'auto'``: the input space up to four
        features; else the principal axes when one to three carry signal
        (parallel analysis), the input space when none does, a five-dimensional
        layout of the 15-nearest-neighbor graph when more do. With three signal
        axes or fewer, one to three columns that fall into clusters alone (a
        histogram dip beyond its noise; ``multimodal_features_``) come first in
        the density's directions (clusters apart along one column, which
        parallel analysis does not see). A ``bandwidth``
        or ``n_neighbors`` given keeps the input space.
    device : str or torch.device, default=None
        Where to compute: the device of a tensor ``X``, else CUDA when torch
        sees it, else CPU. The graph steps after the density run on the CPU.
    dtype : {'float32', 'float64'} or None, default='float32'
        Precision of the distances and densities (the data are centered and
        scaled in float64 first); None: the input's (float64 for integers).
        ``cluster_centers_`` follow the input's float dtype either way.
    memory_budget : int, default=256 MiB
        Bytes of temporaries per step; no n x n matrix is ever allocated.
    callback : callable, default=None
        Called with a `QuickShiftStage` as each stage of the fit starts (the space, then
        the mode seeking; in a graph layout its graph, layout, mode seeking and
        the rows not laid out): for a progress display.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point, 0 for the cluster of the highest mode; -1 for
        noise (``cluster_all=False``).
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
        Clusters of at least ``min_cluster_size`` kept at each level (what
        ``prominence=`` that level gives, clusters within the density's noise
        merged; the level itself is chosen from the counts before that test).
    space_, space_reason_ : str
        Where the modes were sought, and why.
    n_signal_features_ : int or None
        Principal axes whose variance exceeds the shuffled columns' (None when
        not counted: four features or fewer, or a tuned input space).
    multimodal_features_ : ndarray of int or None
        The columns (counted from 0) that fall into clusters alone, the first
        directions of the density on the principal axes (empty where none is
        used; None where not looked for: four features or fewer, a space
        asked for, or more than three signal axes).
    embedding_ : ndarray of shape (n_embedded, n_dims) or None
        The coordinates the modes were sought in: the principal coordinates of
        every row, or the layouts of the rows laid out (4,000 of larger data by
        default; three layouts of five dimensions side by side); None in the
        input space. ``bandwidth_`` is in these
        coordinates' units.
    embedding_rows_ : ndarray of shape (n_embedded,) or None
        The input row of each row of ``embedding_``.
    embedding_centers_ : ndarray of shape (n_clusters, n_dims) or None
        The cluster modes in ``embedding_``'s coordinates.
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
    >>> from shiftkit.datasets import make_lesson_blobs
    >>> X, y, centers = make_lesson_blobs()
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
        min_cluster_size: float | None = None,
        cluster_all: bool = True,
        space: str = "auto",
        device: Any = None,
        dtype: Any = "float32",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        callback: Callable[[Stage], Any] | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.bandwidth = bandwidth
        self.prominence = prominence
        self.min_cluster_size = min_cluster_size
        self.cluster_all = cluster_all
        self.space = space
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.callback = callback

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
        # a bandwidth or a neighbor count is a statement about the input space: keep to it
        tuned = self.bandwidth is not None or self.n_neighbors is not None
        sought = "input" if tuned and self.space == "auto" else self.space
        # the space is chosen, and the axes or the layout made, from the rows in float64: cast to float32
        # in the frame's units (a power of two near their spread), data scaled by 1,000 would reach them
        # as other numbers, and a layout amplifies the last bit (`shiftkit.cluster._spaces`)
        snapping = self.bandwidth is None  # the default's rows in the input space are snapped (below)
        X_c, frame = self._validate_framed(
            X, reset=True, dtype=None if sought == "input" and not snapping else torch.float64
        )
        report = self.callback or (lambda stage: None)
        report(Stage("choosing where to seek the modes", 1, 2))
        space = choose_space(X_c, sought)
        if snapping:  # columns rounded to a coarse grid spread over their cells, in a density
            frame, X_c, space = spread_and_choose(frame, X_c, None, sought, space)
        if space.name == "input":
            if snapping:
                # the rows in units of their own spread, on a grid (`Frame.snapped`), before the cast: the
                # same bits for the data scaled by any factor, so that exact ties (data symmetric about a
                # point) are broken the same way at every scale (wut/twosplashes: a factor of 1e-30 moved
                # 50 of its 400 rows between its two clusters). The snap's mean and spread are order-free
                # sums (`shiftkit._rows.column_folds`): QuickShift on Dask, summing them block by block,
                # snaps to the same bits. A bandwidth given is kept exactly.
                frame, X_c = frame.snapped(X_c)
            X_c = X_c.to(frame.dtype)
        if space.name == "graph-layout":
            stages = LAYOUT_STAGES

            def layout_stage(name: str) -> None:
                report(Stage(name, 2 + stages.index(name), 1 + len(stages)))

            found = self._fit_layout(X_c, frame, space, layout_stage)
        else:
            report(Stage(f"mode seeking ({space.name}): neighbor graph, density, saddles", 2, 2))
            found = self._fit_density(X_c, frame, space)
            if space.rival is not None:  # a layout beside the axes' density (`shiftkit.cluster._spaces`)
                layout = self._lay_out(X_c, space.rival, None)
                won = weigh_rival(space, found.labels, layout)
                if won is not None:
                    space, found = won, self._fit_layout(X_c, frame, won, None, layout)
        # the modes are input rows: read from the input, not from its centered (float32) copy, they are
        # the rows as given (5.0, 3.4, not 5.0, 3.4000000059604645)
        exact = self._validate_X(_safe_indexing(X, found.mode_rows), reset=False, dtype=torch.float64)
        return self._store(found, to_numpy(exact.to(frame.output)), space)

    def _fit_density(self, X_c: Tensor, frame: Frame, space: Space) -> QuickShiftFit:
        """Mode seeking on a density of the input space or of its principal axes.

        On the distinct rows, each weighted by its copies, in content order
        (`shiftkit._rows`): equal rows share a label and the row order of the
        input changes nothing.
        """
        Z = X_c if space.name == "input" else project_axes(X_c, space).to(frame.dtype)  # axes: from float64
        # one unit of Z in the input's: on the axes, their coordinates are in units of the snapped rows'
        # spread (`axes_unit`: the same numbers at every scale)
        unit = frame.unit if space.name == "input" else frame.unit * axes_unit(space)
        given = None if self.bandwidth is None else float(self.bandwidth) / unit
        sought = seek_modes_of_distinct(
            Z,
            n_neighbors=self.n_neighbors,
            bandwidth=given,
            prominence=self.prominence,
            min_cluster_size=input_min_size(self.min_cluster_size, X_c.shape[1], float(Z.shape[0])),
            memory_budget=self.memory_budget,
            low_levels=Z.shape[1] <= LOW_LEVELS_MAX_FEATURES,
        )
        found = sought.seeking
        modes = sought.rows[torch.as_tensor(found.peaks, device=Z.device)]  # input rows at the modes
        inverse = sought.distinct.inverse
        density = to_numpy(found.density)[inverse]
        labels = found.labels_with_noise(not self.cluster_all)  # (u,)
        embedding = to_numpy(Z.double() * unit) if space.name != "input" else None
        return QuickShiftFit(
            to_numpy(modes),
            labels[inverse],
            density,
            found,
            unit,
            embedding,
            None if embedding is None else np.arange(X_c.shape[0]),
            None if embedding is None else embedding[to_numpy(modes)],
            _Fitted(
                frame,
                space,
                sought.points,
                sought.copies,
                labels,
                found.index,
                found.density,
                None,
                found.core_levels,
            ),
        )

    def _lay_out(self, X_c: Tensor, space: Space, on_stage: Callable[[str], Any] | None) -> LayoutFit:
        """The modes of a layout of the neighbor graph (`fit_graph_layout`)."""
        return fit_graph_layout(
            X_c,
            space,
            None,
            prominence=self.prominence,
            min_cluster_size=self.min_cluster_size,
            memory_budget=self.memory_budget,
            cluster_all=self.cluster_all,
            on_stage=on_stage,
        )

    def _fit_layout(
        self,
        X_c: Tensor,
        frame: Frame,
        space: Space,
        on_stage: Callable[[str], Any] | None,
        fit: LayoutFit | None = None,
    ) -> QuickShiftFit:
        """Mode seeking in a layout of the neighbor graph (``fit``: one already made)."""
        return layout_result(frame, space, self._lay_out(X_c, space, on_stage) if fit is None else fit)

    def _store(self, fit: QuickShiftFit, centers: np.ndarray, space: Space) -> QuickShift:
        """The one writer of the fitted attributes: ``fit``, the ``centers`` (the input's rows at the
        modes) and where the modes were sought."""
        found = fit.seeking
        self.cluster_centers_ = centers
        self.labels_ = np.asarray(fit.labels, dtype=np.int64)
        self.cluster_densities_ = to_numpy(found.density[torch.as_tensor(found.peaks)]).astype(np.float64)
        self.density_ = np.asarray(fit.density, dtype=np.float64)
        self.bandwidth_ = found.bandwidth * fit.scale
        self.prominence_ = found.level
        self.levels_, self.n_clusters_by_level_ = found.levels, found.counts
        self.n_neighbors_ = found.n_neighbors
        self.space_, self.space_reason_, self.n_signal_features_ = space.name, space.reason, space.n_signal
        features = space.features
        self.multimodal_features_ = None if features is None else np.asarray(features, dtype=np.int64)
        self.embedding_, self.embedding_rows_ = fit.embedding, fit.embedding_rows
        self.embedding_centers_ = fit.embedding_centers
        self._fitted = fit.model
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The cluster of each row of ``X``.

        Where the modes were sought in a density (``space_`` 'input' or
        'principal-axes'): the cluster of the nearest denser training point
        among the ``n_neighbors_`` nearest (the nearest if none is denser).
        In a graph layout: the cluster of an equal laid-out row, else the one
        most of the 10 nearest laid-out rows have (as the fit labelled the rows
        it did not lay out). Rows of the training data get their ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        fitted = self._fitted
        X64 = self._validate_X(X, reset=False, dtype=torch.float64)
        if fitted.layout is not None:  # as the fit computed (float64): equal rows give equal coordinates
            G = graph_coordinates(fitted.frame.to(X64, torch.float64), fitted.layout.axes)
            return assign(fitted.layout, G)
        if fitted.X is None:
            raise ValueError(
                "this QuickShift was fitted on Dask (shiftkit.distributed): its rows stayed on the workers, "
                "and predict needs them"
            )
        assert fitted.density is not None and fitted.labels is not None
        X_fit = fitted.X
        # as the fit computed: a training row lands where it did
        if fitted.space.name == "input":
            Y = fitted.frame.to(X64)
        else:
            Y = project_axes(fitted.frame.to(X64, torch.float64), fitted.space)
        Y = Y.to(X_fit.device, X_fit.dtype)
        if fitted.index is None:
            return np.zeros(Y.shape[0], dtype=np.int64)
        k = min(self.n_neighbors_, X_fit.shape[0])
        _, idx = fitted.index.kneighbors(Y, k)  # (m, k)
        idx = idx.to(X_fit.device).long()
        h = self.bandwidth_ / fitted.frame.unit
        own = density_at(Y, X_fit, h, fitted.weights, memory_budget=self.memory_budget)  # (m,)
        denser = fitted.density[idx] >= own[:, None]  # (m, k)
        first = torch.where(denser.any(1), denser.to(torch.int8).argmax(1), 0)
        nearest = to_numpy(idx.gather(1, first[:, None])[:, 0])
        labels = fitted.labels[nearest]
        if not self.cluster_all and fitted.core_levels is not None:  # below its cluster's core: noise
            clustered = labels >= 0
            below = to_numpy(own.double().log()) < fitted.core_levels[np.maximum(labels, 0)]
            labels = np.where(clustered & below, -1, labels)
        same = match_rows(to_numpy(X_fit), to_numpy(Y))  # a row equal to a training row: its label
        return np.where(same >= 0, fitted.labels[np.maximum(same, 0)], labels)


def density_at(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    weights: Tensor | None,
    *,
    engine: str = "auto",
    memory_budget: int,
) -> Tensor:
    """QuickShift's density (a Gaussian kernel sum, `shiftkit._shift`) at the rows ``Y`` over ``X``."""
    return shift_tensors(
        Y, X, bandwidth, get_kernel("gaussian"), weights, engine=engine, memory_budget=memory_budget
    )[1]


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
