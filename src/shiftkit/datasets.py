"""Small built-in data: the lesson's Gaussian blobs, and embedding-like mixtures in many features.

Nothing is downloaded: every data set here is generated, or small enough to ship.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["make_embedding_mixture", "make_lesson_blobs"]


def make_lesson_blobs(
    n_clusters: int = 6,
    n_samples: int = 250,
    *,
    n_features: int = 2,
    low: float = -35.0,
    high: float = 35.0,
    variance: float = 5.0,
    random_state: int = 42,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lesson's blobs: centers uniform in ``[low, high]^d``, each cluster normal around one.

    Named apart from scikit-learn's ``make_blobs``: there the first argument is
    the total number of rows; here it is the number of clusters, and
    ``n_samples`` counts the rows of each.

    With the defaults this reproduces the data of the fast.ai lesson 12 notebook
    exactly: ``torch.manual_seed(42)``, ``centroids = torch.rand(6, 2) * 70 - 35``
    and 250 samples per center from ``MultivariateNormal(c, 5 * I)`` (the lesson's "centroids").

    Parameters
    ----------
    n_clusters : int, default=6
        Number of centers.
    n_samples : int, default=250
        Samples per cluster (the data has ``n_clusters * n_samples`` rows).
    n_features : int, default=2
        Dimension of the data.
    low, high : float, default=-35, 35
        The box the centers are drawn from.
    variance : float, default=5.0
        Variance of each coordinate within a cluster (covariance ``variance * I``).
    random_state : int, default=42
        Seed of a private torch generator; the global random state is untouched.

    Returns
    -------
    X : ndarray of shape (n_clusters * n_samples, n_features), float32
        Cluster after cluster, as in the lesson.
    y : ndarray of shape (n_clusters * n_samples,), int64
        The cluster each row was drawn from.
    centers : ndarray of shape (n_clusters, n_features), float32

    Examples
    --------
    >>> from shiftkit.datasets import make_lesson_blobs
    >>> X, y, centers = make_lesson_blobs()
    >>> X.shape, y.shape, centers.shape
    ((1500, 2), (1500,), (6, 2))
    """
    for name, value in (("n_clusters", n_clusters), ("n_samples", n_samples), ("n_features", n_features)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not high > low:
        raise ValueError(f"high must be greater than low, got low={low!r}, high={high!r}")
    if not variance >= 0:
        raise ValueError(f"variance must be >= 0, got {variance!r}")
    gen = torch.Generator().manual_seed(random_state)
    centers = torch.rand(n_clusters, n_features, generator=gen) * (high - low) + low
    # MultivariateNormal(c, variance * I).sample() is c + sqrt(variance) * N(0, I).
    X = torch.cat(
        [c + math.sqrt(variance) * torch.randn(n_samples, n_features, generator=gen) for c in centers]
    )
    y = np.repeat(np.arange(n_clusters, dtype=np.int64), n_samples)
    return X.numpy(), y, centers.numpy()


def make_embedding_mixture(
    n_samples: int = 10_000,
    *,
    n_features: int = 64,
    n_clusters: int = 30,
    n_subspace: int = 16,
    spread: float = 4.0,
    noise: float = 0.1,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters as embeddings have them: anisotropic Gaussians of unequal size on a subspace, plus noise.

    Centers are normal with standard deviation ``spread`` in a random
    ``n_subspace``-dimensional subspace of ``n_features``; each cluster is a
    Gaussian with its own random covariance there (axis scales uniform in
    [0.3, 1]); the cluster sizes follow a Dirichlet(2) draw (at least 20 rows
    each); every row gets isotropic normal noise of standard deviation
    ``noise`` in all ``n_features``. The rows are shuffled.

    Parameters
    ----------
    n_samples : int, default=10,000
    n_features : int, default=64
    n_clusters : int, default=30
    n_subspace : int, default=16
    spread : float, default=4.0
    noise : float, default=0.1
    random_state : int, default=0

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,), int64

    Examples
    --------
    >>> from shiftkit.datasets import make_embedding_mixture
    >>> X, y = make_embedding_mixture(3000)
    >>> X.shape, len(set(y))
    ((3000, 64), 30)
    """
    for name, value in (
        ("n_samples", n_samples),
        ("n_features", n_features),
        ("n_clusters", n_clusters),
        ("n_subspace", n_subspace),
    ):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_subspace > n_features:
        raise ValueError(f"n_subspace must be at most n_features, got {n_subspace} > {n_features}")
    if n_samples < 20 * n_clusters:
        raise ValueError(f"n_samples must be at least 20 per cluster, got {n_samples} for {n_clusters}")
    rng = np.random.default_rng(random_state)
    share = rng.dirichlet(np.full(n_clusters, 2.0))
    sizes = rng.multinomial(n_samples - 20 * n_clusters, share) + 20
    centers = rng.normal(size=(n_clusters, n_subspace)) * spread
    parts = []
    for c in range(n_clusters):
        A = (
            rng.normal(size=(n_subspace, n_subspace))
            / np.sqrt(n_subspace)
            * rng.uniform(0.3, 1.0, n_subspace)
        )
        parts.append(centers[c] + rng.normal(size=(sizes[c], n_subspace)) @ A.T)
    basis = np.linalg.qr(rng.normal(size=(n_features, n_subspace)))[0]  # (d, s), orthonormal columns
    X = np.concatenate(parts) @ basis.T + noise * rng.normal(size=(n_samples, n_features))
    y = np.repeat(np.arange(n_clusters, dtype=np.int64), sizes)
    order = rng.permutation(n_samples)
    return X[order].astype(np.float32), y[order]
