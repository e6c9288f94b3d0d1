"""Choosing the bandwidth from the data.

`estimate_bandwidth` is scikit-learn's rule: the mean, over the samples, of the
distance to their k-th nearest neighbour, k a quantile of the number of
samples. It runs on a random subsample of at most ``n_samples`` rows, so its
cost is bounded by ``n_samples^2`` distance evaluations whatever the size of
the data, and it honours sample weights exactly (integer weights give the
same bandwidth as repeated rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit._array import as_tensor, check_weights
from shiftkit._shift._dense import rows_per_chunk, sq_distances

__all__ = ["estimate_bandwidth"]

_MEMORY_BUDGET = 64 * 2**20


def _kth_neighbour_distance(X: Tensor, w: Tensor, k: float) -> Tensor:
    """For each row, the distance at which the weight of the rows within reach first attains ``k``."""
    rows = rows_per_chunk(X.shape[0], X.shape[1] + 2, X.element_size(), _MEMORY_BUDGET)
    out = []
    for start in range(0, X.shape[0], rows):
        D_ij, order = sq_distances(X[start : start + rows], X).sort(dim=1)  # (b, n)
        reached = torch.cumsum(w[order], dim=1) >= k * (1 - 1e-9)  # (b, n)
        first = reached.to(torch.int8).argmax(dim=1)  # (b,)
        out.append(D_ij.gather(1, first[:, None])[:, 0].sqrt())
    return torch.cat(out)


def _checked_subsample(
    X: Any, sample_weight: Any, n_samples: int | None, random_state: int | None
) -> tuple[Tensor, Tensor]:
    """Rows of positive weight, at most ``n_samples`` of them drawn at random, as float64 on the CPU."""
    if n_samples is not None and (not isinstance(n_samples, (int, np.integer)) or n_samples < 1):
        raise ValueError(f"n_samples must be a positive integer or None, got {n_samples!r}")
    X_t = as_tensor(X, dtype=torch.float64, device="cpu")
    w = check_weights(sample_weight, X_t.shape[0], dtype=torch.float64, device=X_t.device)
    if w is None:
        w = torch.ones(X_t.shape[0], dtype=torch.float64)
    keep = w > 0
    X_t, w = X_t[keep], w[keep]
    if n_samples is not None and X_t.shape[0] > n_samples:
        idx = np.random.default_rng(random_state).choice(X_t.shape[0], n_samples, replace=False)
        X_t, w = X_t[idx], w[idx]
    return X_t, w


def mean_gap_to_distinct(
    X: Any, *, n_samples: int | None = 2000, random_state: int | None = 0, sample_weight: Any = None
) -> float:
    """The (weighted) mean distance from each row to the nearest row that differs from it.

    The fallback scale when `estimate_bandwidth` gives 0 because many rows
    coincide; 0.0 only when all rows are equal.
    """
    X_t, w = _checked_subsample(X, sample_weight, n_samples, random_state)
    gap = []
    rows = rows_per_chunk(X_t.shape[0], X_t.shape[1], X_t.element_size(), _MEMORY_BUDGET)
    for start in range(0, X_t.shape[0], rows):
        D_ij = sq_distances(X_t[start : start + rows], X_t)  # (b, n)
        gap.append(torch.where(D_ij > 0, D_ij, torch.inf).amin(1).sqrt())
    g_i = torch.cat(gap)
    has_gap = torch.isfinite(g_i)
    if not bool(has_gap.any()):
        return 0.0
    return float((w[has_gap] * g_i[has_gap]).sum() / w[has_gap].sum())


def estimate_bandwidth(
    X: Any,
    *,
    quantile: float = 0.3,
    n_samples: int | None = 2000,
    random_state: int | None = 0,
    sample_weight: Any = None,
) -> float:
    """Estimate a mean-shift bandwidth as scikit-learn does, on a bounded subsample.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    quantile : float, default=0.3
        Which neighbour counts: the k-th, ``k = max(1, int(quantile * n))``
        (the sample itself is its first neighbour). Must be in (0, 1].
    n_samples : int or None, default=2000
        Size of the random subsample the rule runs on; None uses every row
        (quadratic cost). With ``n_samples >= len(X)`` the result equals
        scikit-learn's ``estimate_bandwidth(X, quantile=quantile)``.
    random_state : int or None, default=0
        Seed of the subsample.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights: a row of weight 3 counts as three rows.

    Returns
    -------
    bandwidth : float
        0.0 when at least a ``quantile`` of the (weighted) rows coincide with
        each row, e.g. for a single sample.

    Examples
    --------
    >>> from shiftkit import estimate_bandwidth
    >>> round(estimate_bandwidth([[0.0], [1.0], [2.0], [10.0]], quantile=0.5), 3)
    2.75
    """
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {quantile!r}")
    X_t, w = _checked_subsample(X, sample_weight, n_samples, random_state)
    k = max(1, int(float(w.sum()) * quantile))
    r_i = _kth_neighbour_distance(X_t, w, k)  # (n,)
    return float((w * r_i).sum() / w.sum())
