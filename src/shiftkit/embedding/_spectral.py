"""Where a graph layout starts: the spectral embedding of each connected component.

The eigenvectors of the normalized Laplacian ``I - D^-1/2 W D^-1/2`` with the
smallest nonzero eigenvalues place strongly connected points together (Belkin &
Niyogi, 2003); starting the layout there rather than at random keeps a cluster
from being torn in two by the clusters it must pass on its way (UMAP's default
start). A graph in several components gets one embedding per component, the
components placed where the principal axes of their means put them, so that
components near in the data start near.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = ["spectral_start"]

# Components up to this size are embedded with a dense eigendecomposition (exact, no iteration).
DENSE_MAX = 500
# The Lanczos restarts allowed before the principal coordinates start a component instead. Where few
# eigenvalues lie near 0, eigsh converges in 96 to 354 products with the Laplacian (about 5 to 15
# restarts: the development sets, digits, embedding mixtures of 5 to 30 clusters laid out on 537 to
# 18,982 rows); where many clusters barely touch, hundreds of eigenvalues crowd 0 and it never
# converged: with 5 n restarts (UMAP's bound) 300 clusters of 30,000 embeddings (a component of 3,413
# rows) took 887,439 products, 114 s of a 115 s fit, and of 100,000 embeddings 107 s, before the same
# fallback.
EIGSH_MAX_RESTARTS = 50


def _principal(coordinates: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` principal coordinates of the rows (zero-padded), scaled to at most 1."""
    centered = coordinates - coordinates.mean(0)
    out = np.zeros((coordinates.shape[0], dim))
    if coordinates.shape[0] > 1:
        _, _, Vt = np.linalg.svd(centered, full_matrices=False)
        k = min(dim, Vt.shape[0])
        out[:, :k] = centered @ Vt[:k].T
    return out / max(float(np.abs(out).max()), 1e-300)


def _embed_component(W: sp.csr_matrix, dim: int, coordinates: np.ndarray) -> np.ndarray:
    """The ``dim`` nontrivial Laplacian eigenvectors of one connected graph, scaled to at most 1 (the
    principal coordinates where there are too few points, or the iteration does not converge)."""
    n = W.shape[0]
    if n <= dim + 1:
        return _principal(coordinates, dim)
    degree = np.asarray(W.sum(1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(degree))
    L = sp.identity(n) - scale @ W @ scale
    if n <= DENSE_MAX:
        values, vectors = np.linalg.eigh(L.toarray())
    else:
        from scipy.sparse.linalg import ArpackNoConvergence, eigsh

        ncv = max(2 * dim + 3, int(np.sqrt(n)))
        try:
            values, vectors = eigsh(
                L, dim + 1, which="SM", ncv=ncv, tol=1e-4, v0=np.ones(n), maxiter=EIGSH_MAX_RESTARTS
            )
        except ArpackNoConvergence:
            return _principal(coordinates, dim)
    order = np.argsort(values)[1 : dim + 1]
    V = vectors[:, order]
    signs = np.sign(V[np.abs(V).argmax(0), np.arange(V.shape[1])])  # fix the arbitrary signs
    V = V * np.where(signs == 0, 1.0, signs)
    return V / max(float(np.abs(V).max()), 1e-300)


def spectral_start(W: sp.csr_matrix, dim: int, coordinates: np.ndarray) -> np.ndarray:
    """The layout's start: (n, dim), each coordinate spanning [0, 10].

    Parameters
    ----------
    W : scipy.sparse.csr_matrix of shape (n, n)
        The symmetric weighted graph.
    dim : int
        Dimensions of the layout.
    coordinates : ndarray of shape (n, n_features)
        The points' coordinates in the data (to place the components).
    """
    n = W.shape[0]
    n_components, component = connected_components(W, directed=False)
    start = np.zeros((n, dim))
    if n_components == 1:
        start = _embed_component(W, dim, coordinates)
    else:
        means = np.zeros((n_components, coordinates.shape[1]))
        np.add.at(means, component, coordinates)
        means /= np.bincount(component, minlength=n_components)[:, None]
        place = _principal(means, dim)
        radius = 0.5 / np.sqrt(n_components)  # a component's own embedding: small beside the spacing
        order = np.argsort(component, kind="stable")
        bounds = np.searchsorted(component[order], np.arange(n_components + 1))
        for c in range(n_components):
            members = order[bounds[c] : bounds[c + 1]]
            own = _embed_component(W[members][:, members], dim, coordinates[members])
            start[members] = place[c] + radius * own
    lo, hi = start.min(0), start.max(0)
    return 10.0 * (start - lo) / np.where(hi > lo, hi - lo, 1.0)
