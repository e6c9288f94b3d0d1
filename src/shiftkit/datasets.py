"""Small built-in data: the lesson's Gaussian blobs.

Nothing is downloaded: every data set here is generated, or small enough to ship.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["make_blobs"]


def make_blobs(
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
    >>> from shiftkit.datasets import make_blobs
    >>> X, y, centers = make_blobs()
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
