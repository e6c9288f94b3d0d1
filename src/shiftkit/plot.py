"""Plots of data, kernels and densities, and animations of mean shift.

The only module that imports matplotlib.

Every helper takes ``ax=None`` (a new figure is made) and returns the axes, as
in the fast.ai lesson. No backend is forced: without a display matplotlib
falls back to the headless Agg backend by itself, and a notebook keeps its
inline one.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter
from matplotlib.axes import Axes

from shiftkit import MeanShift, shift
from shiftkit._array import as_tensor, to_numpy
from shiftkit._validation import check_bandwidth, number_in
from shiftkit.io import atomic_path, atomic_write
from shiftkit.kernels import Kernel, get_kernel

__all__ = ["ShiftAnimation", "animate", "plot_data", "plot_density", "plot_kernel", "save_animation", "to_2d"]


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
    arrays = [first] + [None if A is None else load(A) if len(A) else None for A in others]
    empty = [A is not None and not len(A) for A in (X, *others)]  # no centers (DBSCAN, all noise)
    if first.shape[1] == 2:
        planar = arrays
    elif first.shape[1] == 1:
        planar = [None if A is None else np.column_stack([A, np.zeros(len(A))]) for A in arrays]
    else:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2).fit(first)
        planar = [None if A is None else pca.transform(A) for A in arrays]
    return [np.zeros((0, 2)) if e else A for A, e in zip(planar, empty, strict=True)]


def _mark_centers(ax: Axes, C: np.ndarray) -> None:
    """Each center a big black X with a small magenta x on it, as in the lesson."""
    ax.plot(C[:, 0], C[:, 1], markersize=10, marker="x", color="k", mew=5, linestyle="none")
    ax.plot(C[:, 0], C[:, 1], markersize=5, marker="x", color="m", mew=2, linestyle="none")


def _cluster_colors(n_clusters: int) -> np.ndarray:
    """RGBA colours for clusters: tab10 (tab20 past nine clusters) without its greys, which read as the
    noise's light grey."""
    import matplotlib.pyplot as plt

    name, greys = ("tab10", {7}) if n_clusters <= 9 else ("tab20", {14, 15})
    cmap = plt.get_cmap(name)
    return np.array([cmap(i) for i in range(cmap.N) if i not in greys])


def plot_data(
    X: Any,
    labels: Any = None,
    centers: Any = None,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    s: float = 6.0,
) -> Axes:
    """Scatter the points coloured by cluster; each center a big black X with a small magenta x.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        More than two features are shown on their first two principal components.
    labels : array-like of shape (n_samples,), optional
        Cluster of each point; -1 (noise) is drawn in grey.
    centers : array-like of shape (n_clusters, n_features), optional
    ax : matplotlib Axes, optional
    title : str, optional
    s : float, default=6
        Marker size of the points.

    Returns
    -------
    ax : matplotlib Axes
    """
    ax = _new_axes(ax)
    P, C = to_2d(X, centers)
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
        palette = _cluster_colors(int(lab.max(initial=0)) + 1)
        ax.scatter(P[~noise, 0], P[~noise, 1], s=s, c=palette[lab[~noise] % len(palette)])
    if C is not None:
        _mark_centers(ax, C)
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
    X_t = as_tensor(X, dtype="float64", device="cpu")
    if X_t.shape[1] != 2:
        raise ValueError(f"plot_density needs 2-D data, got {X_t.shape[1]} features")
    kern = get_kernel(kernel)
    h = check_bandwidth(bandwidth)
    if modes is None:
        modes = MeanShift(bandwidth=h, kernel=kern, algorithm="standard", dtype="float64").fit(X_t)
        modes = modes.cluster_centers_
    lo, hi = X_t.min(0).values - h, X_t.max(0).values + h
    gx = torch.linspace(float(lo[0]), float(hi[0]), resolution, dtype=torch.float64)
    gy = torch.linspace(float(lo[1]), float(hi[1]), resolution, dtype=torch.float64)
    grid = torch.cartesian_prod(gx, gy)  # (r*r, 2), x major
    _, density = shift(grid, X_t, h, kern, engine="dense", dtype="float64", device="cpu")
    Z = density.reshape(resolution, resolution).T.numpy()  # rows follow y
    ax = _new_axes(ax)
    ax.contourf(gx.numpy(), gy.numpy(), Z, levels=20, cmap="viridis")
    _mark_centers(ax, np.asarray(modes, dtype=np.float64).reshape(-1, 2))
    ax.set_title(f"{kern.name} density, bandwidth {h:g}")
    return ax


