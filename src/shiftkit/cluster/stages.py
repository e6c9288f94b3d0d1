"""The estimators' stages, for a second front end: what `shiftkit.distributed` calls.

A documented internal module (its names follow the estimators and may change with
them; users call the estimators). A front end supplies where the data are and
who does the heavy step; the stages are the estimators' own, so that a fit on
Dask is the fit on one machine, and no front end imports a private module of
`shiftkit.cluster` (an import-linter contract, ``make lint``):

- the frame: `Frame` (float64 centring and scaling), `centered` (a block in a
  frame's coordinates), `cpu_threads`, `compute_dtype`;
- mean shift: `fit_stepping` (a `MeanShift` fit whose steps a `Stepper` runs),
  `LoopSettings` (whose ``stepper`` runs the loop's steps) and `climb` (the
  loop), `merge_modes`, `BIN_SIZE` (the binned summary's cells), the start from cells
  counted or summed elsewhere (`seeds_from_bins`, `seeds_over_summary`: one machine's
  seeding rules, given the merged cells), and the
  result: `MeanShiftFit`, written as the fitted attributes by `store` (the one
  writer, for one machine and for Dask);
- a mean shift fitted elsewhere: `plan_mean_shift` (its `MeanShiftPlan`: kernel,
  merge, dtype, the user's bandwidth, the step hook, the modes' check);
- k-means: `assign` and `inertia` (Lloyd's two halves), `kmeans_plusplus_indices`,
  `KMEANS_PARAMETER_RULES`, `kmeans_prepare`, `kmeans_initial_centers`, `kmeans_store`;
- DBSCAN: `dbscan_store`;
- QuickShift in the input space, by slabs: `plan_quick_shift` (its `QuickShiftPlan`), the
  rows in content order (`distinct_rows`), the density (`density_at`; `density_pays`: whether
  one machine sums it by cells too), the graph (`make_index`, `neighbors_for`), the climb
  (`climb_steps`, `follow`), the saddles (`edges_between_basins`, `join_by_saddles`, `ModeTree`,
  `merge_tree`) and the result, written by `quick_shift_store`.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit._rows import distinct_rows
from shiftkit._shift._grid import density_pays, support_of
from shiftkit._validation import check_bandwidth, check_params
from shiftkit.cluster._base import Frame, centered, cpu_threads
from shiftkit.cluster._cuts import CUT_FRACTION
from shiftkit.cluster._dbscan import DBSCAN
from shiftkit.cluster._kmeans._estimator import PARAMETER_RULES as KMEANS_PARAMETER_RULES
from shiftkit.cluster._kmeans._estimator import KMeans
from shiftkit.cluster._kmeans._init import kmeans_plusplus_indices
from shiftkit.cluster._kmeans._lloyd import assign, inertia
from shiftkit.cluster._mean_shift._estimator import MeanShift
from shiftkit.cluster._mean_shift._loops import LoopSettings, Stepper, climb
from shiftkit.cluster._mean_shift._modes import merge_modes
from shiftkit.cluster._mean_shift._result import MeanShiftFit, store
from shiftkit.cluster._mean_shift._seeds import BIN_SIZE, seeds_from_bins, seeds_over_summary
from shiftkit.cluster._mode_seeking import NEIGHBORS, ModeSeeking
from shiftkit.cluster._quick_shift import PARAMETER_RULES as QUICKSHIFT_PARAMETER_RULES
from shiftkit.cluster._quick_shift import QuickShift, QuickShiftFit, _Fitted, density_at, layout_result
from shiftkit.cluster._saddles import (
    LOW_LEVELS_MAX_FEATURES,
    MIN_GAP_POINTS,
    ModeTree,
    TreeMerge,
    climb_steps,
    density_noise,
    edges_between_basins,
    follow,
    join_by_saddles,
    merge_tree,
)
from shiftkit.cluster._spaces import (
    ASSIGN_NEIGHBORS,
    AXES_MAX_ROWS,
    GRAPH_NEIGHBORS,
    INPUT_MAX_FEATURES,
    LAYOUT_DIM,
    LAYOUT_SEEK_NEIGHBORS,
    LAYOUT_STAGES,
    LayoutFit,
    LayoutModel,
    Space,
    choose_space,
    graph_axes,
    graph_coordinates,
    input_min_size,
    lay_out,
    layout_size,
    nearest_laid_out,
    seek_in_layout,
    space_of_rows,
    spread_reason,
    vote,
)
from shiftkit.kernels import Kernel
from shiftkit.neighbors import GRAPH_LEAST_NEIGHBORS, make_index, neighbors_for

__all__ = [
    "ASSIGN_NEIGHBORS",
    "AXES_MAX_ROWS",
    "BIN_SIZE",
    "CUT_FRACTION",
    "GRAPH_LEAST_NEIGHBORS",
    "GRAPH_NEIGHBORS",
    "INPUT_MAX_FEATURES",
    "KMEANS_PARAMETER_RULES",
    "LAYOUT_DIM",
    "LAYOUT_SEEK_NEIGHBORS",
    "LAYOUT_STAGES",
    "LOW_LEVELS_MAX_FEATURES",
    "MIN_GAP_POINTS",
    "NEIGHBORS",
    "Frame",
    "LayoutFit",
    "LayoutModel",
    "LoopSettings",
    "MeanShiftFit",
    "MeanShiftPlan",
    "ModeTree",
    "QuickShiftPlan",
    "Stepper",
    "TreeMerge",
    "assign",
    "centered",
    "climb",
    "climb_steps",
    "compute_dtype",
    "cpu_threads",
    "dbscan_store",
    "density_at",
    "density_noise",
    "density_pays",
    "distinct_rows",
    "edges_between_basins",
    "fit_stepping",
    "follow",
    "graph_axes",
    "graph_coordinates",
    "inertia",
    "input_min_size",
    "join_by_saddles",
    "kmeans_initial_centers",
    "kmeans_plusplus_indices",
    "kmeans_prepare",
    "kmeans_store",
    "lay_out",
    "layout_size",
    "make_index",
    "merge_modes",
    "merge_tree",
    "nearest_laid_out",
    "neighbors_for",
    "plan_mean_shift",
    "plan_quick_shift",
    "quick_shift_layout_store",
    "quick_shift_sought",
    "quick_shift_store",
    "seeds_from_bins",
    "seeds_over_summary",
    "seek_in_layout",
    "space_of_rows",
    "spread_reason",
    "store",
    "support_of",
    "vote",
]


def fit_stepping(estimator: MeanShift, X: Any, sample_weight: Any, stepper: Stepper) -> MeanShift:
    """``estimator.fit(X, sample_weight=sample_weight)`` with every mean-shift step run by ``stepper``
    (the stepper an argument of the fit, not a setting of the process)."""
    return estimator._fit_stepping(X, sample_weight, stepper)


@dataclass(frozen=True)
class MeanShiftPlan:
    """What a front end asks of a `MeanShift` it fits elsewhere (`plan_mean_shift`): the kernel and merge
    it runs, and the rules one machine applies, so that the front end applies the same ones."""

    estimator: MeanShift
    kernel: Kernel
    merge: str

    def compute_dtype(self, input_dtype: torch.dtype) -> torch.dtype:
        """The dtype the fit computes in (the estimator's ``dtype``; None: ``input_dtype``)."""
        return compute_dtype(self.estimator, input_dtype)

    def user_bandwidth(self, bandwidth: float, frame: Frame) -> float:
        """The bandwidth given, or ``bandwidth`` (the frame's units) in the input's units."""
        return self.estimator._user_bandwidth(bandwidth, frame)

    def step_hook(self, frame: Frame, bandwidth: float, history: list[np.ndarray] | None) -> Any:
        """The loop's per-step hook (history, callback, verbose), or None."""
        return self.estimator._step_hook(frame, bandwidth, history)

    def check_modes(self, modes: Any, user_bandwidth: float) -> None:
        """Warn when the loop hit ``max_iter``; raise when no seed saw any data."""
        self.estimator._check_modes(modes, user_bandwidth)


def compute_dtype(estimator: Any, input_dtype: torch.dtype) -> torch.dtype:
    """The dtype an estimator computes in: its ``dtype``; None: ``input_dtype``."""
    return estimator._compute_dtype(input_dtype)


def plan_mean_shift(estimator: MeanShift) -> MeanShiftPlan:
    """``estimator``'s parameters checked, and its `MeanShiftPlan`."""
    kernel = estimator._check_params()
    return MeanShiftPlan(estimator, kernel, estimator._merge_for())


def kmeans_prepare(estimator: KMeans, X: Any, sample_weight: Any) -> Any:
    """`KMeans`'s checked input: the framed rows, the frame, the weights, the tolerance, the init."""
    return estimator._prepare(X, sample_weight)


def kmeans_initial_centers(estimator: KMeans, *args: Any) -> Tensor:
    """`KMeans`'s initial centers on the data where ``fit`` is called (k-means++, random, given)."""
    return estimator._initial_centers(*args)


def kmeans_store(estimator: KMeans, *args: Any) -> KMeans:
    """`KMeans`'s one writer of the fitted attributes."""
    return estimator._store_fit(*args)


def dbscan_store(estimator: DBSCAN, *args: Any, **kwargs: Any) -> DBSCAN:
    """`DBSCAN`'s one writer of the fitted attributes."""
    return estimator._store_fit(*args, **kwargs)


@dataclass(frozen=True)
class QuickShiftPlan:
    """A `QuickShift` fitted elsewhere, in the input space (`plan_quick_shift`): its parameters checked,
    the least cluster as the fit takes it, and the space with the reason one machine gives."""

    space: Space
    bandwidth: float | None  # the user's, in the input's units
    n_neighbors: int | None
    prominence: float | None
    min_cluster_size: float | None  # the estimator's (None: `input_min_size`'s default)
    cluster_all: bool
    memory_budget: int


def quick_shift_sought(estimator: QuickShift, n_features: int) -> str:
    """Where a fit of ``estimator`` on data of ``n_features`` features seeks the modes, as one machine
    decides before it looks at the data: 'input' (a bandwidth or a neighbor count given with
    ``space='auto'``, or at most `INPUT_MAX_FEATURES` features), else the space requested ('auto' is then
    chosen from the data, `space_of_rows`). The parameters are checked."""
    check_params(estimator, QUICKSHIFT_PARAMETER_RULES)
    if estimator.bandwidth is not None:
        check_bandwidth(estimator.bandwidth)
    tuned = estimator.bandwidth is not None or estimator.n_neighbors is not None
    requested = "input" if tuned and estimator.space == "auto" else str(estimator.space)
    if requested == "auto" and n_features <= INPUT_MAX_FEATURES:
        return "input"
    return requested


def quick_shift_layout_store(
    estimator: QuickShift, frame: Frame, space: Space, fit: LayoutFit, centers: np.ndarray, n_features: int
) -> QuickShift:
    """`QuickShift`'s one writer of the fitted attributes, for a fit in a graph layout made elsewhere
    (``fit``, the rows' labels and densities None where they stayed on the workers): ``centers`` are the
    input rows at the modes. ``predict`` works as after a fit here (the laid-out rows are in ``fit``)."""
    estimator.n_features_in_ = n_features
    return estimator._store(layout_result(frame, space, fit), centers, space)


def plan_quick_shift(estimator: QuickShift, n_features: int) -> QuickShiftPlan:
    """``estimator``'s parameters checked for a fit in the input space of ``n_features`` features; a
    ValueError where one machine would seek the modes elsewhere (more than four features)."""
    check_params(estimator, QUICKSHIFT_PARAMETER_RULES)
    if estimator.bandwidth is not None:
        check_bandwidth(estimator.bandwidth)
    tuned = estimator.bandwidth is not None or estimator.n_neighbors is not None
    requested = "input" if tuned and estimator.space == "auto" else estimator.space
    if requested not in ("auto", "input") or (requested == "auto" and n_features > 4):
        raise ValueError(
            f"QuickShift on Dask seeks the modes in the input space (space='input', or 'auto' with at most "
            f"4 features) or in a graph layout (space='graph-layout', or 'auto' where the data choose one); "
            f"got space={estimator.space!r} with {n_features} features"
        )
    space = choose_space(torch.zeros((2, n_features)), requested)  # the input space: only the shape is read
    return QuickShiftPlan(
        space,
        None if estimator.bandwidth is None else float(estimator.bandwidth),
        estimator.n_neighbors,
        estimator.prominence,
        estimator.min_cluster_size,
        bool(estimator.cluster_all),
        int(estimator.memory_budget),
    )


def quick_shift_store(
    estimator: QuickShift,
    plan: QuickShiftPlan,
    frame: Frame,
    merged: TreeMerge,
    *,
    labels: np.ndarray,
    density: np.ndarray,
    centers: np.ndarray,
    top_densities: Tensor,
    bandwidth: float,
    n_neighbors: int,
    n_features: int,
) -> QuickShift:
    """`QuickShift`'s one writer of the fitted attributes, for a fit made elsewhere: the labels and
    densities of the rows, the input rows at the clusters' modes (``centers``) and their densities, the
    bandwidth in the frame's units. Its rows stayed where they were: ``predict`` is not available."""
    seeking = ModeSeeking(
        labels,
        np.arange(len(merged.tops), dtype=np.int64),
        top_densities,
        float(bandwidth),
        merged.level,
        merged.levels,
        merged.counts,
        None,
        int(n_neighbors),
        merged.core_levels,
    )
    model = _Fitted(frame, plan.space, None, None, None, None, None, None, merged.core_levels)
    fit = QuickShiftFit(np.zeros(0, np.int64), labels, density, seeking, frame.unit, None, None, None, model)
    estimator.n_features_in_ = n_features
    return estimator._store(fit, centers, plan.space)
