"""Choosing mean shift's bandwidth: the data-only rules of `shiftkit.bandwidth`, and 'stability'.

'stability' clusters a subsample at a range of bandwidths, so it needs a
clustering: the estimator passes one in (``cluster``), and this module imports
no estimator (no import cycle).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from torch import Tensor

from shiftkit.bandwidth import DATA_RULES, checked_subsample, estimate_bandwidth
from shiftkit.kernels import get_kernel

__all__ = ["BANDWIDTH_RULES", "choose_bandwidth", "stability_bandwidth"]

# cluster(X, sample_weight, bandwidth) -> labels
Clusterer = Callable[[Tensor, Tensor, float], np.ndarray]

BANDWIDTH_RULES: tuple[str, ...] = (*DATA_RULES, "stability")


def stability_bandwidth(
    X: Any,
    *,
    cluster: Clusterer,
    sample_weight: Any = None,
    random_state: int | None = 0,
    n_grid: int = 16,
    n_samples: int = 1000,
) -> float:
    """The middle of the widest range of bandwidths over which the number of clusters stays the same.

    Clusters the subsample (with ``cluster``) at ``n_grid`` bandwidths,
    geometrically spaced from the quantile-0.01 to the quantile-0.3 rule, and
    counts clusters holding at least 2% of it. The longest run of equal counts
    of 2 or more, at least 3 bandwidths long, wins (else the longest run of any
    count); its geometric middle is returned.
    """
    X_t, w = checked_subsample(X, sample_weight, n_samples, random_state)
    hi = estimate_bandwidth(X_t, quantile=0.3, n_samples=None, sample_weight=w)
    if hi == 0:
        return 0.0
    lo = max(estimate_bandwidth(X_t, quantile=0.01, n_samples=None, sample_weight=w), 1e-3 * hi)
    grid = np.geomspace(lo, hi, n_grid)
    floor = max(2.0, 0.02 * float(w.sum()))
    counts = []
    for h in grid:
        with warnings.catch_warnings():  # the smallest bandwidths may not converge; only counts matter
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = cluster(X_t, w, float(h))
        sizes = np.bincount(labels, weights=w.numpy())
        counts.append(int((sizes >= floor).sum()))
    best, start = None, 0
    for i in range(1, n_grid + 1):
        if i == n_grid or counts[i] != counts[start]:
            length = i - start
            key = (counts[start] >= 1, counts[start] >= 2 and length >= 3, length)
            if best is None or key > best[0]:
                best = (key, start, i - 1)
            start = i
    assert best is not None
    _, first, last = best
    return float(np.sqrt(grid[first] * grid[last]))


def resolve_rule(rule: Any) -> str:
    """The rule's name, checked: ValueError for an unknown one."""
    if not isinstance(rule, str) or rule not in BANDWIDTH_RULES:
        raise ValueError(f"unknown bandwidth rule {rule!r}; choose one of {sorted(BANDWIDTH_RULES)}")
    return rule


def choose_bandwidth(
    X: Any,
    rule: str,
    *,
    kernel: Any,
    cluster: Clusterer,
    sample_weight: Any = None,
    random_state: int | None = 0,
) -> float:
    """The bandwidth of ``rule`` for ``X``, as the support radius of the same spread for a compact kernel.

    ``'sklearn'`` is the exception: scikit-learn's estimate, used as it is (the
    radius of scikit-learn's flat kernel), so that ``kernel='flat'`` with it is
    scikit-learn's MeanShift with ``bandwidth=None``.
    """
    rule = resolve_rule(rule)
    n_features = X.shape[1] if isinstance(X, Tensor) else np.shape(X)[1]
    scale = 1.0 if rule == "sklearn" else get_kernel(kernel).gaussian_equivalent_radius(n_features)
    if rule == "stability":
        value = stability_bandwidth(
            X, cluster=cluster, sample_weight=sample_weight, random_state=random_state
        )
    else:
        value = DATA_RULES[rule](X, sample_weight=sample_weight, random_state=random_state)
    return scale * float(value)