class ShiftAnimation(FuncAnimation):
    """A `FuncAnimation` that shows itself inline in a notebook (as a self-contained HTML player)."""

    def _repr_html_(self) -> str:
        return self.to_jshtml()


def animate(
    source: Any,
    *,
    X: Any = None,
    labels: Any = None,
    interval: int = 500,
    figsize: tuple[float, float] = (6, 6),
    s: float = 6.0,
) -> ShiftAnimation:
    """Animate mean shift one step per frame, as in the lesson.

    Parameters
    ----------
    source : MeanShift or KMeans fitted with ``record_history=True``, or a list of arrays
        Frame ``i`` shows the positions after ``i`` steps; frame 0 is the start
        (the data before any step, or the seeds). For KMeans, frame ``i`` shows
        the data ``X`` (required) coloured by the ``i``-th assignment and the
        centers it produced; frame 0 the initial centers.
    X : array-like of shape (n_samples, n_features), optional
        Data drawn in light grey under the moving points: useful for standard
        mean shift, where the seeds move and the data stay.
    labels : array-like of shape (n_moving_points,), optional
        Colours of the moving points; for a fitted estimator, by default the
        cluster each point ends in.
    interval : int, default=500
        Milliseconds between frames.
    figsize : (float, float), default=(6, 6)
    s : float, default=6
        Marker size.

    Returns
    -------
    ShiftAnimation
        A matplotlib `FuncAnimation`: ``.save`` it (or use `save_animation`, which
        picks GIF, MP4 or HTML from the file name); in a notebook it plays inline.
    """
    if hasattr(source, "labels_history_"):  # KMeans: the data recoloured, the centers moving
        return _animate_kmeans(source, X, interval=interval, figsize=figsize, s=s)
    if hasattr(source, "cluster_centers_"):
        if not hasattr(source, "history_"):
            raise ValueError("the estimator has no history_: fit it with record_history=True")
        frames = source.history_
        centers = source.cluster_centers_
        if labels is None:
            labels = source.predict(frames[-1])
    else:
        frames, centers = list(source), None
    if not frames:
        raise ValueError("nothing to animate: the history is empty")
    frames = [np.asarray(f, dtype=np.float64) for f in frames]
    projected = to_2d(np.concatenate(frames), *(None if A is None else A for A in (X, centers)))
    flat, back, C = projected[0], projected[1], projected[2]
    assert flat is not None
    sizes = np.cumsum([0] + [len(f) for f in frames])
    points = [flat[a:b] for a, b in itertools.pairwise(sizes)]
    lo, hi = flat.min(0), flat.max(0)
    pad = 0.05 * (hi - lo) + 1e-9
    fig, ax = plt.subplots(figsize=figsize)

    def draw(i: int) -> None:
        ax.clear()  # the lesson's point: without it every frame lands on the last one
        if back is not None:
            ax.scatter(back[:, 0], back[:, 1], s=s, c="lightgrey")
        plot_data(points[i], labels, C if i == len(points) - 1 else None, ax=ax, s=s)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_title("start" if i == 0 else f"step {i}")

    anim = ShiftAnimation(fig, draw, frames=len(points), interval=interval, repeat=True)
    plt.close(fig)  # shown through the animation, not as a stray static figure
    return anim


