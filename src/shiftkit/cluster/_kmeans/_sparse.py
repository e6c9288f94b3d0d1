"""k-means on sparse rows (a scipy CSR matrix: TF-IDF and other bag-of-words tables).

The rows stay sparse: the assignment is one sparse-dense product per block of
rows (``|c|^2 - 2 x.c``, plus ``|x|^2`` where a distance is wanted), the update
one sparse product of the (k, n) matrix of weighted labels with the rows, the
data are neither centered nor scaled (that would fill them in), and everything
runs in float64 with numpy and scipy. The steps are the dense path's, which are
scikit-learn's: greedy k-means++ with scikit-learn's draws, Lloyd's iterations
stopped on unchanged labels or a total squared center shift of at most ``tol``,
empty clusters given the rows farthest from their centers, a last assignment
when the loop stopped on ``tol``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from shiftkit._ops import row_chunks
from shiftkit.cluster._kmeans._lloyd import stops

__all__ = ["SparseFit", "assign", "inertia", "kmeans_plusplus", "lloyd", "row_sq_norms"]


def row_sq_norms(X: sp.csr_matrix) -> np.ndarray:
    """``|x|^2`` of every row, float64 (n,)."""
    return np.asarray(X.multiply(X).sum(1), dtype=np.float64).ravel()


def _rows(n_columns: int, memory_budget: int) -> int:
    """Rows per block: the block's dense (b, n_columns) float64 products within the budget."""
    return max(1, memory_budget // max(1, 3 * 8 * n_columns))


def assign(
    X: sp.csr_matrix, x2: np.ndarray, C: np.ndarray, memory_budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """The nearest center of every row (ties to the lower index) and the squared distance to it."""
    n, k = X.shape[0], C.shape[0]
    c2 = np.einsum("ij,ij->i", C, C)
    labels = np.empty(n, dtype=np.int64)
    dist = np.empty(n)
    for s in row_chunks(n, _rows(k, memory_budget)):
        D = np.asarray(X[s] @ C.T)  # (b, k)
        D *= -2.0
        D += c2
        labels[s] = D.argmin(1)
        dist[s] = D[np.arange(D.shape[0]), labels[s]] + x2[s]
    np.maximum(dist, 0.0, out=dist)
    return labels, dist


def _sq_dist_to(X: sp.csr_matrix, x2: np.ndarray, P: np.ndarray, memory_budget: int) -> np.ndarray:
    """Squared distances (m, n) from the dense rows ``P`` (m, d) to every row of ``X``, clamped at 0."""
    p2 = np.einsum("ij,ij->i", P, P)
    out = np.empty((P.shape[0], X.shape[0]))
    for s in row_chunks(X.shape[0], _rows(P.shape[0], memory_budget)):
        D = np.asarray(X[s] @ P.T)  # (b, m)
        out[:, s] = np.maximum(x2[s, None] - 2.0 * D + p2[None, :], 0.0).T
    return out


def kmeans_plusplus(
    X: sp.csr_matrix,
    x2: np.ndarray,
    n_clusters: int,
    weights: np.ndarray,
    rng: np.random.RandomState,
    memory_budget: int,
) -> np.ndarray:
    """Rows picked by greedy k-means++ with scikit-learn's draws (`shiftkit.cluster._kmeans._init`)."""
    n = X.shape[0]
    trials = 2 + int(np.log(n_clusters))
    indices = np.full(n_clusters, -1, dtype=np.int64)
    first = int(rng.choice(n, p=weights / weights.sum()))
    indices[0] = first
    closest = _sq_dist_to(X, x2, X[first].toarray(), memory_budget)[0]
    potential = float(closest @ weights)
    for c in range(1, n_clusters):
        rand_vals = rng.uniform(size=trials) * potential
        candidates = np.minimum(np.searchsorted(np.cumsum(weights * closest), rand_vals), n - 1)
        D = np.minimum(closest[None, :], _sq_dist_to(X, x2, X[candidates].toarray(), memory_budget))
        pots = D @ weights
        best = int(np.argmin(pots))
        potential, closest = float(pots[best]), D[best]
        indices[c] = candidates[best]
    return indices


@dataclass(frozen=True)
class SparseFit:
    labels: np.ndarray
    centers: np.ndarray  # (k, d) float64
    n_iter: int


def _update(
    X: sp.csr_matrix,
    weights: np.ndarray,
    C: np.ndarray,
    labels: np.ndarray,
    dist: np.ndarray,
    spherical: bool,
) -> np.ndarray:
    """The weighted means of the clusters (empty ones given the rows farthest from their centers, as
    scikit-learn does; a cluster of weight 0 keeps its center)."""
    n, k = X.shape[0], C.shape[0]
    M = sp.csr_matrix((weights, (labels, np.arange(n))), shape=(k, n))
    sums = np.asarray((M @ X).todense(), dtype=np.float64)  # (k, d)
    counts = np.bincount(labels, weights=weights, minlength=k)
    empty = np.flatnonzero(counts == 0)
    # scikit-learn's rule; with every row on its center (more clusters than distinct rows) none moves
    if len(empty) and dist.max() > 0:
        far = np.argpartition(dist, -len(empty))[: -len(empty) - 1 : -1]  # farthest first, as scikit-learn
        for new_id, i in zip(empty, far, strict=True):
            x = X[i].toarray()[0] * weights[i]
            sums[labels[i]] -= x
            counts[labels[i]] -= weights[i]
            sums[new_id], counts[new_id] = x, weights[i]
    out = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-300)[:, None], C)
    if spherical:
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.where(norms > 0, out / np.maximum(norms, 1e-300), C)
    return out


def lloyd(
    X: sp.csr_matrix,
    x2: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    *,
    max_iter: int,
    tol: float,
    memory_budget: int,
    spherical: bool = False,
) -> SparseFit:
    """Lloyd's iterations from ``centers`` (k, d), ``tol`` absolute (total squared center shift)."""
    C = centers.astype(np.float64, copy=True)
    labels_old = np.full(X.shape[0], -1, dtype=np.int64)
    labels = labels_old
    strict, it = False, 0
    while it < max_iter:
        it += 1
        labels, dist = assign(X, x2, C, memory_budget)
        C_new = _update(X, weights, C, labels, dist, spherical)
        shift = float(np.square(C_new - C).sum())
        C = C_new
        stop, strict = stops(np.array_equal(labels, labels_old), shift, tol)
        if stop:
            break
        labels_old = labels
    if not strict:
        labels, _ = assign(X, x2, C, memory_budget)
    return SparseFit(labels, C, it)


def inertia(
    X: sp.csr_matrix,
    x2: np.ndarray,
    C: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    memory_budget: int,
) -> float:
    """Sum of weighted squared distances of the rows to their centers (a block of rows at a time, each
    row's product with every center, (b, k): taking each row's center as a dense (b, d) block cost 0.41 of
    a 0.56 s fit on 20,000 x 20,000)."""
    c2 = np.einsum("ij,ij->i", C, C)
    total = 0.0
    for s in row_chunks(X.shape[0], _rows(C.shape[0], memory_budget)):
        dots = np.asarray(X[s] @ C.T)[np.arange(s.stop - s.start), labels[s]]
        total += float(weights[s] @ np.maximum(x2[s] - 2.0 * dots + c2[labels[s]], 0.0))
    return total
