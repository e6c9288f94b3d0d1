"""Image collections: embedded by CLIP, clustered by shiftkit, each cluster named by the phrase banks.

CLIP embeddings are unit vectors, so the Euclidean distance between two of them is
the chord ``sqrt(2 (1 - cos))``: clustering them with Euclidean estimators is
clustering by cosine. Two estimators:

- ``meanshift`` (default): from `SMALL_COLLECTION` images on, `MeanShift()` with
  its defaults, which in 512 dimensions does not estimate a density there
  (distances concentrate: between "every image alone" and "one cluster" lies a
  sliver of bandwidths) but looks at the embeddings first
  (`shiftkit.cluster._spaces`): with three signal axes or fewer, a density on
  them; with more, mode seeking in a layout of the images' 15-nearest-neighbor
  graph. Smaller collections, or with ``dims`` (a number of principal axes) or a
  ``bandwidth`` (a chord there: 0.5 ~ cos 0.875): standard mean shift on the
  first ``dims`` principal axes (`principal_dims`: n / 16, from 2 to 16), seeds at
  every image, with the bandwidth given or the mean distance from an image to its
  third nearest neighbour, so that clusters of four images stand alone (the
  default's graphs have at least five neighbors: 12 images in 3 clusters of 4
  are one cluster to it). ``python benchmarks/bench_image.py`` measures both on
  clusters on the sphere.
- ``kmeans``: spherical k-means (`KMeans(metric='cosine')`) with ``n_clusters``.

A cluster's centre is the mean direction of its images (their mean, normalised),
in the full embedding space; its name is the top phrases of the banks ranked
against that centre, and each image's similarity to its centre orders the
contact sheets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit.bandwidth import local_bandwidth
from shiftkit.cluster import KMeans, MeanShift
from shiftkit.image._encoders import Encoder
from shiftkit.image._files import Skipped, find_images, read_batches
from shiftkit.image._interrogator import Interrogator, Ranked

METHODS = ("meanshift", "kmeans")
NEIGHBORS = 3
"""The default bandwidth is the mean distance from an image to its third nearest neighbour."""


@dataclass
class ImageClusters:
    """An image collection clustered by embedding.

    ``labels[i]`` is the cluster of ``paths[i]``, clusters numbered largest first;
    ``similarity[i]`` the cosine similarity of its embedding to its cluster's
    centre; ``names[k]`` the best phrases for cluster ``k`` (empty without an
    interrogator); ``skipped`` the files that could not be read.
    """

    paths: list[Path]
    embeddings: Tensor
    labels: np.ndarray
    centers: Tensor
    similarity: np.ndarray
    names: list[list[Ranked]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    method: str = "meanshift"

    @property
    def n_clusters(self) -> int:
        return int(self.centers.shape[0])

    def members(self, k: int) -> list[int]:
        """Indices of cluster ``k``'s images, nearest to its centre first."""
        idx = np.flatnonzero(self.labels == k)
        return idx[np.argsort(-self.similarity[idx], kind="stable")].tolist()

    def title(self, k: int, n_phrases: int = 3) -> str:
        """``'cluster k: phrase, phrase, phrase'`` (or just ``'cluster k'``)."""
        names = ", ".join(r.phrase for r in self.names[k][:n_phrases]) if self.names else ""
        return f"cluster {k}: {names}" if names else f"cluster {k}"


def embed_images(
    encoder: Encoder,
    paths: Sequence[Path],
    batch_size: int = 32,
    progress: Callable[[int], Any] | None = None,
) -> tuple[list[Path], Tensor, list[Skipped]]:
    """Embed image files in batches: (the paths read, their (n, d) embeddings, the files skipped).

    ``progress(k)`` is called after each batch with the number of files it took.
    """
    kept: list[Path] = []
    rows: list[Tensor] = []
    skipped: list[Skipped] = []
    for ok, images, bad in read_batches(list(paths), batch_size):
        if images:
            rows.append(encoder.encode_images(images))
            kept += ok
        skipped += bad
        if progress is not None:
            progress(len(ok) + len(bad))
    E = torch.cat(rows) if rows else torch.empty(0, 0)
    return kept, E, skipped


