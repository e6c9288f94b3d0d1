"""The estimators' stages, for a second front end: what `shiftkit.distributed` calls.

A documented internal module (its names follow the estimators and may change with
them; users call the estimators). A front end supplies where the data are and
who does the heavy step; the stages are the estimators' own, so that a fit on
Dask is the fit on one machine, and no front end imports a private module of
`shiftkit.cluster` (an import-linter contract, ``make lint``):

- the frame: `Frame` (float64 centring and scaling), `centered` (a block in a
  frame's coordinates), `cpu_threads`;
- mean shift: `fit_stepping` (a `MeanShift` fit whose steps a `Stepper` runs),
  `LoopSettings` (whose ``stepper`` runs the loop's steps) and `climb` (the
  loop), `merge_modes`, `BIN_SIZE` (the binned summary's cells), and the
  result: `MeanShiftFit`, written as the fitted attributes by `store` (the one
  writer, for one machine and for Dask);
- k-means: `assign` and `inertia` (Lloyd's two halves), `kmeans_plusplus_indices`,
  `KMEANS_PARAMETER_RULES`.
"""

from typing import Any

from shiftkit.cluster._base import Frame, centered, cpu_threads
from shiftkit.cluster._kmeans._estimator import PARAMETER_RULES as KMEANS_PARAMETER_RULES
from shiftkit.cluster._kmeans._init import kmeans_plusplus_indices
from shiftkit.cluster._kmeans._lloyd import assign, inertia
from shiftkit.cluster._mean_shift._estimator import MeanShift
from shiftkit.cluster._mean_shift._loops import LoopSettings, Stepper, climb
from shiftkit.cluster._mean_shift._modes import merge_modes
from shiftkit.cluster._mean_shift._result import MeanShiftFit, store
from shiftkit.cluster._mean_shift._seeds import BIN_SIZE

__all__ = [
    "BIN_SIZE",
    "KMEANS_PARAMETER_RULES",
    "Frame",
    "LoopSettings",
    "MeanShiftFit",
    "Stepper",
    "assign",
    "centered",
    "climb",
    "cpu_threads",
    "fit_stepping",
    "inertia",
    "kmeans_plusplus_indices",
    "merge_modes",
    "store",
]


def fit_stepping(estimator: MeanShift, X: Any, sample_weight: Any, stepper: Stepper) -> MeanShift:
    """``estimator.fit(X, sample_weight=sample_weight)`` with every mean-shift step run by ``stepper``
    (the stepper an argument of the fit, not a setting of the process)."""
    return estimator._fit_stepping(X, sample_weight, stepper)
