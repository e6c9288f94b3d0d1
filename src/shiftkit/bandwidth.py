"""Bandwidth rules that look at the data only (the cluster layer adds one that clusters).

`estimate_bandwidth` is scikit-learn's rule: the mean, over the samples, of the
distance to their k-th nearest neighbor, k a quantile of the number of
samples. It runs on a random subsample of at most ``n_samples`` rows, so its
cost is bounded by ``n_samples^2`` distance evaluations whatever the size of
the data, and it honours sample weights exactly (integer weights give the
same bandwidth as repeated rows).

`local_bandwidth` is the default ('auto'): the local scale of the data, small
enough that no two clusters share a mode; the estimators then merge modes
through their saddles (`shiftkit.cluster`). `scott_bandwidth` and
`silverman_bandwidth` are the density-estimation rules. `DATA_RULES` names
them for `shiftkit.select_bandwidth`, which adds ``'stability'`` (it runs mean
shift, so it lives with the estimator: this module never imports
`shiftkit.cluster`). The rules are compared in ``benchmarks/bench_bandwidth.py``.
Every rule is sub-quadratic: the neighbor rules run on a bounded subsample,
Scott's and Silverman's are O(n d).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit._array import as_tensor
from shiftkit._ops import row_chunks, rows_per_chunk, sq_distances
from shiftkit._validation import check_weights
from shiftkit.neighbors import make_index, neighbors_for

__all__ = [
    "DATA_RULES",
    "estimate_bandwidth",
    "local_bandwidth",
    "mean_gap_to_distinct",
    "scott_bandwidth",
    "silverman_bandwidth",
]

_MEMORY_BUDGET = 64 * 2**20


def _kth_neighbor_distance(X: Tensor, w: Tensor, k: float) -> Tensor:
    """For each row, the distance at which the weight of the rows within reach first attains ``k``."""
    rows = rows_per_chunk(X.shape[0], X.shape[1] + 2, X.element_size(), _MEMORY_BUDGET)
    out = []
    for chunk in row_chunks(X.shape[0], rows):
        D_ij, order = sq_distances(X[chunk], X).sort(dim=1)  # (b, n)
        reached = torch.cumsum(w[order], dim=1) >= k * (1 - 1e-9)  # (b, n)
        first = reached.to(torch.int8).argmax(dim=1)  # (b,)
        out.append(D_ij.gather(1, first[:, None])[:, 0].sqrt())
    return torch.cat(out)


def checked_subsample(
    X: Any, sample_weight: Any, n_samples: int | None, random_state: int | None
) -> tuple[Tensor, Tensor]:
    """Rows of positive weight, at most ``n_samples`` of them drawn at random, as float64 on the CPU.

    A tensor is checked where it is and only the rows drawn are copied to the host.
    """
    if n_samples is not None and (not isinstance(n_samples, (int, np.integer)) or n_samples < 1):
        raise ValueError(f"n_samples must be a positive integer or None, got {n_samples!r}")
    if isinstance(X, Tensor):
        X_t = as_tensor(X, dtype=X.dtype if X.is_floating_point() else torch.float64, device=X.device)
    else:
        X_t = as_tensor(X, dtype=torch.float64, device="cpu")
    w = check_weights(sample_weight, X_t.shape[0], dtype=torch.float64, device=X_t.device)
    rows = torch.arange(X_t.shape[0], device=X_t.device) if w is None else torch.nonzero(w > 0)[:, 0]
    if n_samples is not None and rows.shape[0] > n_samples:
        pick = np.random.default_rng(random_state).choice(rows.shape[0], n_samples, replace=False)
        rows = rows[torch.as_tensor(pick, device=rows.device)]
    X_sub = X_t[rows].to(device="cpu", dtype=torch.float64)
    w_sub = torch.ones(X_sub.shape[0], dtype=torch.float64) if w is None else w[rows].cpu()
    return X_sub, w_sub


def mean_gap_to_distinct(
    X: Any, *, n_samples: int | None = 2000, random_state: int | None = 0, sample_weight: Any = None
) -> float:
    """The (weighted) mean distance from each row to the nearest row that differs from it.

    The fallback scale when `estimate_bandwidth` gives 0 because many rows
    coincide; 0.0 only when all rows are equal.
    """
    X_t, w = checked_subsample(X, sample_weight, n_samples, random_state)
    gap = []
    rows = rows_per_chunk(X_t.shape[0], X_t.shape[1], X_t.element_size(), _MEMORY_BUDGET)
    for chunk in row_chunks(X_t.shape[0], rows):
        D_ij = sq_distances(X_t[chunk], X_t)  # (b, n)
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
        Which neighbor counts: the k-th, ``k = max(1, int(quantile * n))``
        (the sample itself is its first neighbor). Must be in (0, 1].
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
    X_t, w = checked_subsample(X, sample_weight, n_samples, random_state)
    k = max(1, int(float(w.sum()) * quantile))
    r_i = _kth_neighbor_distance(X_t, w, k)  # (n,)
    return float((w * r_i).sum() / w.sum())


# The neighbor whose mean distance is the local scale: measured on the development battery
# (benchmarks/bench_quality.py; 8 to 12 give the same median there, 7 and 15 less), and on
# two and three 1-D Gaussian blobs, where a density dip cannot be walked around and 10
# neighbors still left 1 fit in 10 split into dozens of clusters (30: none of 12).
LOCAL_NEIGHBORS = 10
LOCAL_NEIGHBORS_1D = 30
# In one feature the neighbor count grows from LOCAL_1D_ROWS rows on as n^(4/5) (the points in the window
# of the density-estimation rules, h ~ n^(-1/5)): a fixed 30 left windows of the same few points at
# 5,000 and 10,000 rows, and a normal sample of 5,000 or 20,000 points fell into 2 to 5 clusters (six
# draws); with this, none (with the one-feature significance of `shiftkit.cluster._saddles`).
LOCAL_1D_ROWS = 1000


def local_bandwidth(
    X: Any,
    *,
    n_neighbors: int | None = None,
    reference_size: int = 10_000,
    random_state: int | None = 0,
    sample_weight: Any = None,
    memory_budget: int = _MEMORY_BUDGET,
    content_ordered: bool = False,
    n_total: float | None = None,
) -> float:
    """The local scale of the data: the mean distance from a row to its ``n_neighbors``-th nearest other row.

    The default of `MeanShift` and `QuickShift`: small enough that no two
    clusters share a mode (the modes are merged afterwards through their
    saddles). Measured on at most ``reference_size`` random rows (neighbors
    among those rows); for larger data it shrinks at the rate of the
    density-estimation rules, ``(reference_size / n)^(1 / (d + 4))``: a
    fixed neighbor count would shrink as ``n^(-1 / d)`` and leave the density
    as noisy at a million points as at a thousand (on 20 Gaussian blobs of
    1,000,000 points it drew basin boundaries with an ARI of 0.95 where this
    gives 0.987, the ARI of the true centers). Where heavily repeated values
    make the distance 0, the mean distance to the nearest *different* row
    (`mean_gap_to_distinct`).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_neighbors : int, default=None
        None: `LOCAL_NEIGHBORS` (10), or for one feature `LOCAL_NEIGHBORS_1D` (30), times
        ``(n / LOCAL_1D_ROWS)^(4/5)`` from `LOCAL_1D_ROWS` rows (``n`` the rows, or weight,
        measured on); at most a tenth of the distinct rows (`shiftkit.neighbors.neighbors_for`).
    reference_size : int, default=10,000
    random_state : int or None, default=0
        Seed of the rows chosen.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights: a row of weight 3 counts as three rows.
    memory_budget : int, default=64 MiB
        Bytes of temporaries of the neighbor search (10,000 rows searched with
        the index's own 256 MiB took 270 MB in QuickShift's layout whatever its
        budget said).
    content_ordered : bool, default=False
        The rows are distinct and in content order (`shiftkit._rows`: sorted by a
        hash of their values), whose first rows are a fair draw: the first
        ``reference_size`` are taken instead of a random draw. Rows spread over
        machines can draw the same rows (`shiftkit.distributed`: each machine's
        rows of the smallest hashes).
    n_total : float, default=None
        The rows (or total weight) of the data ``X`` was drawn from, where ``X`` is
        already a draw (made elsewhere); None: ``X`` is the data.

    Returns
    -------
    bandwidth : float
        0.0 only when all rows are equal.

    Examples
    --------
    >>> from shiftkit.bandwidth import local_bandwidth
    >>> round(local_bandwidth([[0.0], [1.0], [3.0], [6.0]], n_neighbors=1), 3)
    1.75
    """
    n_all, d = (X.shape[0], X.shape[1]) if isinstance(X, Tensor) else np.shape(X)
    if sample_weight is not None:
        n_all = float(np.sum(np.asarray(sample_weight, dtype=np.float64)))
    if content_ordered:  # the first rows: a fair draw, and one that rows spread over machines can make
        leading = slice(0, reference_size)
        X, sample_weight = X[leading], None if sample_weight is None else sample_weight[leading]
    X_t, w = checked_subsample(X, sample_weight, None if content_ordered else reference_size, random_state)
    if n_total is not None:
        n_all = float(n_total)
    n = float(w.sum())
    if n_neighbors is None:  # at most a tenth of the distinct rows: a small cluster keeps its scale
        wanted = LOCAL_NEIGHBORS
        if d == 1:  # the window of a density-estimation rule grows with the rows (LOCAL_1D_ROWS)
            wanted = round(LOCAL_NEIGHBORS_1D * max(1.0, n / LOCAL_1D_ROWS) ** 0.8)
        n_neighbors = neighbors_for(X_t, wanted)
    if X_t.shape[0] < 2 and n < 2:
        return 0.0
    index = make_index(X_t, n_neighbors=n_neighbors + 1, memory_budget=memory_budget)
    # the distance at which the weight of the rows within reach, the row itself included, first
    # attains n_neighbors + 1 (with unit weights: the n_neighbors-th nearest other row)
    need = min(n_neighbors, n - 1) + 1
    k = min(n_neighbors + 1, X_t.shape[0])
    while True:
        dist, idx = index.kneighbors(X_t, k)  # (m, k), the row itself (or a copy) first
        reached = torch.cumsum(w[idx], 1) >= need * (1 - 1e-9)
        if bool(reached.any(1).all()) or k == X_t.shape[0]:
            break
        k = min(4 * k, X_t.shape[0])
    first = torch.where(reached.any(1), reached.to(torch.int8).argmax(1), k - 1)
    r_i = dist.gather(1, first[:, None])[:, 0].double()
    kept = w * _not_far_out(r_i, w)
    bandwidth = float((kept * r_i).sum() / kept.sum())
    if bandwidth == 0:
        bandwidth = mean_gap_to_distinct(X_t, n_samples=None, sample_weight=w)
    return bandwidth * min(1.0, n / n_all) ** (1.0 / (d + 4))


# A row's distance to its neighbors is far out where its log lies beyond the upper quartile of the rows'
# logs by this many interquartile ranges (Tukey's far-out fence is 3; so far out, a normal sample in
# two features loses about one row in 3,000, and rows 30 times the data's spread away are out).
FAR_OUT_IQR = 6.0


def _not_far_out(r: Tensor, w: Tensor) -> Tensor:
    """1.0 for the distances ``r`` (m,) that are not far out among them (`FAR_OUT_IQR`; weights ``w``),
    0.0 for those that are: a few rows far from the rest (outliers) have neighbors so far away that
    their distances, not the data's, made the mean (50 rows 1,000 times the spread of 5,000 points
    in two features: a bandwidth 25 times the data's, and MeanShift() joined the four blobs)."""
    positive = r > 0
    if int(positive.sum()) < 4:
        return torch.ones_like(r)
    logs = torch.log(r[positive])
    order = torch.argsort(logs)
    cumulative = torch.cumsum(w[positive][order], 0)
    quartiles = cumulative[-1] * torch.tensor([0.25, 0.75], dtype=cumulative.dtype)
    q1, q3 = logs[order[torch.searchsorted(cumulative, quartiles).clamp_max(len(order) - 1)]].tolist()
    keep = torch.ones_like(r)
    keep[positive] = (logs <= q3 + FAR_OUT_IQR * (q3 - q1)).to(r.dtype)
    return keep


