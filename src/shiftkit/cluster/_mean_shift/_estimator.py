"""Mean shift clustering: the estimator and the function.

Three layers, as in scikit-learn: `shiftkit._shift` does one step with no
checks; the loops (`_loops`) own the buffers and the convergence test; the
`MeanShift` estimator validates its input, chooses the bandwidth
(`_bandwidth`), the start (`_seeds`) and the engine once, and stores what it
learned. Modes become clusters by radius (`_modes`) or through saddles
(`shiftkit.cluster._saddles`).

The data are centered on their (weighted) mean before any step: mean shift is
translation invariant, and centered coordinates keep float32 exact for data far
from the origin.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from shiftkit._array import to_numpy
from shiftkit._ops import DEFAULT_MEMORY_BUDGET, nearest, nearest_far
from shiftkit._rows import distinct_rows
from shiftkit._shift import ENGINES, select_engine
from shiftkit._shift._grid import MAX_FEATURES as GRID_MAX_FEATURES
from shiftkit._validation import (
    Rule,
    check_bandwidth,
    check_params,
    check_weights,
    fraction_or_count,
    integer_at_least,
    number_in,
    one_of,
)
from shiftkit.bandwidth import mean_gap_to_distinct
from shiftkit.cluster._base import (
    MEMORY_BUDGET_RULE,
    N_JOBS_RULE,
    PROMINENCE_RULE,
    Frame,
    TensorInputMixin,
    cpu_threads,
    power_of_two_near,
)
from shiftkit.cluster._mean_shift import _seeds
from shiftkit.cluster._mean_shift._bandwidth import choose_bandwidth, resolve_rule
from shiftkit.cluster._mean_shift._loops import (
    LoopSettings,
    MeanShiftStep,
    Modes,
    OnStep,
    Stepper,
    blur,
    climb,
)
from shiftkit.cluster._mean_shift._modes import merge_modes
from shiftkit.cluster._mean_shift._result import MeanShiftFit, SaddleLevels, store
from shiftkit.cluster._saddles import (
    LOW_LEVELS_MAX_FEATURES,
    DensityGraph,
    density_graph,
    merge_through_saddles,
)
from shiftkit.cluster._spaces import (
    SPACES,
    LayoutFit,
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
from shiftkit.kernels import Kernel, get_kernel
from shiftkit.neighbors import GRAPH_LEAST_NEIGHBORS, neighbors_for
from shiftkit.neighbors.cells import bin_means, fits

__all__ = ["MeanShift", "mean_shift", "select_bandwidth"]

ALGORITHMS = ("auto", "blurring", "standard", "binned")
ASSIGN_LABELS = ("mode", "nearest")
MERGES = ("auto", "radius", "saddles")
# Neighbors per point in the graph through which merge='saddles' follows the density (at most a
# tenth of the points: `neighbors_for`).
SADDLE_NEIGHBORS = 20
# algorithm='auto' bins (algorithm='binned') from this many points in at most GRID_MAX_FEATURES
# dimensions, when the cells of side BIN_SIZE * bandwidth hold at least BINNED_MIN_PER_BIN points
# on average (measured with benchmarks/bench_scale.py): below that, exact blurring is fast enough.
BINNED_MIN_POINTS = 50_000
BINNED_MIN_PER_BIN = 4.0

# The parameters' constraints, as a table (the rest -- kernel, bandwidth, seeds, engine -- have
# checks of their own in _check_params).
PARAMETER_RULES: dict[str, Rule] = {
    "algorithm": one_of(*ALGORITHMS),
    "assign_labels": one_of(*ASSIGN_LABELS),
    "merge": one_of(*MERGES),
    "space": one_of(*SPACES),
    "prominence": PROMINENCE_RULE,
    "min_cluster_size": fraction_or_count().or_none(),
    "min_bin_freq": number_in(0, float("inf"), wording=">= 0"),
    "max_iter": integer_at_least(1, "a positive integer"),
    "tol": number_in(0, float("inf"), wording="a finite number >= 0"),
    "memory_budget": MEMORY_BUDGET_RULE,
    "n_jobs": N_JOBS_RULE,
    "neighbor_index": Rule(
        lambda v: v is None or all(hasattr(v, a) for a in ("fit", "kneighbors")),
        "None or a neighbor index (with fit and kneighbors)",
    ),
}


def _saddle_centers(
    modes: Tensor,
    density: Tensor,
    labels: Tensor,
    X_c: Tensor,
    peaks: Tensor,
    peak_density: Tensor,
    memory_budget: int,
) -> tuple[Tensor, Tensor]:
    """The center of each cluster the saddles kept: the mode its top seed climbed to by mean shift
    (``modes`` (k, d), ``density`` (k,)), or where the row of ``X_c`` nearest that mode is in another
    cluster (``labels`` (n,)), the cluster's densest row (``peaks`` (k,), ``peak_density`` (k,)).

    Mean shift moves a seed to a mode of the kernel density, and the seed of a narrow cluster beside a
    denser one can climb out of it to the other's mode: merged by that (two seeds' modes within a
    bandwidth, scikit-learn's rule), MeanShift() joined clusters the density graph's saddles keep apart
    (graves/zigzag_noisy 3 -> 2 clusters, wut/labirynth 5 -> 4, other/hdbscan 7 -> 6; the battery's 44
    low-dimensional sets: median ARI 0.846, QuickShift() 0.964). Now the saddles alone decide, and a
    cluster whose mode lies in another is centered on its own densest row (labirynth's long band, whose
    seed climbed into the small dense cluster at its end)."""
    row, _ = nearest(modes, X_c, memory_budget)
    own = labels[row] == torch.arange(modes.shape[0], device=modes.device)
    return torch.where(own[:, None], modes, X_c[peaks]), torch.where(own, density, peak_density)


class MeanShift(TensorInputMixin, ClusterMixin, BaseEstimator):
    """Mean shift clustering, exact, on CPU or GPU; the number of clusters is found, not given.

    Each point (blurring) or seed (standard) moves to the kernel-weighted mean of
    the data around it until it stops moving; the places where they stop are the
    modes of the kernel density, merged into cluster centers.

    With no parameters, the bandwidth is the local scale of the data (small, so
    that no two clusters share a mode, while a cluster may have several), and
    the modes are then merged through the saddles of the density: a mode
    survives when the density falls far enough below its peak before it meets
    a higher mode, at the level where the number of clusters is most stable
    (``merge='saddles'``; see `QuickShift`, which shares it). There the rows are
    taken in units of their own spread on a fine grid and in content order, so
    that exact ties (data symmetric about a point) are broken the same way
    whatever the data's scale and the order of the rows; the values of a column
    rounded to a grid coarse beside the rows' scatter (ages in years, counts)
    are spread over their grid cells, as `QuickShift` spreads them. With a
    numeric bandwidth, modes closer than one bandwidth are merged, as in
    scikit-learn (``merge='radius'``), on the rows as given.

    Parameters
    ----------
    bandwidth : float or str, default=None
        Kernel bandwidth: the Gaussian's standard deviation, or the support
        radius of the compact kernels; or the name of a rule of
        `shiftkit.select_bandwidth`. None is ``'auto'``: the local scale
        (`shiftkit.bandwidth.local_bandwidth`, the mean distance to the 10th
        nearest neighbor, at most a tenth of the points away), with the modes
        merged through saddles.
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
        cells, not the points. ``'auto'``: with
        ``merge='saddles'``, standard mean shift seeded at the modes of the
        nearest-neighbor graph (each point goes where the mode of its graph
        basin goes; the saddles alone decide which basins join, and a
        cluster whose seed climbed into another cluster is centered at its
        own densest row); with seeds or
        ``bin_seeding``, standard; on 50,000 points
        or more in at most 6 dimensions whose cells hold 4 points or more on
        average, binned; else blurring.
    seeds : array-like of shape (n_seeds, n_features), default=None
        Starting points for ``algorithm='standard'``; default: the data itself,
        or the bins of ``bin_seeding``.
    bin_seeding : bool, default=False
        With ``algorithm='standard'``: start from the centers of the cells of a
        grid of side ``bandwidth`` that hold at least ``min_bin_freq`` points.
    min_bin_freq : float, default=1
        Least (weighted) number of points in a cell for it to give a seed.
    assign_labels : {'mode', 'nearest'}, default='mode'
        How points get their cluster. ``'mode'``: the cluster of the mode the
        point (or its seed) reached, which is the mean-shift partition into
        basins of attraction; points without a mode fall back to the nearest
        center. ``'nearest'``: the nearest center, as scikit-learn does.
    cluster_all : bool, default=True
        Points labelled by the nearest center join it whatever the distance. If
        False, those farther than ``bandwidth`` from every center get the label
        -1.
    merge : {'auto', 'radius', 'saddles'}, default='auto'
        How modes become clusters. ``'radius'``: modes closer than
        ``bandwidth`` are merged, strongest first (scikit-learn's rule).
        ``'saddles'``: after that, modes are merged through the saddles of the
        density on the mutual 20-nearest-neighbor graph (see ``prominence``).
        ``'auto'``: ``'saddles'`` when ``bandwidth`` is None or ``'auto'``, else
        ``'radius'``.
    prominence : float in (0, 1), default=None
        With ``merge='saddles'``: the least relative prominence of a mode that
        stays a cluster (0.5: the density falls below half its peak before it
        meets a higher mode). None: chosen from the data (the level at which
        the number of clusters is the same over the longest stretch). Either
        way a mode whose peak is within two standard errors of the density
        estimate of its saddle (the noise of a kernel-weighted count) is merged.
    min_cluster_size : float or int, default=None
        With ``merge='saddles'``: clusters smaller than this fraction of the
        points (below 1) or number of points are merged into their neighbors.
        None: 0.5% of the points (in the input space of more than four
        features at least 15 points, at most 5%; in a graph layout half the
        square root of the points, at least 15, as `QuickShift`'s).
    space : {'auto', 'input', 'principal-axes', 'graph-layout'}, default='auto'
        Where the modes are sought (see `QuickShift`): with the defaults of
        every parameter that shapes the density, ``'auto'`` looks at data of
        more than four features first; mean shift then runs on the principal
        axes that carry signal (the centers put back on their plane in the
        input space), or QuickShift's mode seeking in a layout of the
        nearest-neighbor graph (``algorithm_ == 'quickshift'``).
    max_iter : int, default=300
        Most steps (blurring) or most steps of any seed (standard).
    tol : float, default=1e-3
        A point has converged when its step is at most ``tol * bandwidth`` (or,
        where that is finer than float rounding can resolve, at most 8 units in
        the last place of the largest centered coordinate).
    engine : {'auto', 'dense', 'attention', 'fused', 'numba_cuda', 'grid', 'knn'}, default='auto'
        The engine of the shift step; ``'auto'`` chooses by kernel, device and
        data (see `shiftkit.select_engine`).
    neighbor_index : neighbor index, default=None
        For the ``knn`` engine of the standard algorithm: an unfitted index from
        `shiftkit.neighbors` to build over the data instead of the default
        (faiss or scikit-learn's tree), e.g. `shiftkit.neighbors.LSHIndex` for
        large data of low intrinsic dimension in many features. Giving one
        selects the ``knn`` engine.
    device : str or torch.device, default=None
        Where to compute: None means the device of a tensor ``X``, else CUDA when
        torch sees it, else CPU.
    dtype : {'float32', 'float64'} or None, default='float32'
        Precision of the steps; None: the input's (float64 for integers). The
        data are first centered and scaled in float64 (so float32 keeps every
        digit of data far from the origin, and data at 1e-30 or 1e30 neither
        underflow nor overflow). ``cluster_centers_`` are float32 when the input
        and the steps both are, else float64.
    memory_budget : int, default=256 MiB
        Bytes of temporaries one step may use; the work is chunked to fit, so
        no n x n matrix is ever allocated.
    n_jobs : int, default=None
        CPU threads of the fit (torch's and the compiled engines'), restored
        afterwards; None keeps torch's setting, -1 uses every core.
    record_history : bool, default=False
        Keep the positions of the moving points after every step in
        ``history_`` (for `shiftkit.plot.animate`). Costs a copy per step.
    callback : callable, default=None
        Called after every step with a `MeanShiftStep`; e.g. a progress bar.
    verbose : bool, default=False
        Print one line per step to stderr. The estimator is silent otherwise.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The modes kept after merging, strongest first.
    cluster_densities_ : ndarray of shape (n_clusters,)
        The kernel density at each center, ``sum_j K(|c - x_j|) w_j`` with
        ``K(0) = 1`` (a weighted count of nearby points), in decreasing order.
    labels_ : ndarray of shape (n_samples,)
        The cluster of each point: the center its mode (or its seed's mode)
        joined (see ``assign_labels``); -1 for outliers when ``cluster_all=False``.
    bandwidth_ : float
        The bandwidth used (given or estimated; 0.0 for constant data, which
        have no scale to estimate).
    algorithm_ : str
        The algorithm that ran (``algorithm``, or what ``'auto'`` chose;
        ``'quickshift'`` in a graph layout).
    merge_ : str
        ``'radius'`` or ``'saddles'``.
    prominence_ : float
        With ``merge='saddles'``: the level used (given or chosen).
    levels_, n_clusters_by_level_ : ndarray
        With ``merge='saddles'``: the levels swept and the clusters kept at each (what
        ``prominence=`` that level gives; as `QuickShift`'s).
    engine_ : str
        The engine that ran the shift steps.
    n_iter_ : int
        Steps taken (blurring), or the most steps any seed took (standard).
    history_ : list of ndarray of shape (n_moving_points, n_features)
        With ``record_history=True``: the moving points (the data for blurring,
        its distinct rows where modes merge through saddles; the seeds for
        standard) before the first step and after each of the ``n_iter_``
        steps.
    space_, space_reason_, n_signal_features_ : str, str, int or None
        Where the modes were sought, why, and the principal axes above the
        shuffled columns (see `QuickShift`).
    multimodal_features_ : ndarray of int or None
        The columns that fall into clusters alone, the density's first
        directions (see `QuickShift`).
    embedding_, embedding_rows_, embedding_centers_ : ndarray or None
        The coordinates the modes were sought in, the input row of each, and
        the centers there (None in the input space).
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
    >>> from shiftkit.datasets import make_lesson_blobs
    >>> X, y, centers = make_lesson_blobs()
    >>> ms = MeanShift(bandwidth=2.5).fit(X)
    >>> len(ms.cluster_centers_)
    6
    """

    def __init__(
        self,
        *,
        bandwidth: float | str | None = None,
        kernel: str | Kernel = "gaussian",
        algorithm: str = "auto",
        seeds: Any = None,
        bin_seeding: bool = False,
        min_bin_freq: float = 1,
        assign_labels: str = "mode",
        cluster_all: bool = True,
        merge: str = "auto",
        prominence: float | None = None,
        min_cluster_size: float | None = None,
        space: str = "auto",
        max_iter: int = 300,
        tol: float = 1e-3,
        engine: str = "auto",
        neighbor_index: Any = None,
        device: Any = None,
        dtype: Any = "float32",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        n_jobs: int | None = None,
        record_history: bool = False,
        callback: Callable[[MeanShiftStep], Any] | None = None,
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
        self.space = space
        self.max_iter = max_iter
        self.tol = tol
        self.engine = engine
        self.neighbor_index = neighbor_index
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.n_jobs = n_jobs
        self.record_history = record_history
        self.callback = callback
        self.verbose = verbose

    # -- checks -----------------------------------------------------------

    def _check_params(self) -> Kernel:
        check_params(self, PARAMETER_RULES)
        kernel = get_kernel(self.kernel)
        if self.algorithm not in ("standard", "auto") and (self.seeds is not None or self.bin_seeding):
            raise ValueError("seeds and bin_seeding apply to algorithm='standard' only")
        if self.engine != "auto" and self.engine not in ENGINES:
            raise ValueError(f"unknown engine {self.engine!r}; choose 'auto' or one of {sorted(ENGINES)}")
        if isinstance(self.bandwidth, str):
            resolve_rule(self.bandwidth)
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
            Non-negative weights; a weight of k counts as k copies of the row in
            the density and the steps. The default bandwidth (``'auto'``) reads
            them as shares of the rows taking part (so do the other rules, the
            ``bandwidth`` given as a name): weights all equal change
            nothing, and weights that sum to 1 are not one row (so integer
            weights are not copies to it; `select_bandwidth` counts them as
            copies). Rows of weight 0 take no part and are labelled as points
            without a seed (see ``cluster_all``).

        Returns
        -------
        self : MeanShift
        """
        return self._fit_stepping(X, sample_weight, None)

    def _fit_stepping(
        self, X: Any, sample_weight: Any, stepper: Stepper | None, of_features: int | None = None
    ) -> MeanShift:
        """`fit`, its steps run by ``stepper`` (None: in this process; `shiftkit.cluster.stages`);
        ``of_features``: ``X`` is a projection of data of that many features (the least cluster's rule,
        `input_min_size`, is theirs)."""
        kernel = self._check_params()
        with cpu_threads(self.n_jobs):
            return self._fit(X, sample_weight, kernel, stepper, of_features)

    def _fit(
        self,
        X: Any,
        sample_weight: Any,
        kernel: Kernel,
        stepper: Stepper | None,
        of_features: int | None = None,
    ) -> MeanShift:
        X64, input_dtype = self._validate_X64(X, reset=True)
        w = check_weights(sample_weight, X64.shape[0], dtype=torch.float64, device=X64.device)
        taking_part = None if w is None else torch.nonzero(w > 0)[:, 0]
        if w is None or taking_part is None:
            frame = self._frame_for(X64, input_dtype)
        else:
            frame = self._frame_for(X64[taking_part], input_dtype, w[taking_part])
        sought = self._requested_space()
        snapping = self.bandwidth in (None, "auto")  # the default's rows in the input space are snapped
        # (n, d): centered and scaled in float64, then cast; kept in float64 while the space is chosen
        # (as QuickShift.fit: the axes and the layout are made from the rows' float64 values)
        X_all = frame.to(X64, None if sought == "input" and not snapping else torch.float64)
        del X64
        X_c = X_all if taking_part is None else X_all[taking_part]
        n_taking = X_c.shape[0]  # the input rows taking part (the default bandwidth's count of rows)
        # weights as a power of two times numbers near 1: their sums neither overflow nor underflow
        w_unit = 1.0 if w is None else power_of_two_near(float(w.max()))

        def fit_weights(w: Tensor | None, taking_part: Tensor | None) -> Tensor | None:
            """The weights of the rows taking part, in units of ``w_unit`` (None where all are 1)."""
            return None if w is None or bool((w == 1).all()) else (w[taking_part] / w_unit).to(frame.dtype)

        w_fit = fit_weights(w, taking_part)
        constant = bool((X_c == X_c[0]).all())
        of_row = None  # where the fit runs on the distinct rows: the distinct row of each input row
        space = None if constant else choose_space(X_c, sought)
        if snapping and space is not None:  # columns rounded to a coarse grid spread, as QuickShift's
            frame, X_all, space = spread_and_choose(frame, X_all, taking_part, sought, space)
            if frame.rounded is not None:
                X_c = X_all if taking_part is None else X_all[taking_part]
        if space is None or space.name == "input":  # in the computation's dtype from here on
            if snapping and space is not None:
                # the rows in units of their own spread, on a grid (`Frame.snapped`), the same bits at
                # every scale, so that exact ties break the same way
                frame, X_all = frame.snapped(X_all, taking_part)
            if space is not None and self._merge_for() == "saddles":
                # merged through saddles, the distinct rows in content order (`shiftkit._rows`), each
                # weighted by its copies (as QuickShift's), so that sums and ties do not follow the row
                # order, and a row's copies are not its neighbors in the saddles' graph (there they cut
                # every value repeated more than the graph's neighbors off from the rest: rounded blobs
                # fell into 60 clusters) nor compete for places in other rows' lists (their climbs
                # differed: 1 of 45 copied rows of wut/mk2 went to another cluster than its original)
                distinct = distinct_rows(X_all)
                of_row = distinct.inverse
                X_all = X_all[torch.as_tensor(distinct.first, device=X_all.device)]
                if w is not None:  # each distinct row's weight: its copies' summed
                    summed = np.bincount(of_row, weights=w.cpu().numpy(), minlength=distinct.n_distinct)
                    w = torch.as_tensor(summed, device=X_all.device)
                elif distinct.n_distinct < len(of_row):  # rows that repeat: their copies
                    w = torch.as_tensor(distinct.counts, dtype=torch.float64, device=X_all.device)
                if w is not None:
                    taking_part = torch.nonzero(w > 0)[:, 0]
                    w_unit = power_of_two_near(float(w.max()))
                    w_fit = fit_weights(w, taking_part)
            X_all = X_all.to(frame.dtype)
            X_c = X_all if taking_part is None else X_all[taking_part]
        if space is None:
            fit = self._fit_constant(X_all, X_c, frame, taking_part)
        elif space.name == "principal-axes":
            fit = self._fit_on_axes(X_all, frame, space, sample_weight, stepper)
            if space.rival is not None:  # a layout beside the axes' density (`shiftkit.cluster._spaces`)
                layout = self._lay_out(X_c, w_fit, space.rival)
                won = weigh_rival(space, fit.labels, layout)
                if won is not None:
                    fit = self._fit_in_layout(X_all, X_c, frame, taking_part, w_fit, won, layout)
        elif space.name == "graph-layout":
            fit = self._fit_in_layout(X_all, X_c, frame, taking_part, w_fit, space)
        else:
            features = X_c.shape[1] if of_features is None else of_features
            fit = self._fit_input(
                X_all,
                X_c,
                frame,
                kernel,
                w_fit,
                w_unit,
                taking_part,
                space,
                stepper,
                features,
                n_taking=n_taking,
            )
        if of_row is not None:  # each input row's label: its distinct row's (the history holds the seeds)
            fit = replace(fit, labels=fit.labels[of_row])
        if stepper is not None:  # what it measured (Dask's traffic) is stored with the fit
            fit = replace(fit, extra={**fit.extra, **stepper.records()})
        return store(self, fit)

    def _fit_input(
        self,
        X_all: Tensor,
        X_c: Tensor,
        frame: Frame,
        kernel: Kernel,
        w_fit: Tensor | None,
        w_unit: float,
        taking_part: Tensor | None,
        space: Space,
        stepper: Stepper | None,
        of_features: int,
        *,
        n_taking: int,
    ) -> MeanShiftFit:
        """Mean shift in the input space: bandwidth, density graph (for the saddle merge), start, loop,
        merge, labels (``of_features``: the data's features, which `input_min_size` reads; ``n_taking``: the
        input rows taking part). Merging through saddles, the rows are distinct, weighted by their copies."""
        # in the frame's units. The rule counts neighbors by weight: the weights are read as shares of the
        # input rows taking part (their sum made the rows' count), so that a row's copies count as copies
        # and weights that are all equal change nothing (in units of w_unit, weights of 3 gave another
        # bandwidth than none, the copies of rows another than the distinct rows weighted by them)
        shares = None if w_fit is None else w_fit.double() * (n_taking / float(w_fit.double().sum()))
        bandwidth = self._bandwidth_for(X_c, shares, kernel, frame.unit)
        merge = self._merge_for()
        saddles = None
        landscape = None
        if merge == "saddles" and X_c.shape[0] > 1:
            landscape = density_graph(
                X_c,
                bandwidth,
                kernel,
                w_fit,
                # as QuickShift's: at most a tenth of the rows (they are distinct here)
                n_neighbors=neighbors_for(X_c, SADDLE_NEIGHBORS, least=GRAPH_LEAST_NEIGHBORS),
                memory_budget=self.memory_budget,
            )
        algorithm = self._algorithm_for(X_c, bandwidth, landscape)
        start = self._start(X_c, w_fit, w_unit, frame, bandwidth, algorithm, landscape)
        if self.neighbor_index is not None:
            if self.engine not in ("auto", "knn"):
                raise ValueError(
                    f"neighbor_index is for the knn engine; engine={self.engine!r} was asked for"
                )
            if start.seeds is None:
                raise ValueError(
                    "neighbor_index serves the standard algorithm (fixed data, one index); the blurring "
                    "algorithm moves its data every step: pass algorithm='standard'"
                )
            engine = "knn"
        elif self.engine != "auto":
            engine = self.engine
        else:
            engine = select_engine(
                start.moving, start.data, bandwidth, kernel, fixed_data=start.seeds is not None
            )
        history = [frame.out(start.moving)] if self.record_history else None
        # an index given travels with its engine, wherever the steps run
        stepping = engine if self.neighbor_index is None else ENGINES["knn"].with_index(self.neighbor_index)
        settings = LoopSettings(
            stepping,
            self.max_iter,
            self._stop(X_c, bandwidth),
            self.memory_budget,
            self._step_hook(frame, bandwidth, history),
            extrapolate=landscape is not None and self.algorithm == "auto",  # graph-seeded: see climb
            stepper=stepper,
        )
        if start.seeds is None:
            modes = blur(start.data, start.weights, bandwidth, kernel, settings)
        else:
            modes = climb(start.seeds, start.data, start.weights, bandwidth, kernel, settings)
        self._check_modes(modes, self._user_bandwidth(bandwidth, frame))
        # merging through saddles, each seed's graph basin is a basin of its own: the saddles decide what
        # joins (`_saddle_centers`)
        kept, cluster_of_mode = merge_modes(modes, 0.0 if landscape is not None else bandwidth)
        centers_c = modes.positions[kept]  # (k, d)
        densities = modes.density[kept]
        # the cluster of each point taking part, through the mode it (or its seed) reached; -1: none
        seed_of_point = start.seed_of_point
        fit_labels = torch.where(seed_of_point >= 0, cluster_of_mode[seed_of_point.clamp_min(0)], -1)
        if landscape is not None:
            basins = fit_labels  # seedless points: the basin of their nearest center
            if bool((basins < 0).any()):
                basins = torch.where(basins >= 0, basins, nearest(X_c, centers_c, self.memory_budget)[0])
            merged = merge_through_saddles(
                basins,
                landscape.log_density,
                landscape.graph,
                X_c,
                prominence=self.prominence,
                min_cluster_size=input_min_size(
                    self.min_cluster_size,
                    of_features,
                    float(X_c.shape[0]) if w_fit is None else float(w_fit.sum()),
                ),
                weights=w_fit,
                low_levels=X_c.shape[1] <= LOW_LEVELS_MAX_FEATURES,
                kernel=kernel,
            )
            fit_labels = torch.as_tensor(merged.labels, device=X_c.device)
            peaks = torch.as_tensor(merged.peak_points, device=X_c.device)
            centers_c, densities = _saddle_centers(
                centers_c[merged.top_basins],
                densities[merged.top_basins],
                fit_labels,
                X_c,
                peaks,
                landscape.density[peaks].to(densities.dtype),
                self.memory_budget,
            )
            landscape = None  # the graph's memory is free for what follows
            saddles = SaddleLevels(merged.level, merged.levels, merged.counts)
        labels = self._labels(X_all, centers_c, bandwidth, fit_labels, taking_part, self.assign_labels)
        return MeanShiftFit(
            frame,
            frame.out(centers_c),
            to_numpy(densities.double() * w_unit),
            to_numpy(labels),
            self._user_bandwidth(bandwidth, frame),
            algorithm,
            merge,
            engine,
            modes.n_iter,
            space.name,
            space.reason,
            space.n_signal,
            multimodal_features=space.features,
            saddles=saddles,
            history=history,
        )

    def _requested_space(self) -> str:
        """``space``; ``'auto'`` is kept only where every parameter that shapes the density is the
        default's (a bandwidth, a kernel, seeds or an algorithm are statements about the input space)."""
        defaults = (
            self.bandwidth in (None, "auto")
            and get_kernel(self.kernel).name == "gaussian"
            and self.algorithm == "auto"
            and self.seeds is None
            and not self.bin_seeding
            and self.merge in ("auto", "saddles")
            and self.assign_labels == "mode"
            and self.engine == "auto"
            and self.neighbor_index is None
            and not self.record_history
        )
        if self.space != "auto" and self.space != "input" and not defaults:
            raise ValueError(
                f"space={self.space!r} clusters where the default does: leave bandwidth, kernel, algorithm, "
                "seeds, bin_seeding, merge, assign_labels, engine, neighbor_index and record_history "
                "at their defaults, or pass space='input'"
            )
        return self.space if defaults else "input"

    def _fit_on_axes(
        self, X_all: Tensor, frame: Frame, space: Space, sample_weight: Any, stepper: Stepper | None
    ) -> MeanShiftFit:
        """Mean shift on the first principal axes; the centers put back in the input space (on the plane
        of those axes through the data's mean)."""
        Z = project_axes(X_all, space).double()  # (n, 2), in units of the axes' snap (`axes_unit`)
        unit = frame.unit * axes_unit(space)  # one unit of Z in the input's
        inner = clone(self).set_params(space="input", n_jobs=None, callback=None, verbose=False)
        inner._fit_stepping(Z * unit, sample_weight, stepper, X_all.shape[1])
        assert space.axes is not None
        axes = torch.as_tensor(space.axes.axes[:, : Z.shape[1]], dtype=torch.float64)
        mean = torch.as_tensor(space.axes.mean, dtype=torch.float64)
        on_plane = mean + torch.as_tensor(inner.cluster_centers_, dtype=torch.float64) / frame.unit @ axes.T
        saddles = None
        if hasattr(inner, "prominence_"):
            saddles = SaddleLevels(inner.prominence_, inner.levels_, inner.n_clusters_by_level_)
        return MeanShiftFit(
            frame,
            frame.out(on_plane.to(X_all.device)),
            inner.cluster_densities_,
            inner.labels_,
            inner.bandwidth_,
            inner.algorithm_,
            inner.merge_,
            inner.engine_,
            inner.n_iter_,
            space.name,
            space.reason,
            space.n_signal,
            multimodal_features=space.features,
            embedding=to_numpy(Z * unit),
            embedding_rows=np.arange(X_all.shape[0]),
            embedding_centers=inner.cluster_centers_,
            saddles=saddles,
        )

    def _lay_out(self, X_c: Tensor, w_fit: Tensor | None, space: Space) -> LayoutFit:
        """The modes of a layout of the neighbor graph (`fit_graph_layout`)."""
        return fit_graph_layout(
            X_c,
            space,
            w_fit,
            prominence=self.prominence,
            min_cluster_size=self.min_cluster_size,
            memory_budget=self.memory_budget,
        )

    def _fit_in_layout(
        self,
        X_all: Tensor,
        X_c: Tensor,
        frame: Frame,
        taking_part: Tensor | None,
        w_fit: Tensor | None,
        space: Space,
        fit: LayoutFit | None = None,
    ) -> MeanShiftFit:
        """Mode seeking in a layout of the neighbor graph (`shiftkit.cluster._spaces`), as QuickShift
        (``fit``: one already made)."""
        fit = self._lay_out(X_c, w_fit, space) if fit is None else fit
        labels = fit.labels
        if taking_part is not None:  # rows of weight 0: as new rows would be
            every = np.empty(X_all.shape[0], dtype=np.int64)
            every[taking_part.cpu().numpy()] = fit.labels
            rest = np.ones(X_all.shape[0], dtype=bool)
            rest[taking_part.cpu().numpy()] = False
            if rest.any():
                G = graph_coordinates(X_all[torch.as_tensor(rest)], fit.model.axes)
                every[rest] = assign(fit.model, G)
            labels = every
        modes = torch.as_tensor(fit.peak_rows, device=X_c.device)
        seeking = fit.seeking
        rows = fit.embedding_rows if taking_part is None else taking_part.cpu().numpy()[fit.embedding_rows]
        return MeanShiftFit(
            frame,
            frame.out(X_c[modes]),
            to_numpy(seeking.density[torch.as_tensor(seeking.peaks)].double()),
            labels,
            seeking.bandwidth,
            "quickshift",
            "saddles",
            "none",
            0,
            space.name,
            space.reason,
            space.n_signal,
            multimodal_features=space.features,
            embedding=fit.embedding,
            embedding_rows=rows,
            embedding_centers=fit.embedding[seeking.peaks],
            saddles=SaddleLevels(seeking.level, seeking.levels, seeking.counts),
        )

    def _fit_constant(
        self, X_all: Tensor, X_c: Tensor, frame: Frame, taking_part: Tensor | None
    ) -> MeanShiftFit:
        """Every sample equal: one cluster at that point, no step (scikit-learn's); ``bandwidth_`` is 0
        when it was to be estimated (there is no scale to estimate)."""
        bandwidth = self._user_bandwidth(0.0, frame)
        labels = torch.zeros(X_all.shape[0], dtype=torch.long)
        if taking_part is not None and not self.cluster_all:  # rows of weight 0 farther than bandwidth_
            sq_dist = (X_all - X_c[0]).double().square().sum(1).cpu()
            labels[sq_dist > (bandwidth / frame.unit) ** 2] = -1
        return MeanShiftFit(
            frame,
            frame.out(X_c[:1]),
            np.array([float(X_c.shape[0])]),
            labels.numpy(),
            bandwidth,
            self.algorithm,
            self._merge_for(),
            "none",
            0,
            "input",
            "every row the same",
        )

    def _check_modes(self, modes: Modes, user_bandwidth: float) -> None:
        """Warn when the loop stopped at ``max_iter``; raise when no seed saw any data."""
        if not modes.converged:
            warnings.warn(
                f"MeanShift did not converge in max_iter={self.max_iter} steps; raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=4,
            )
        if not bool((modes.density > 0).any()):
            raise ValueError(
                f"No point was within bandwidth={user_bandwidth:g} of any "
                "seed. Try a different seeding strategy or increase the bandwidth."
            )

    def _user_bandwidth(self, bandwidth: float, frame: Frame) -> float:
        """The bandwidth as the user gave it, or ``bandwidth`` (the frame's units) in the input's units."""
        given = self.bandwidth is not None and not isinstance(self.bandwidth, str)
        return check_bandwidth(self.bandwidth) if given else bandwidth * frame.unit

    def _graph_seeded(self) -> bool:
        """Whether mean shift starts from the modes of the density graph (`_start`): merged through saddles,
        with ``algorithm='auto'``, no seeds and no bin seeding."""
        return (
            self._merge_for() == "saddles"
            and self.algorithm == "auto"
            and self.seeds is None
            and not self.bin_seeding
        )

    def _merge_for(self) -> str:
        """'saddles' when the bandwidth is the default rule's (None or 'auto') and merge='auto'."""
        if self.merge != "auto":
            return str(self.merge)
        return "saddles" if self.bandwidth in (None, "auto") else "radius"

    def _algorithm_for(self, X_c: Tensor, bandwidth: float, landscape: DensityGraph | None) -> str:
        """The algorithm of ``algorithm='auto'``: standard with seeds (given, binned, or the modes of the
        graph when merging through saddles); binned on large low-dimensional data whose cells hold several
        points each; else blurring."""
        if self.algorithm != "auto":
            return self.algorithm
        if self.seeds is not None or self.bin_seeding or landscape is not None:
            return "standard"
        n, d = X_c.shape
        cell = _seeds.BIN_SIZE * bandwidth
        if n >= BINNED_MIN_POINTS and d <= GRID_MAX_FEATURES and fits(X_c, cell):
            n_cells = bin_means(X_c, X_c.new_ones(n), cell)[1].numel()
            if n >= BINNED_MIN_PER_BIN * n_cells:
                return "binned"
        return "blurring"

    def _start(
        self,
        X_c: Tensor,
        w: Tensor | None,
        w_unit: float,
        frame: Frame,
        bandwidth: float,
        algorithm: str,
        landscape: DensityGraph | None,
    ) -> _seeds.Start:
        """Where the loops start (see `shiftkit.cluster._mean_shift._seeds`)."""
        if algorithm == "blurring":
            return _seeds.blurring(X_c, w)
        if algorithm == "binned":
            return _seeds.binned(X_c, w, frame, bandwidth, self.min_bin_freq / w_unit)
        if self.seeds is not None:
            return _seeds.from_seeds(self.seeds, X_c, w, frame)
        if self.bin_seeding:
            return _seeds.from_bins(X_c, w, frame, bandwidth, self.min_bin_freq / w_unit)
        if self.algorithm == "auto" and landscape is not None:
            return _seeds.from_graph(X_c, w, landscape)
        return _seeds.from_points(X_c, w)

    def _stop(self, X_c: Tensor, bandwidth: float) -> float:
        """The convergence step: ``tol * bandwidth``, but no finer than float rounding of the coordinates."""
        rounding = 8 * torch.finfo(X_c.dtype).eps * float(X_c.abs().max())
        return max(self.tol * bandwidth, rounding)

    def _step_hook(self, frame: Frame, bandwidth: float, history: list[np.ndarray] | None) -> OnStep | None:
        """The loops' per-step hook: history, callback and verbose lines; None when none is asked for."""
        if history is None and self.callback is None and not self.verbose:
            return None
        callback = self.callback

        def on_step(iteration: int, Y: Tensor, largest_move: float, n_moving: int) -> None:
            positions = frame.out(Y)
            if history is not None:
                history.append(positions)
            if callback is not None:
                callback(
                    MeanShiftStep(
                        iteration, positions, largest_move * frame.unit, n_moving, bandwidth * frame.unit
                    )
                )
            if self.verbose:
                print(
                    f"MeanShift step {iteration}: largest move {largest_move * frame.unit:.4g} "
                    f"({largest_move / bandwidth:.3g} bandwidths), {n_moving} points moving",
                    file=sys.stderr,
                )

        return on_step

    def _bandwidth_for(self, X: Tensor, w: Tensor | None, kernel: Kernel, scale: float) -> float:
        """The bandwidth in the frame's units (the input's divided by ``scale``): given, or estimated."""
        finest = 8 * torch.finfo(X.dtype).eps * float(X.abs().max())  # the coordinates' rounding
        if self.bandwidth is not None and not isinstance(self.bandwidth, str):
            given = check_bandwidth(self.bandwidth)
            bandwidth = given / scale
            if not bandwidth > finest:
                raise ValueError(
                    f"bandwidth={given:g} is below what {str(X.dtype).removeprefix('torch.')} resolves in "
                    f"data spread over {float(X.abs().max()) * scale:.3g} (about {finest * scale:.3g}); "
                    + (
                        "pass a larger bandwidth or dtype='float64'"
                        if X.dtype == torch.float32
                        else "pass a larger bandwidth"
                    )
                )
            # beyond a million times the data's extent every kernel is flat over the data: clamp, so that
            # bandwidth ** 2 neither overflows nor differs in effect
            return min(bandwidth, 1e6 * (2 * float(X.abs().max()) + 1))
        if X.shape[0] < 2:
            raise ValueError(
                f"estimating the bandwidth needs at least 2 samples, got n_samples = {X.shape[0]}; "
                "pass bandwidth=..."
            )
        rule = self.bandwidth or "auto"
        bandwidth = select_bandwidth(X, rule, kernel=kernel, sample_weight=w)
        if not bandwidth > finest:  # most samples coincide: the scale of the gaps between distinct ones
            gap = mean_gap_to_distinct(X, sample_weight=w)
            if rule in ("sklearn", "quantile"):
                # scikit-learn's zero bandwidth: every distinct value its own mode (below the gaps)
                bandwidth = gap * (0.5 if kernel.compact else 0.25)
            else:
                bandwidth = gap * kernel.gaussian_equivalent_radius(X.shape[1])
        return bandwidth

    def _labels(
        self,
        X: Tensor,
        centers_c: Tensor,
        bandwidth: float,
        fit_labels: Tensor,
        taking_part: Tensor | None,
        assign: str,
    ) -> Tensor:
        """The cluster of each row of ``X``: ``fit_labels`` (one per row taking part, -1: none) where
        ``assign='mode'`` gives one, else the nearest center."""
        every_row_has_a_mode = taking_part is None and bool((fit_labels >= 0).all())
        if assign == "mode" and every_row_has_a_mode:
            return fit_labels  # no center distances needed
        closest, sq_dist = nearest(X, centers_c, self.memory_budget)  # (n,), (n,)
        if not self.cluster_all:
            closest = torch.where(sq_dist <= bandwidth**2, closest, -1)
        if assign == "nearest":
            return closest
        labels = closest.clone()
        rows = torch.arange(X.shape[0], device=X.device) if taking_part is None else taking_part
        labels[rows] = torch.where(fit_labels >= 0, fit_labels, closest[rows])
        return labels

    def predict(self, X: Any) -> np.ndarray:
        """The nearest cluster center of each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        frame: Frame = self._frame
        # in float64 in the fit's frame: queries far beyond the data (1e30) neither overflow nor tie
        Q = frame.to(self._validate_X(X, reset=False, dtype=torch.float64), torch.float64)
        centers = frame.to(torch.as_tensor(self.cluster_centers_), torch.float64)
        return to_numpy(nearest_far(Q, centers, self.memory_budget))


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
    >>> centers, labels = mean_shift([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0]], bandwidth=1.0)
    >>> labels.tolist()
    [0, 0, 1]
    """
    estimator = MeanShift(**params).fit(X, sample_weight=sample_weight)
    return estimator.cluster_centers_, estimator.labels_


def _cluster_at(X: Tensor, sample_weight: Tensor, bandwidth: float) -> np.ndarray:
    """The labels of the default `MeanShift` at ``bandwidth`` (for the 'stability' rule)."""
    return MeanShift(bandwidth=bandwidth).fit(X, sample_weight=sample_weight).labels_


def select_bandwidth(
    X: Any,
    rule: str = "auto",
    *,
    kernel: str | Kernel = "gaussian",
    sample_weight: Any = None,
    random_state: int | None = 0,
) -> float:
    """A mean-shift bandwidth for ``X`` by one of `BANDWIDTH_RULES`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    rule : str, default='auto'
        ``'auto'``: the local scale (`shiftkit.bandwidth.local_bandwidth`, the
        mean distance to the 10th nearest neighbor), the default of
        `MeanShift` and `QuickShift`, which then merge modes through saddles;
        ``'quantile'``: `estimate_bandwidth` at quantile 0.05; ``'scott'``,
        ``'silverman'``: the density-estimation rules;
        ``'sklearn'``: `estimate_bandwidth` at quantile 0.3, scikit-learn's
        default, used as it is for every kernel (scikit-learn's flat radius);
        ``'stability'``: the middle of the widest range of bandwidths
        giving the same number of clusters (runs mean shift 16 times on a
        1,000-row subsample).
    kernel : str or Kernel, default='gaussian'
        The rules (except ``'sklearn'``) give a Gaussian's standard
        deviation; for a compact kernel the result is scaled to the support
        radius of the same spread (`Kernel.gaussian_equivalent_radius`).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights, read as counts: a weight of k counts as k rows
        (weights summing to 1 are one row). `MeanShift` reads them as shares of
        its rows instead (scaled to sum to the rows with a weight above 0).
    random_state : int or None, default=0
        Seed of the subsamples.

    Returns
    -------
    bandwidth : float

    Examples
    --------
    >>> from shiftkit import select_bandwidth
    >>> from shiftkit.datasets import make_lesson_blobs
    >>> round(select_bandwidth(make_lesson_blobs()[0]), 2)
    1.11
    """
    return choose_bandwidth(
        X, rule, kernel=kernel, cluster=_cluster_at, sample_weight=sample_weight, random_state=random_state
    )
