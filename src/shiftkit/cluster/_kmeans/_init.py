"""Initial centers for k-means: k-means++ (greedy, as scikit-learn), k-means|| and random rows.

Every function takes the data in the estimator's frame (centered and scaled,
in the computation's dtype), sample weights (float64) and a numpy
``RandomState``, and returns the indices of the rows chosen (k-means++ and
random) or the centers (k-means||). The random draws are scikit-learn's, in
scikit-learn's order: with the same seed and float64 data, the same rows come
out (the distances differ in the last bits, which can change a draw only when a
random number lands within rounding of a boundary of the cumulative sum).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from shiftkit._ops import row_chunks, rows_per_chunk
from shiftkit.cluster._kmeans._lloyd import assign

__all__ = ["kmeans_parallel", "kmeans_plusplus_indices", "random_indices"]


def _sq_dist_to(X: Tensor, x2: Tensor, P: Tensor, memory_budget: int) -> Tensor:
    """Squared distances (m, n) from the rows ``P`` (m, d) to every row of ``X``, clamped at 0, float64."""
    rows = rows_per_chunk(P.shape[0], 1, X.element_size(), memory_budget)
    p2 = P.square().sum(1)
    out = torch.empty((P.shape[0], X.shape[0]), dtype=torch.float64, device=X.device)
    for s in row_chunks(X.shape[0], rows):
        D = torch.addmm(p2[None, :], X[s], P.T, alpha=-2.0).add_(x2[s, None])  # (b, m)
        out[:, s] = D.clamp_min_(0).T.double()
    return out


def kmeans_plusplus_indices(
    X: Tensor,
    n_clusters: int,
    weights: np.ndarray,
    rng: np.random.RandomState,
    *,
    memory_budget: int,
    n_local_trials: int | None = None,
) -> np.ndarray:
    """Rows of ``X`` picked by greedy k-means++ (Arthur & Vassilvitskii 2007; scikit-learn's variant).

    Each new center is the best of ``2 + log(k)`` candidates drawn with
    probability proportional to weight times squared distance to the nearest
    center so far: the one that lowers the potential most.
    """
    n = X.shape[0]
    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))
    x2 = X.square().sum(1)
    w = torch.as_tensor(weights, dtype=torch.float64, device=X.device)
    indices = np.full(n_clusters, -1, dtype=np.int64)
    first = int(rng.choice(n, p=weights / weights.sum()))
    indices[0] = first
    closest = _sq_dist_to(X, x2, X[first : first + 1], memory_budget)[0]  # (n,)
    potential = float(closest @ w)
    for c in range(1, n_clusters):
        rand_vals = rng.uniform(size=n_local_trials) * potential
        cumulative = torch.cumsum(w * closest, 0).cpu().numpy()
        candidates = np.minimum(np.searchsorted(cumulative, rand_vals), n - 1)
        D = _sq_dist_to(X, x2, X[torch.as_tensor(candidates, device=X.device)], memory_budget)
        torch.minimum(closest[None, :], D, out=D)
        pots = D @ w
        best = int(torch.argmin(pots))
        potential = float(pots[best])
        closest = D[best]
        indices[c] = candidates[best]
    return indices


def random_indices(n: int, n_clusters: int, weights: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """``n_clusters`` distinct rows drawn with probability proportional to weight (scikit-learn's)."""
    positive = int(np.count_nonzero(weights > 0))
    if positive < n_clusters:
        raise ValueError(
            f"init='random' draws {n_clusters} distinct rows by weight, but only {positive} rows have a "
            "positive weight: use init='k-means++' or fewer clusters"
        )
    return rng.choice(n, size=n_clusters, replace=False, p=weights / weights.sum())


def kmeans_parallel(
    X: Tensor,
    n_clusters: int,
    weights: np.ndarray,
    rng: np.random.RandomState,
    *,
    memory_budget: int,
    rounds: int = 5,
    oversampling: float = 2.0,
) -> Tensor:
    """k-means|| (Bahmani, Moseley, Vattani, Kumar & Vassilvitskii, 2012): centers (k, d).

    ``rounds`` passes over the data, each keeping every row independently with
    probability ``oversampling * k * weight * d^2 / potential``; the candidates
    (about ``rounds * oversampling * k``) are weighted by the data they are
    nearest to and reduced to ``n_clusters`` by weighted greedy k-means++.
    Fewer passes over the data than k-means++ (``rounds`` instead of ``k``),
    which is what matters when the data are large or distributed.
    """
    n = X.shape[0]
    w = torch.as_tensor(weights, dtype=torch.float64, device=X.device)
    x2 = X.square().sum(1)
    first = int(rng.choice(n, p=weights / weights.sum()))
    chosen = [first]
    C = X[first : first + 1]
    _, closest = assign(X, C, memory_budget=memory_budget, x2=x2)
    closest = closest.double()
    for _ in range(rounds):
        potential = float(closest @ w)
        if potential <= 0:
            break
        p = (oversampling * n_clusters * w * closest / potential).clamp_max_(1.0).cpu().numpy()
        new = np.flatnonzero(rng.uniform(size=n) < p)
        if len(new) == 0:
            continue
        chosen.extend(new.tolist())
        C = X[torch.as_tensor(np.asarray(chosen), device=X.device)]
        _, closest = assign(X, C, memory_budget=memory_budget, x2=x2)
        closest = closest.double()
    candidates = np.unique(np.asarray(chosen))
    C = X[torch.as_tensor(candidates, device=X.device)]
    if len(candidates) <= n_clusters:
        return C
    labels, _ = assign(X, C, memory_budget=memory_budget)
    cand_w = torch.zeros(len(candidates), dtype=torch.float64, device=X.device).index_add_(0, labels, w)
    cand_w_np = cand_w.cpu().numpy()
    keep = cand_w_np > 0
    C, cand_w_np = C[torch.as_tensor(keep, device=X.device)], cand_w_np[keep]
    if C.shape[0] <= n_clusters:
        return C
    picked = kmeans_plusplus_indices(C, n_clusters, cand_w_np, rng, memory_budget=memory_budget)
    return C[torch.as_tensor(picked, device=X.device)]