def _animate_kmeans(
    km: Any, X: Any, *, interval: int, figsize: tuple[float, float], s: float
) -> ShiftAnimation:
    """KMeans one iteration per frame: points coloured by their assignment, centers (crosses) moving."""
    if X is None:
        raise ValueError("animating KMeans needs the data: animate(km, X=X)")
    data = np.asarray(X, dtype=np.float64)
    history = [np.asarray(c, dtype=np.float64) for c in km.history_]
    label_frames = [None, *km.labels_history_]
    if km.labels_history_ and len(data) != len(km.labels_history_[0]):
        raise ValueError(f"X has {len(data)} rows; the fit had {len(km.labels_history_[0])}")
    projected = to_2d(data, np.concatenate(history))
    flat, C = projected[0], projected[1]
    assert flat is not None and C is not None
    k = len(history[0])
    centers = [C[i * k : (i + 1) * k] for i in range(len(history))]
    lo, hi = np.minimum(flat.min(0), C.min(0)), np.maximum(flat.max(0), C.max(0))
    pad = 0.05 * (hi - lo) + 1e-9
    fig, ax = plt.subplots(figsize=figsize)

    def draw(i: int) -> None:
        ax.clear()
        labels = label_frames[i]
        if labels is None:
            ax.scatter(flat[:, 0], flat[:, 1], s=s, c="lightgrey")
        else:
            plot_data(flat, labels, None, ax=ax, s=s)
        _mark_centers(ax, centers[i])
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        ax.set_title("initial centers" if i == 0 else f"iteration {i}")

    anim = ShiftAnimation(fig, draw, frames=len(history), interval=interval, repeat=True)
    plt.close(fig)
    return anim


# matplotlib's player draws its buttons with Font Awesome from a CDN: offline they were blank. Text
# symbols instead, from the geometric shapes every font has (the media-control block U+23ED..U+23F8
# drew empty boxes in headless Chromium); the flipped play first: it holds the plain one's class.
_BUTTONS = (
    ('<i class="fa fa-play fa-flip-horizontal"></i>', "&#9664;"),
    ('<i class="fa fa-fast-backward"></i>', "|&#9664;&#9664;"),
    ('<i class="fa fa-step-backward"></i>', "|&#9664;"),
    ('<i class="fa fa-pause"></i>', "||"),
    ('<i class="fa fa-play"></i>', "&#9654;"),
    ('<i class="fa fa-step-forward"></i>', "&#9654;|"),
    ('<i class="fa fa-fast-forward"></i>', "&#9654;&#9654;|"),
    ('<i class="fa fa-minus"></i>', "&minus;"),
    ('<i class="fa fa-plus"></i>', "+"),
)


def _offline(html: str) -> str:
    """matplotlib's HTML player with nothing loaded from the network."""
    import re

    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", html)
    for icon, text in _BUTTONS:
        html = html.replace(icon, text)
    return html


def save_animation(anim: FuncAnimation, path: str | os.PathLike[str], *, fps: int | None = None) -> Path:
    """Save ``anim`` as GIF (pillow), MP4 (imageio-ffmpeg) or a self-contained HTML page, by suffix.

    The file is written to a temporary name beside ``path`` and renamed into
    place, so an interrupted save leaves no half-written file.

    Raises
    ------
    ValueError
        For another suffix, or ``fps`` that is not a positive number.
    ImportError
        For MP4 without the optional extra ``shiftkit[video]`` (imageio-ffmpeg).
    """
    if fps is not None:
        number_in(0, 1000, low_open=True, wording="a number of frames per second in (0, 1000]").check(
            "fps", fps
        )
    target = Path(path)
    suffix = target.suffix.lower()
    interval = getattr(anim, "_interval", 500)
    fps = fps if fps is not None else max(1, round(1000 / interval))
    if suffix == ".html":
        html = _offline(anim.to_jshtml(fps=fps))
        with atomic_write(target) as f:
            f.write(html)
        return target
    if suffix == ".gif":
        writer: Any = PillowWriter(fps=fps)
    elif suffix == ".mp4":
        try:
            import imageio_ffmpeg
        except ImportError:
            raise ImportError("writing MP4 needs imageio-ffmpeg: pip install 'shiftkit[video]'") from None
        plt.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        writer = FFMpegWriter(fps=fps)
    else:
        raise ValueError(f"cannot save an animation as {target.name!r}: use .gif, .mp4 or .html")
    with atomic_path(target) as tmp:
        anim.save(tmp, writer=writer)
    return target
