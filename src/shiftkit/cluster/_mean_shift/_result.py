"""What a mean-shift fit found: one result object, written as the fitted attributes by one `store`.

Every way of fitting (the input space, the principal axes, a graph layout, every row the same, and
`shiftkit.distributed`'s fit over files) ends in a `MeanShiftFit`; `store` is the only writer of the
attributes ending in ``_``, and it removes those a fit does not have (a saddle merge's levels, the
history), so that a second fit never shows what the first one found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shiftkit.cluster._base import Frame

__all__ = ["MeanShiftFit", "SaddleLevels", "store"]

# what only some fits have (a saddle merge's levels, the history, a front end's records): removed before a
# fit is written, so that a second fit never shows what the first one found
OPTIONAL = ("prominence_", "levels_", "n_clusters_by_level_", "history_", "traffic_", "most_rows_held_")


@dataclass(frozen=True)
class SaddleLevels:
    """The saddle merge's level and its sweep."""

    prominence: float
    levels: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class MeanShiftFit:
    """The fitted values, in the input's units (see `MeanShift`'s attributes)."""

    frame: Frame
    cluster_centers: np.ndarray
    cluster_densities: np.ndarray
    labels: np.ndarray
    bandwidth: float
    algorithm: str
    merge: str
    engine: str
    n_iter: int
    space: str = "input"
    space_reason: str = ""
    n_signal_features: int | None = None
    multimodal_features: tuple[int, ...] | None = None
    embedding: np.ndarray | None = None
    embedding_rows: np.ndarray | None = None
    embedding_centers: np.ndarray | None = None
    saddles: SaddleLevels | None = None
    history: list[np.ndarray] | None = None
    n_features_in: int | None = None  # set here only where no validation of X set it (files)
    extra: dict[str, Any] = field(default_factory=dict)  # a front end's own records (Dask's traffic)


def store(estimator: Any, fit: MeanShiftFit) -> Any:
    """Write ``fit`` as ``estimator``'s fitted attributes (and nothing else does); returns it."""
    for name in OPTIONAL:
        if hasattr(estimator, name):
            delattr(estimator, name)
    if fit.n_features_in is not None:
        estimator.n_features_in_ = fit.n_features_in
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    estimator._frame = fit.frame
    estimator.cluster_centers_ = fit.cluster_centers
    estimator.cluster_densities_ = fit.cluster_densities
    estimator.labels_ = fit.labels
    estimator.bandwidth_ = fit.bandwidth
    estimator.algorithm_ = fit.algorithm
    estimator.merge_ = fit.merge
    estimator.engine_ = fit.engine
    estimator.n_iter_ = fit.n_iter
    estimator.space_, estimator.space_reason_ = fit.space, fit.space_reason
    estimator.n_signal_features_ = fit.n_signal_features
    features = fit.multimodal_features
    estimator.multimodal_features_ = None if features is None else np.asarray(features, dtype=np.int64)
    estimator.embedding_ = fit.embedding
    estimator.embedding_rows_ = fit.embedding_rows
    estimator.embedding_centers_ = fit.embedding_centers
    if fit.saddles is not None:
        estimator.prominence_ = fit.saddles.prominence
        estimator.levels_, estimator.n_clusters_by_level_ = fit.saddles.levels, fit.saddles.counts
    if fit.history is not None:
        estimator.history_ = fit.history
    for name, value in fit.extra.items():
        setattr(estimator, name, value)
    return estimator