def cluster_embeddings(
    E: Tensor,
    method: str = "meanshift",
    *,
    n_clusters: int | None = None,
    bandwidth: float | None = None,
    dims: int | str | None = "auto",
    random_state: int = 0,
) -> tuple[np.ndarray, Tensor]:
    """Labels (largest cluster 0) and unit centres (k, d) of unit embeddings (n, d): see the module."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not (dims == "auto" or dims is None or (isinstance(dims, int) and dims >= 0)):
        raise ValueError(f"dims must be 'auto', None or a non-negative integer, got {dims!r}")
    if E.ndim != 2 or E.shape[0] == 0:
        raise ValueError("no embeddings to cluster (no image could be read)")
    n = E.shape[0]
    X = E.to(torch.float64).numpy()
    if method == "kmeans":
        if n_clusters is None:
            raise ValueError("method 'kmeans' needs n_clusters")
        if not 1 <= n_clusters <= n:
            raise ValueError(f"n_clusters must be between 1 and the {n} images, got {n_clusters}")
        labels = KMeans(n_clusters, metric="cosine", random_state=random_state, n_init=4).fit(X).labels_
    elif n < 3:
        labels = np.zeros(n, dtype=np.int64)
    elif bandwidth is None and dims == "auto" and n >= SMALL_COLLECTION:
        labels = MeanShift().fit(X).labels_  # the library's default: it chooses where to seek the modes
    else:
        Z = _principal(X, principal_dims(n) if dims == "auto" else dims)  # type: ignore[arg-type]  # checked
        h = local_bandwidth(Z, n_neighbors=min(NEIGHBORS, n - 1)) if bandwidth is None else bandwidth
        labels = MeanShift(bandwidth=h, algorithm="standard").fit(Z).labels_
    labels = _largest_first(np.asarray(labels))
    k = int(labels.max()) + 1
    sums = torch.zeros(k, E.shape[1], dtype=torch.float64).index_add_(0, torch.from_numpy(labels), E.double())
    centers = (sums / sums.norm(dim=1, keepdim=True).clamp_min(1e-300)).to(torch.float32)  # (k, d)
    return labels, centers


# From this many images on, the library's default clusters them (`shiftkit.cluster._spaces`: a graph
# layout needs 50 distinct rows).
SMALL_COLLECTION = 50


def principal_dims(n: int) -> int:
    """Principal axes mean shift uses for ``n`` images: n / 16, between 2 and 16.

    Few images cannot estimate many axes: on 18 images in 3 clusters, 16 axes are
    mostly noise and the clusters merge, 2 find them; on 1,000 images in 50
    clusters, 8 axes merge two of them and 16 find all (benchmarks/bench_image.py).
    """
    return int(min(16, max(2, n // 16)))


def _principal(X: np.ndarray, dims: int | None) -> np.ndarray:
    """X centred and projected on its first ``dims`` principal axes (all of X when dims is None or 0)."""
    if not dims or dims >= min(X.shape):
        return X
    Xc = X - X.mean(axis=0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)  # (min(n, d), d)
    signs = np.sign(Vt[:, np.abs(Vt).argmax(axis=1)].diagonal())  # fix each axis' sign: reproducible
    return Xc @ (Vt[:dims].T * signs[:dims])


def _largest_first(labels: np.ndarray) -> np.ndarray:
    sizes = np.bincount(labels)
    order = np.lexsort((np.arange(sizes.size), -sizes))  # by size, then by first label
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[labels]


def name_clusters(
    interrogator: Interrogator, centers: Tensor, n_phrases: int = 5, banks: Sequence[str] | None = None
) -> list[list[Ranked]]:
    """The ``n_phrases`` best phrases of ``banks`` (default: the positive banks) for each centre."""
    return [interrogator.rank(c, banks, k=n_phrases) for c in centers]


def cluster_images(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    encoder: Encoder,
    *,
    interrogator: Interrogator | None = None,
    method: str = "meanshift",
    n_clusters: int | None = None,
    bandwidth: float | None = None,
    dims: int | str | None = "auto",
    batch_size: int = 32,
    random_state: int = 0,
    progress: Callable[[int], Any] | None = None,
) -> ImageClusters:
    """Embed, cluster and name an image collection (a folder, searched recursively, or a list of files).

    Parameters
    ----------
    source : path-like or sequence of path-like
    encoder : Encoder
    interrogator : Interrogator, optional
        Names the clusters (default: one over ``encoder`` with shiftkit's banks).
    method, n_clusters, bandwidth, dims, random_state
        See `cluster_embeddings`.
    batch_size : int
        Images read and embedded at a time.
    progress : callable, optional
        Called with the number of files done after each batch.
    """
    if isinstance(source, str | os.PathLike):
        paths = find_images(source)
    else:
        paths = [Path(p) for p in source]
    if not paths:
        raise ValueError(f"no image files in {str(source)!r}")
    kept, E, skipped = embed_images(encoder, paths, batch_size, progress)
    labels, centers = cluster_embeddings(
        E, method, n_clusters=n_clusters, bandwidth=bandwidth, dims=dims, random_state=random_state
    )
    similarity = (E * centers[torch.from_numpy(labels)]).sum(dim=1).numpy()
    namer = interrogator if interrogator is not None else Interrogator(encoder)
    names = name_clusters(namer, centers)
    return ImageClusters(kept, E, labels, centers, similarity, names, skipped, method)