def _spread(X: Any, sample_weight: Any) -> tuple[float, float, int]:
    """(root mean variance over features, effective sample size, dimension), weighted."""
    X_t = as_tensor(X, dtype=torch.float64, device="cpu")
    w = check_weights(sample_weight, X_t.shape[0], dtype=torch.float64, device=X_t.device)
    if w is None:
        w = torch.ones(X_t.shape[0], dtype=torch.float64)
    total = w.sum()
    mean = (w @ X_t) / total
    var = (w @ (X_t - mean).square()) / total  # (d,), population variance
    return float(var.mean().sqrt()), float(total), X_t.shape[1]


def _capped(n: float, n_samples: int | None) -> float:
    return n if n_samples is None else min(n, float(n_samples))


def scott_bandwidth(X: Any, *, sample_weight: Any = None, n_samples: int | None = 2000) -> float:
    """Scott's rule, ``sigma * n^(-1 / (d + 4))``, sigma the root mean variance of the features.

    A density-estimation rule: it assumes one Gaussian, so it oversmooths
    well-separated clusters. For clustering, n is capped at ``n_samples`` (the
    subsample size of the neighbor rules): the textbook rule keeps shrinking
    as data grow and then splits clusters into noise modes (``None`` gives the
    textbook rule). O(n d).
    """
    sigma, n, d = _spread(X, sample_weight)
    return sigma * _capped(n, n_samples) ** (-1.0 / (d + 4))


