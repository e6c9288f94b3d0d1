"""Plots of data, kernels and densities. The only module that imports matplotlib.

Every helper takes ``ax=None`` (a new figure is made) and returns the axes, as
in the fast.ai lesson. No backend is forced: without a display matplotlib
falls back to the headless Agg backend by itself, and a notebook keeps its
inline one.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from shiftkit._array import as_tensor, check_bandwidth, to_numpy
from shiftkit.kernels import Kernel, get_kernel

__all__ = ["plot_data", "plot_density", "plot_kernel", "to_2d"]


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6, 6)) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=figsize)
    return new


def to_2d(X: Any, *others: Any) -> list[np.ndarray | None]:
    """``X`` as 2-D points for a scatter plot, followed by ``others`` in the same plane.

    Two features are used as they are, one gets a zero second coordinate, more
    are projected on the first two principal components of ``X``. An ``other``
    that is None stays None.
    """

    def load(A: Any) -> np.ndarray:
        return to_numpy(as_tensor(A, dtype="float64", device="cpu"))

    first = load(X)
    arrays = [first] + [None if A is None else load(A) for A in others]
    if first.shape[1] == 2:
        return arrays
    if first.shape[1] == 1:
        return [None if A is None else np.column_stack([A, np.zeros(len(A))]) for A in arrays]
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(first)
    return [None if A is None else pca.transform(A) for A in arrays]


def plot_data(
    X: Any,
    labels: Any = None,
    centroids: Any = None,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    s: float = 6.0,
) -> Axes:
    """Scatter the points coloured by cluster; each centroid a big black X with a small magenta x.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        More than two features are shown on their first two principal components.
    labels : array-like of shape (n_samples,), optional
        Cluster of each point; -1 (noise) is drawn in grey.
    centroids : array-like of shape (n_clusters, n_features), optional
    ax : matplotlib Axes, optional
    title : str, optional
    s : float, default=6
        Marker size of the points.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _new_axes(ax)
    P, C = to_2d(X, centroids)
    assert P is not None
    if labels is None:
        ax.scatter(P[:, 0], P[:, 1], s=s)
    else:
        lab = np.asarray(labels)
        if lab.shape != (len(P),):
            raise ValueError(f"labels must have shape ({len(P)},), got {lab.shape}")
        noise = lab < 0
        if noise.any():
            ax.scatter(P[noise, 0], P[noise, 1], s=s, c="lightgrey")
        cmap = plt.get_cmap("tab10" if lab.max(initial=0) < 10 else "tab20")
        ax.scatter(P[~noise, 0], P[~noise, 1], s=s, c=cmap(lab[~noise] % cmap.N))
    if C is not None:
        ax.plot(C[:, 0], C[:, 1], markersize=10, marker="x", color="k", mew=5, linestyle="none")
        ax.plot(C[:, 0], C[:, 1], markersize=5, marker="x", color="m", mew=2, linestyle="none")
    if title:
        ax.set_title(title)
    return ax


def plot_kernel(
    kernel: str | Kernel = "gaussian",
    bandwidth: float = 2.5,
    ax: Axes | None = None,
    *,
    max_distance: float | None = None,
) -> Axes:
    """The kernel's weight against distance (the lesson's ``plot_func``).

    Parameters
    ----------
    kernel : str or Kernel, default='gaussian'
    bandwidth : float, default=2.5
    ax : matplotlib Axes, optional
    max_distance : float, optional
        Right end of the distance axis; default ``4 * bandwidth``.

    Returns
    -------
    ax : matplotlib Axes
    """
    kern = get_kernel(kernel)
    h = check_bandwidth(bandwidth)
    ax = _new_axes(ax, (6, 3))
    d = torch.linspace(0, 4 * h if max_distance is None else max_distance, 400, dtype=torch.float64)
    ax.plot(d.numpy(), kern(d * d, h).numpy(), label=f"{kern.name}, bandwidth {h:g}")
    ax.set_xlabel("distance")
    ax.set_ylabel("weight")
    ax.legend()
    return ax


def plot_density(
    X: Any,
    bandwidth: float,
    kernel: str | Kernel = "gaussian",
    ax: Axes | None = None,
    *,
    resolution: int = 150,
    modes: Any = None,
) -> Axes:
    """Contours of the kernel density that mean shift climbs, with its modes marked.

    Parameters
    ----------
    X : array-like of shape (n_samples, 2)
        Two-dimensional data (the density is drawn in the data's own plane).
    bandwidth : float
    kernel : str or Kernel, default='gaussian'
    ax : matplotlib Axes, optional
    resolution : int, default=150
        Grid points per axis.
    modes : array-like of shape (n_modes, 2), optional
        Where to mark the modes; by default they are found with
        ``MeanShift(algorithm='standard')`` with the same kernel and bandwidth.

    Returns
    -------
    ax : matplotlib Axes
    """
    from shiftkit._shift import shift_tensors

    X_t = as_tensor(X, dtype="float64", device="cpu")
    if X_t.shape[1] != 2:
        raise ValueError(f"plot_density needs 2-D data, got {X_t.shape[1]} features")
    kern = get_kernel(kernel)
    h = check_bandwidth(bandwidth)
    if modes is None:
        from shiftkit.cluster import MeanShift

        modes = MeanShift(bandwidth=h, kernel=kern.name, algorithm="standard", dtype="float64").fit(X_t)
        modes = modes.cluster_centers_
    lo, hi = X_t.min(0).values - h, X_t.max(0).values + h
    gx = torch.linspace(float(lo[0]), float(hi[0]), resolution, dtype=torch.float64)
    gy = torch.linspace(float(lo[1]), float(hi[1]), resolution, dtype=torch.float64)
    grid = torch.cartesian_prod(gx, gy)  # (r*r, 2), x major
    _, density = shift_tensors(grid, X_t, h, kern, engine="dense")
    Z = density.reshape(resolution, resolution).T.numpy()  # rows follow y
    ax = _new_axes(ax)
    ax.contourf(gx.numpy(), gy.numpy(), Z, levels=20, cmap="viridis")
    M = np.asarray(modes, dtype=np.float64).reshape(-1, 2)
    ax.plot(M[:, 0], M[:, 1], markersize=10, marker="x", color="k", mew=5, linestyle="none")
    ax.plot(M[:, 0], M[:, 1], markersize=5, marker="x", color="m", mew=2, linestyle="none")
    ax.set_title(f"{kern.name} density, bandwidth {h:g}")
    return ax
