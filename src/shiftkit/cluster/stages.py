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
  loop), `merge_modes`, `BIN_SIZE` (the binned summary's cells), and the
  result: `MeanShiftFit`, written as the fitted attributes by `store` (the one
  writer, for one machine and for Dask);
- a mean shift fitted elsewhere: `plan_mean_shift` (its `MeanShiftPlan`: kernel,
  merge, dtype, the user's bandwidth, the step hook, the modes' check);
- k-means: `assign` and `inertia` (Lloyd's two halves), `kmeans_plusplus_indices`,
  `KMEANS_PARAMETER_RULES`, `kmeans_prepare`, `kmeans_initial_centers`, `kmeans_store`;
- DBSCAN: `dbscan_store`.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit.cluster._base import Frame, centered, cpu_threads
from shiftkit.cluster._dbscan import DBSCAN
from shiftkit.cluster._kmeans._estimator import PARAMETER_RULES as KMEANS_PARAMETER_RULES
from shiftkit.cluster._kmeans._estimator import KMeans
from shiftkit.cluster._kmeans._init import kmeans_plusplus_indices
from shiftkit.cluster._kmeans._lloyd import assign, inertia
from shiftkit.cluster._mean_shift._estimator import MeanShift
from shiftkit.cluster._mean_shift._loops import LoopSettings, Stepper, climb
from shiftkit.cluster._mean_shift._modes import merge_modes
from shiftkit.cluster._mean_shift._result import MeanShiftFit, store
from shiftkit.cluster._mean_shift._seeds import BIN_SIZE
from shiftkit.kernels import Kernel

__all__ = [
    "BIN_SIZE",
    "KMEANS_PARAMETER_RULES",
    "Frame",
    "LoopSettings",
    "MeanShiftFit",
    "MeanShiftPlan",
    "Stepper",
    "assign",
    "centered",
    "climb",
    "compute_dtype",
    "cpu_threads",
    "dbscan_store",
    "fit_stepping",
    "inertia",
    "kmeans_initial_centers",
    "kmeans_plusplus_indices",
    "kmeans_prepare",
    "kmeans_store",
    "merge_modes",
    "plan_mean_shift",
    "store",
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