def silverman_bandwidth(X: Any, *, sample_weight: Any = None, n_samples: int | None = 2000) -> float:
    """Silverman's rule, ``sigma (4 / (d + 2))^(1 / (d + 4)) n^(-1 / (d + 4))``, n capped as in Scott's."""
    sigma, n, d = _spread(X, sample_weight)
    return sigma * (4.0 / (d + 2)) ** (1.0 / (d + 4)) * _capped(n, n_samples) ** (-1.0 / (d + 4))


def _auto_rule(X: Any, sample_weight: Any = None, random_state: int | None = 0) -> float:
    return local_bandwidth(X, sample_weight=sample_weight, random_state=random_state)


def _quantile_rule(X: Any, sample_weight: Any = None, random_state: int | None = 0) -> float:
    return estimate_bandwidth(X, quantile=0.05, sample_weight=sample_weight, random_state=random_state)


def _scott_rule(X: Any, sample_weight: Any = None, random_state: int | None = 0) -> float:
    return scott_bandwidth(X, sample_weight=sample_weight)


def _silverman_rule(X: Any, sample_weight: Any = None, random_state: int | None = 0) -> float:
    return silverman_bandwidth(X, sample_weight=sample_weight)


def _sklearn_rule(X: Any, sample_weight: Any = None, random_state: int | None = 0) -> float:
    return estimate_bandwidth(X, quantile=0.3, sample_weight=sample_weight, random_state=random_state)


# The rules that look at the data only, each ``rule(X, sample_weight, random_state) -> float``
# (a Gaussian standard deviation); `shiftkit.select_bandwidth` adds 'stability' from the cluster layer.
DATA_RULES: dict[str, Any] = {
    "auto": _auto_rule,
    "quantile": _quantile_rule,
    "scott": _scott_rule,
    "silverman": _silverman_rule,
    "sklearn": _sklearn_rule,
}
