"""Mean shift clustering: the estimator, the function, and the loops under them.

Three layers, as in scikit-learn: `shiftkit._shift` does one step with no
checks; `blur` and `climb` own the buffers and the convergence test; the
`MeanShift` estimator validates its input and stores what it learned.

The data are centred on their (weighted) mean before any step: mean shift is
translation invariant, and centred coordinates keep float32 exact for data far
from the origin.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from numbers import Integral
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from shiftkit._array import (
    as_tensor,
    check_bandwidth,
    check_weights,
    to_numpy,
)
from shiftkit._shift import DEFAULT_MEMORY_BUDGET, ENGINES, select_engine
from shiftkit._shift._grid import MAX_FEATURES as GRID_MAX_FEATURES
from shiftkit._shift._grid import aggregate_cells, grid_fits
from shiftkit.bandwidth import (
    BANDWIDTH_RULES,
    gaussian_equivalent_radius,
    mean_gap_to_distinct,
    select_bandwidth,
)
from shiftkit.cluster._base import TensorInputMixin, check_min_cluster_size, check_prominence
from shiftkit.cluster._loops import (
    LoopSettings,
    OnStep,
    StepInfo,
    bin_seeds,
    blur,
    climb,
    merge_modes,
    nearest_centre,
)
from shiftkit.cluster._saddles import (
    DEFAULT_MIN_CLUSTER_SIZE,
    DensityGraph,
    density_graph,
    hill_climb,
    merge_through_saddles,
)
from shiftkit.kernels import Kernel, get_kernel, is_builtin

__all__ = ["MeanShift", "StepInfo", "mean_shift"]

ALGORITHMS = ("auto", "blurring", "standard", "binned")
# Old spellings that still work, with a FutureWarning, for one release.
ALGORITHM_ALIASES = {"grid": "binned"}
# Side of the cells that summarise the data for algorithm='binned', in bandwidths. On 20 blobs of a
# million points with the flat kernel and bandwidth 2 (twice the blobs' spread), the flat density
# of the two closest blobs (3.2 spreads apart) peaks between them, and whether a seed climbs there
# and swallows both depends on rounding: with cells of 1/8 bandwidth the binned fit keeps them
# apart as exact bin-seeded mean shift and scikit-learn's do (ARI 0.983 / 0.987 with 'nearest');
# with 1/4 and 1/16 it merges them (0.946). benchmarks/bench_scale.py.
BIN_SIZE = 0.125
ASSIGN_LABELS = ("mode", "nearest")
MERGES = ("auto", "radius", "saddles")
# Neighbours per point in the graph through which merge='saddles' follows the density.
SADDLE_NEIGHBOURS = 20
# algorithm='auto' bins (algorithm='binned') from this many points in at most GRID_MAX_FEATURES
# dimensions, when the cells of side BIN_SIZE * bandwidth hold at least BINNED_MIN_PER_BIN points
# on average (measured with benchmarks/bench_scale.py): below that, exact blurring is fast enough.
BINNED_MIN_POINTS = 50_000
BINNED_MIN_PER_BIN = 4.0


class MeanShift(TensorInputMixin, ClusterMixin, BaseEstimator):
    """Mean shift clustering, exact, on CPU or GPU; the number of clusters is found, not given.

    Each point (blurring) or seed (standard) moves to the kernel-weighted mean of
    the data around it until it stops moving; the places where they stop are the
    modes of the kernel density, merged into cluster centres.

    With no parameters, the bandwidth is the local scale of the data (small, so
    that no two clusters share a mode, while a cluster may have several), and
    the modes are then merged through the saddles of the density: a mode
    survives when the density falls far enough below its peak before it meets
    a higher mode, at the level where the number of clusters is most stable
    (``merge='saddles'``; see `QuickShift`, which shares it). With a numeric
    bandwidth, modes closer than one bandwidth are merged, as in scikit-learn
    (``merge='radius'``).

    Parameters
    ----------
    bandwidth : float or str, default=None
        Kernel bandwidth: the Gaussian's standard deviation, or the support
        radius of the compact kernels; or the name of a rule of
        `shiftkit.select_bandwidth`. None is ``'auto'``: the local scale
        (`shiftkit.bandwidth.local_bandwidth`, the mean distance to the 10th
        nearest neighbour), with the modes merged through saddles.
    kernel : {'gaussian', 'flat', 'triangular', 'epanechnikov'}, default='gaussian'
        See `shiftkit.kernels`. ``'flat'`` with ``algorithm='standard'`` is
        scikit-learn's MeanShift.
    algorithm : {'auto', 'blurring', 'standard', 'binned'}, default='auto'
        ``'blurring'`` (the fast.ai lesson's): the data itself moves, every point
        to the weighted mean of the moved data; it converges in a few steps.
        ``'standard'`` (scikit-learn's): seeds climb the density of the fixed data.
        ``'binned'``: standard mean shift over the data summarised by the
        weighted means of cells of side ``bandwidth / 8``, seeded at the cells
        of side ``bandwidth`` (``min_bin_freq``); its cost follows the occupied
        cells, not the points (``'grid'`` is its old name). ``'auto'``: with
        ``merge='saddles'``, standard mean shift seeded at the modes of the
        nearest-neighbour graph (each point goes where the mode of its graph
        basin goes); with seeds or ``bin_seeding``, standard; on 50,000 points
        or more in at most 6 dimensions whose cells hold 4 points or more on
        average, binned; else blurring.
    seeds : array-like of shape (n_seeds, n_features), default=None
        Starting points for ``algorithm='standard'``; default: the data itself,
        or the bins of ``bin_seeding``.
    bin_seeding : bool, default=False
        With ``algorithm='standard'``: start from the centres of the cells of a
        grid of side ``bandwidth`` that hold at least ``min_bin_freq`` points.
    min_bin_freq : float, default=1
        Least (weighted) number of points in a cell for it to give a seed.
    assign_labels : {'mode', 'nearest'}, default='mode'
        How points get their cluster. ``'mode'``: the cluster of the mode the
        point (or its seed) reached, which is the mean-shift partition into
        basins of attraction; points without a mode fall back to the nearest
        centre. ``'nearest'``: the nearest centre, as scikit-learn does.
    cluster_all : bool, default=True
        Points labelled by the nearest centre join it whatever the distance. If
        False, those farther than ``bandwidth`` from every centre get the label
        -1.
    merge : {'auto', 'radius', 'saddles'}, default='auto'
        How modes become clusters. ``'radius'``: modes closer than
        ``bandwidth`` are merged, strongest first (scikit-learn's rule).
        ``'saddles'``: after that, modes are merged through the saddles of the
        density on the mutual 20-nearest-neighbour graph (see ``prominence``).
        ``'auto'``: ``'saddles'`` when ``bandwidth`` is None or ``'auto'``, else
        ``'radius'``.
    prominence : float in (0, 1), default=None
        With ``merge='saddles'``: the least relative prominence of a mode that
        stays a cluster (0.5: the density falls below half its peak before it
        meets a higher mode). None: chosen from the data (the level at which
        the number of clusters is the same over the longest stretch).
    min_cluster_size : float or int, default=0.005
        With ``merge='saddles'``: clusters smaller than this fraction of the
        points (below 1) or number of points are merged into their neighbours.
    max_iter : int, default=300
        Most steps (blurring) or most steps of any seed (standard).
    tol : float, default=1e-3
        A point has converged when its step is at most ``tol * bandwidth`` (or,
        where that is finer than float rounding can resolve, at most 8 units in
        the last place of the largest centred coordinate).
    engine : {'auto', 'dense', 'attention', 'fused', 'numba_cuda', 'grid', 'knn'}, default='auto'
        The engine of the shift step; ``'auto'`` chooses by kernel, device and
        data (see `shiftkit.select_engine`).
    device : str or torch.device, default=None
        Where to compute: None means the device of a tensor ``X``, else CUDA when
        torch sees it, else CPU.
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the computation and of ``cluster_centers_``.
    memory_budget : int, default=256 MiB
        Bytes of temporaries one step may use; the work is chunked to fit, so
        no n x n matrix is ever allocated.
    record_history : bool, default=False
        Keep the positions of the moving points after every step in
        ``history_`` (for `shiftkit.plot.animate`). Costs a copy per step.
    callback : callable, default=None
        Called after every step with a `StepInfo`; e.g. a progress bar.
    verbose : bool, default=False
        Print one line per step to stderr. The estimator is silent otherwise.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The modes kept after merging, strongest first.
    cluster_densities_ : ndarray of shape (n_clusters,)
        The kernel density at each centre, ``sum_j K(|c - x_j|) w_j`` with
        ``K(0) = 1`` (a weighted count of nearby points), in decreasing order.
    labels_ : ndarray of shape (n_samples,)
        The cluster of each point: the centre its mode (or its seed's mode)
        joined (see ``assign_labels``); -1 for outliers when ``cluster_all=False``.
    bandwidth_ : float
        The bandwidth used (given or estimated).
    algorithm_ : str
        The algorithm that ran (``algorithm``, or what ``'auto'`` chose).
    merge_ : str
        ``'radius'`` or ``'saddles'``.
    prominence_ : float
        With ``merge='saddles'``: the level used (given or chosen).
    levels_, n_clusters_by_level_ : ndarray
        With ``merge='saddles'``: the levels swept and the clusters at each.
    engine_ : str
        The engine that ran the shift steps.
    n_iter_ : int
        Steps taken (blurring), or the most steps any seed took (standard).
    history_ : list of ndarray of shape (n_moving_points, n_features)
        With ``record_history=True``: the moving points (the data for blurring,
        the seeds for standard) before the first step and after each of the
        ``n_iter_`` steps.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` has string column names.

    See Also
    --------
    mean_shift : The function form.
    estimate_bandwidth : The automatic bandwidth.

    Notes
    -----
    Modes closer than ``bandwidth`` are merged, strongest (highest density)
    first, ties broken by coordinates, as in scikit-learn. When the graph-seeded
    standard algorithm runs (the default), a seed whose steps keep their
    direction and shrink by a steady ratio jumps ahead along that geometric
    series every few steps (mean shift converges linearly, slowly for small
    bandwidths); ordinary steps decide convergence. A step costs
    ``n_moving x n_samples`` kernel evaluations; memory stays
    O((n_moving + n_samples) x n_features) plus ``memory_budget``.

    Examples
    --------
    >>> from shiftkit import MeanShift
    >>> from shiftkit.datasets import make_blobs
    >>> X, y, centroids = make_blobs()
    >>> ms = MeanShift(bandwidth=2.5).fit(X)
    >>> len(ms.cluster_centers_)
    6
    """

    def __init__(
        self,
        *,
        bandwidth: float | str | None = None,
        kernel: str = "gaussian",
        algorithm: str = "auto",
        seeds: Any = None,
        bin_seeding: bool = False,
        min_bin_freq: float = 1,
        assign_labels: str = "mode",
        cluster_all: bool = True,
        merge: str = "auto",
        prominence: float | None = None,
        min_cluster_size: float = DEFAULT_MIN_CLUSTER_SIZE,
        max_iter: int = 300,
        tol: float = 1e-3,
        engine: str = "auto",
        device: Any = None,
        dtype: Any = "float32",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        record_history: bool = False,
        callback: Callable[[StepInfo], Any] | None = None,
        verbose: bool = False,
    ) -> None:
        self.bandwidth = bandwidth
        self.kernel = kernel
        self.algorithm = algorithm
        self.seeds = seeds
        self.bin_seeding = bin_seeding
        self.min_bin_freq = min_bin_freq
        self.assign_labels = assign_labels
        self.cluster_all = cluster_all
        self.merge = merge
        self.prominence = prominence
        self.min_cluster_size = min_cluster_size
        self.max_iter = max_iter
        self.tol = tol
        self.engine = engine
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.record_history = record_history
        self.callback = callback
        self.verbose = verbose

    # -- checks -----------------------------------------------------------

    def _check_params(self) -> Kernel:
        kernel = get_kernel(self.kernel)
        if self.algorithm in ALGORITHM_ALIASES:
            warnings.warn(
                f"algorithm={self.algorithm!r} is now {ALGORITHM_ALIASES[self.algorithm]!r}; "
                "the old name goes in the next release",
                FutureWarning,
                stacklevel=3,
            )
        elif self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if self.algorithm not in ("standard", "auto") and (self.seeds is not None or self.bin_seeding):
            raise ValueError("seeds and bin_seeding apply to algorithm='standard' only")
        if self.merge not in MERGES:
            raise ValueError(f"merge must be one of {MERGES}, got {self.merge!r}")
        check_prominence(self.prominence)
        check_min_cluster_size(self.min_cluster_size)
        if self.assign_labels not in ASSIGN_LABELS:
            raise ValueError(f"assign_labels must be one of {ASSIGN_LABELS}, got {self.assign_labels!r}")
        if self.engine != "auto" and self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose 'auto' or one of {sorted(ENGINES)}")
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, Integral) or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not isinstance(self.tol, (int, float)) or not 0 <= self.tol < np.inf:
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        if not isinstance(self.min_bin_freq, (int, float)) or not self.min_bin_freq >= 0:
            raise ValueError(f"min_bin_freq must be >= 0, got {self.min_bin_freq!r}")
        if (
            isinstance(self.memory_budget, bool)
            or not isinstance(self.memory_budget, Integral)
            or self.memory_budget <= 0
        ):
            raise ValueError(f"memory_budget must be a positive number of bytes, got {self.memory_budget!r}")
        if isinstance(self.bandwidth, str):
            if self.bandwidth not in BANDWIDTH_RULES:
                rules = sorted(BANDWIDTH_RULES)
                raise ValueError(
                    f"unknown bandwidth rule {self.bandwidth!r}; pass a number or one of {rules}"
                )
        elif self.bandwidth is not None:
            check_bandwidth(self.bandwidth)
        return kernel

    # -- fitting ------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> MeanShift:
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Lists, numpy arrays, pandas DataFrames or torch tensors (which stay
            on their device unless ``device`` says otherwise).
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of k counts as k copies of the row.
            Rows of weight 0 take no part and are labelled as points without a
            seed (see ``cluster_all``).

        Returns
        -------
        self : MeanShift
        """
        kernel = self._check_params()
        X_t = self._validate_X(X, reset=True)
        w = check_weights(sample_weight, X_t.shape[0], dtype=X_t.dtype, device=X_t.device)
        taking_part = None if w is None else torch.nonzero(w > 0)[:, 0]
        X_fit = X_t if taking_part is None else X_t[taking_part]
        w_fit = None if w is None or bool((w == 1).all()) else w[taking_part]

        bandwidth = self._bandwidth_for(X_fit, w_fit, kernel)
        origin = X_fit.mean(0) if w_fit is None else (w_fit @ X_fit) / w_fit.sum()
        X_c = X_fit - origin  # (n_fit, d)
        merge = self._merge_for()
        landscape = None
        if merge == "saddles" and X_c.shape[0] > 1:
            landscape = density_graph(
                X_c, bandwidth, kernel, w_fit, n_neighbors=SADDLE_NEIGHBOURS, memory_budget=self.memory_budget
            )
        algorithm = self._algorithm_for(X_c, bandwidth, landscape)
        # the data the seeds climb over: the points, or (binned) their cells' weighted means
        data_c, data_w, cell_of_point = X_c, w_fit, None
        if algorithm == "binned":
            ones = X_c.new_ones(X_c.shape[0])
            weights = ones if w_fit is None else w_fit
            data_c, data_w, cell_of_point = aggregate_cells(X_c, weights, BIN_SIZE * bandwidth)
        seeds_c, seed_of_point = self._seeds_for(X_fit, w_fit, bandwidth, origin, algorithm, landscape)
        if algorithm == "binned":
            # the seeding grid anchored at the input's origin, as scikit-learn's (and bin_seeding's)
            seeds, seed_of_cell = bin_seeds(data_c + origin, data_w, bandwidth, self.min_bin_freq)
            seeds_c = seeds - origin
            if seeds_c.shape[0] == 0:
                raise ValueError(
                    f"no cell of side bandwidth holds min_bin_freq={self.min_bin_freq} points; "
                    "lower min_bin_freq"
                )
            seed_of_point = seed_of_cell[cell_of_point]
        if self.engine != "auto":
            engine = self.engine
        else:
            engine = select_engine(
                X_c if seeds_c is None else seeds_c, data_c, bandwidth, kernel, fixed_data=seeds_c is not None
            )
        start = X_c if seeds_c is None else seeds_c
        history = [to_numpy(start + origin)] if self.record_history else None
        on_step = self._step_hook(origin, bandwidth, history)
        settings = LoopSettings(
            engine,
            self.max_iter,
            self._stop(X_c, bandwidth),
            self.memory_budget,
            on_step,
            extrapolate=landscape is not None and self.algorithm == "auto",  # graph-seeded: see climb
        )
        if seeds_c is None:
            modes = blur(X_c, w_fit, bandwidth, kernel, settings)
        else:
            modes = climb(seeds_c, data_c, data_w, bandwidth, kernel, settings)
        if not modes.converged:
            warnings.warn(
                f"MeanShift did not converge in max_iter={self.max_iter} steps; raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        if not bool((modes.density > 0).any()):
            raise ValueError(
                f"No seed has any data within bandwidth={bandwidth:g}; use other seeds or a larger bandwidth."
            )
        kept, cluster_of_mode = merge_modes(modes, bandwidth)
        centres_c = modes.positions[kept]  # (k, d)
        densities = modes.density[kept]
        # the cluster of each point taking part, through the mode it (or its seed) reached; -1: none
        fit_labels = torch.where(seed_of_point >= 0, cluster_of_mode[seed_of_point.clamp_min(0)], -1)
        if landscape is not None:
            basins = fit_labels  # seedless points: the basin of their nearest centre
            if bool((basins < 0).any()):
                nearest = nearest_centre(X_c, centres_c, self.memory_budget)[0]
                basins = torch.where(basins >= 0, basins, nearest)
            merged = merge_through_saddles(
                basins,
                landscape.log_density,
                landscape.graph,
                X_c,
                prominence=self.prominence,
                min_cluster_size=self.min_cluster_size,
                weights=w_fit,
            )
            centres_c, densities = centres_c[merged.top_basins], densities[merged.top_basins]
            fit_labels = torch.as_tensor(merged.labels, device=X_c.device)
            landscape = None  # the graph's memory is free for what follows
            self.prominence_ = merged.level
            self.levels_, self.n_clusters_by_level_ = merged.levels, merged.counts
        else:
            for name in ("prominence_", "levels_", "n_clusters_by_level_"):
                if hasattr(self, name):
                    delattr(self, name)
        labels = self._labels(X_t, origin, centres_c, bandwidth, fit_labels, taking_part, self.assign_labels)
        self.cluster_centers_ = to_numpy(centres_c + origin)
        self.cluster_densities_ = to_numpy(densities)
        self.labels_ = to_numpy(labels)
        self.bandwidth_ = bandwidth
        self.algorithm_ = algorithm
        self.merge_ = merge
        self.engine_ = engine
        self.n_iter_ = modes.n_iter
        if history is not None:
            self.history_ = history
        elif hasattr(self, "history_"):
            del self.history_
        return self

    def _merge_for(self) -> str:
        """'saddles' when the bandwidth is the default rule's (None or 'auto') and merge='auto'."""
        if self.merge != "auto":
            return str(self.merge)
        return "saddles" if self.bandwidth in (None, "auto") else "radius"

    def _algorithm_for(self, X_c: Tensor, bandwidth: float, landscape: DensityGraph | None) -> str:
        """The algorithm of ``algorithm='auto'``: standard with seeds (given, binned, or the modes of the
        graph when merging through saddles); binned on large low-dimensional data whose bins hold several
        points each; else blurring."""
        if self.algorithm != "auto":
            return ALGORITHM_ALIASES.get(self.algorithm, self.algorithm)
        if self.seeds is not None or self.bin_seeding or landscape is not None:
            return "standard"
        n, d = X_c.shape
        if n >= BINNED_MIN_POINTS and d <= GRID_MAX_FEATURES and grid_fits(X_c, BIN_SIZE * bandwidth):
            n_cells = aggregate_cells(X_c, X_c.new_ones(n), BIN_SIZE * bandwidth)[1].numel()
            if n >= BINNED_MIN_PER_BIN * n_cells:
                return "binned"
        return "blurring"

    def _stop(self, X_c: Tensor, bandwidth: float) -> float:
        """The convergence step: ``tol * bandwidth``, but no finer than float rounding of the coordinates."""
        rounding = 8 * torch.finfo(X_c.dtype).eps * float(X_c.abs().max())
        return max(self.tol * bandwidth, rounding)

    def _step_hook(self, origin: Tensor, bandwidth: float, history: list[np.ndarray] | None) -> OnStep | None:
        """The loops' per-step hook: history, callback and verbose lines; None when none is asked for."""
        if history is None and self.callback is None and not self.verbose:
            return None
        callback = self.callback

        def on_step(iteration: int, Y: Tensor, largest_move: float, n_moving: int) -> None:
            positions = to_numpy(Y + origin)
            if history is not None:
                history.append(positions)
            if callback is not None:
                callback(StepInfo(iteration, positions, largest_move, n_moving, bandwidth))
            if self.verbose:
                print(
                    f"MeanShift step {iteration}: largest move {largest_move:.4g} "
                    f"({largest_move / bandwidth:.3g} bandwidths), {n_moving} points moving",
                    file=sys.stderr,
                )

        return on_step

    def _bandwidth_for(self, X: Tensor, w: Tensor | None, kernel: Kernel) -> float:
        if self.bandwidth is not None and not isinstance(self.bandwidth, str):
            return check_bandwidth(self.bandwidth)
        if X.shape[0] < 2:
            raise ValueError(
                f"estimating the bandwidth needs at least 2 samples, got n_samples = {X.shape[0]}; "
                "pass bandwidth=..."
            )
        name = kernel.name if is_builtin(kernel, kernel.name) else "gaussian"
        bandwidth = select_bandwidth(X, self.bandwidth or "auto", kernel=name, sample_weight=w)
        if bandwidth == 0:  # most samples coincide: fall back to the gaps between distinct ones
            bandwidth = mean_gap_to_distinct(X, sample_weight=w) * gaussian_equivalent_radius(
                name, X.shape[1]
            )
        if bandwidth == 0:
            raise ValueError("all samples are equal: there is no scale to estimate; pass bandwidth=...")
        return bandwidth

    def _seeds_for(
        self,
        X: Tensor,
        w: Tensor | None,
        bandwidth: float,
        origin: Tensor,
        algorithm: str,
        landscape: DensityGraph | None,
    ) -> tuple[Tensor | None, Tensor]:
        """Centred seeds (None for blurring) and the seed of each point (-1: none)."""
        n = X.shape[0]
        identity = torch.arange(n, device=X.device)
        if algorithm != "standard":
            return None, identity
        if self.algorithm == "auto" and landscape is not None and self.seeds is None and not self.bin_seeding:
            # one seed per mode of the graph, where every point climbs to its densest mutual neighbour:
            # mean shift then moves them to the modes of the density, and a point goes where its seed goes
            mode_of_point = hill_climb(landscape.log_density, landscape.graph)
            peaks, seed_of_point = torch.unique(mode_of_point, return_inverse=True)
            return X[peaks] - origin, seed_of_point
        if self.seeds is not None:
            seeds = as_tensor(self.seeds, name="seeds", dtype=X.dtype, device=X.device)
            if seeds.shape[1] != X.shape[1]:
                raise ValueError(f"seeds have {seeds.shape[1]} features but X has {X.shape[1]}")
            return seeds - origin, torch.full((n,), -1, device=X.device)
        if self.bin_seeding:
            seeds, seed_of_point = bin_seeds(X, w, bandwidth, self.min_bin_freq)
            if seeds.shape[0] == 0:
                raise ValueError(
                    f"no grid cell holds min_bin_freq={self.min_bin_freq} points; "
                    "lower min_bin_freq or use bin_seeding=False"
                )
            return seeds - origin, seed_of_point
        return X - origin, identity

    def _labels(
        self,
        X: Tensor,
        origin: Tensor,
        centres_c: Tensor,
        bandwidth: float,
        fit_labels: Tensor,
        taking_part: Tensor | None,
        assign: str,
    ) -> Tensor:
        """The cluster of each row of ``X``: ``fit_labels`` (one per row taking part, -1: none) where
        ``assign='mode'`` gives one, else the nearest centre."""
        every_row_has_a_mode = taking_part is None and bool((fit_labels >= 0).all())
        if assign == "mode" and every_row_has_a_mode:
            return fit_labels  # no centre distances needed
        nearest, sq_dist = nearest_centre(X - origin, centres_c, self.memory_budget)  # (n,), (n,)
        if not self.cluster_all:
            nearest = torch.where(sq_dist <= bandwidth**2, nearest, -1)
        if assign == "nearest":
            return nearest
        labels = nearest.clone()
        rows = torch.arange(X.shape[0], device=X.device) if taking_part is None else taking_part
        labels[rows] = torch.where(fit_labels >= 0, fit_labels, nearest[rows])
        return labels

    def predict(self, X: Any) -> np.ndarray:
        """The nearest cluster centre of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X_t = self._validate_X(X, reset=False)
        centres = torch.as_tensor(self.cluster_centers_, device=X_t.device, dtype=X_t.dtype)
        return to_numpy(nearest_centre(X_t, centres, self.memory_budget)[0])


def mean_shift(X: Any, *, sample_weight: Any = None, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean shift clustering, the function form of `MeanShift`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,), default=None
    **params
        The parameters of `MeanShift` (bandwidth, kernel, algorithm, ...).

    Returns
    -------
    cluster_centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from shiftkit import mean_shift
    >>> centres, labels = mean_shift([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]], bandwidth=1.0)
    >>> labels.tolist()
    [0, 0, 1]
    """
    estimator = MeanShift(**params).fit(X, sample_weight=sample_weight)
    return estimator.cluster_centers_, estimator.labels_
