"""A layout of a k-nearest-neighbor graph in a few dimensions, where clusters are dense and apart.

In many dimensions a kernel density estimate cannot tell clusters apart (every
distance is about the same); the k-nearest-neighbor graph still can. The layout
moves the points of a few-dimensional space so that each graph edge is short
and unconnected points are apart (the stages: the membership graph,
`membership_graph`; the spectral start, `spectral_start`; the stochastic
gradient loop, `_sgd_kernels.optimize_epochs`), after which the clusters of
the graph are dense regions of the layout, separated by sparse ones, which
mode seeking in few dimensions finds.

Its cost is the graph plus ``n_epochs`` passes over the edges: about 0.1 s per
1,000 points in five dimensions at 500 epochs, on one core.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from shiftkit._ops import DEFAULT_MEMORY_BUDGET
from shiftkit.embedding._membership import membership_graph
from shiftkit.embedding._spectral import spectral_start
from shiftkit.neighbors import ExactIndex

__all__ = ["graph_layout", "layout_graph"]

# Epochs of the layout's compiled loop per call (`_sgd_kernels.optimize_epochs`): between calls a Ctrl-C is
# heard (the loop holds it for the length of a call: the three layouts of 17,889 rows, 200 epochs each in
# its thread, took 2.8 s with their spectral start, AMD EPYC, two cores).
CHUNK_EPOCHS = 10
# UMAP's epochs are 500 up to 10,000 points, 200 beyond; 200 from 2,500 on here: on the development
# sets (at most 2,310 rows) 200 and 500 give the same mean ARI over six seeds, and at 10,000 rows the
# loop takes 2.2 s instead of 5.6 s (benchmarks/bench_highdim.py --variants). The estimators lay out
# 4,000 rows of larger data by default, 40 times the root of the rows past 10,000 (12,650 of 100,000;
# shiftkit.cluster._spaces): 200 epochs there.
SMALL_GRAPH = 2500


def default_epochs(n_points: int) -> int:
    """500 passes over the edges up to `SMALL_GRAPH` points, 200 beyond."""
    return 500 if n_points <= SMALL_GRAPH else 200


def layout_graph(
    W: sp.csr_matrix,
    coordinates: np.ndarray,
    *,
    n_components: int,
    n_epochs: int | None = None,
    seed: int = 0,
    runs: int = 1,
    threads: int | None = None,
) -> np.ndarray:
    """The layout of the symmetric weighted graph ``W`` (n x n); (n, runs * n_components), float64.

    ``coordinates`` (n, n_features) are the points' coordinates in the data: they
    place the graph's connected components at the start. ``runs``: that many
    layouts from the same start, of the seeds ``seed``, ``seed + 1``, ..., side by
    side (run ``r`` in columns ``r * n_components`` on), computed in up to
    ``threads`` threads (None: one per run, or one where torch uses one); each is the
    same whatever the threads.
    """
    n = W.shape[0]
    epochs = default_epochs(n) if n_epochs is None else int(n_epochs)
    start = spectral_start(W, n_components, coordinates)
    if n < 2 or W.nnz == 0 or epochs == 0:
        return np.concatenate([start] * runs, axis=1)
    from shiftkit.embedding._sgd_kernels import layout_state, optimize_epochs

    edges = W.tocoo()
    keep = edges.data >= edges.data.max() / epochs  # edges sampled less than once in the run: dropped
    head, tail, weight = edges.row[keep].astype(np.int64), edges.col[keep].astype(np.int64), edges.data[keep]
    per_sample = weight.max() / weight
    stop = threading.Event()

    def one(run: int) -> np.ndarray:
        Y = np.array(start, dtype=np.float64, order="C", copy=True)  # each run moves its own copy
        state = layout_state(per_sample, seed + run)
        for first in range(0, epochs, CHUNK_EPOCHS):
            if stop.is_set():  # the caller was interrupted: this layout is dropped
                break
            last = min(first + CHUNK_EPOCHS, epochs)
            optimize_epochs(Y, head, tail, per_sample, *state, first, last, epochs)
        return Y

    if threads is None:
        # a thread per run wherever torch may use more than one: the system shares the cores among them
        # (three runs on 2 cores: 0.64 s where two threads, one run after two, took 0.77 s; 4,000 rows)
        threads = runs if torch.get_num_threads() > 1 else 1
    workers = max(1, min(runs, threads))
    if workers == 1:
        return np.concatenate([one(run) for run in range(runs)], axis=1)
    with ThreadPoolExecutor(workers) as pool:  # the loop releases the GIL
        try:
            return np.concatenate(list(pool.map(one, range(runs))), axis=1)
        except BaseException:  # a Ctrl-C (KeyboardInterrupt) in this thread: the runs stop at their next call
            stop.set()
            raise


def knn_of_distinct(X: Tensor, n_neighbors: int, memory_budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``n_neighbors`` nearest other rows of ``X`` (exact), as numpy arrays (n, k)."""
    distances, indices = ExactIndex(memory_budget=memory_budget).fit(X).kneighbors(None, n_neighbors)
    return distances.double().cpu().numpy(), indices.cpu().numpy().astype(np.int64)


def graph_layout(
    X: Any,
    *,
    n_components: int = 2,
    n_neighbors: int = 15,
    n_epochs: int | None = None,
    random_state: int = 0,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> np.ndarray:
    """A few-dimensional layout of the rows of ``X`` in which its clusters are dense and apart.

    The exact ``n_neighbors``-nearest-neighbor graph (each row counted among its
    own neighbors, as in UMAP), its membership graph, a spectral start and
    stochastic gradient steps (see the module docstring). Cost: the graph
    (``n^2 x d`` brute force) and the steps (linear in ``n``): meant for up to
    some tens of thousands of rows. Equal rows get equal places.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : int, default=2
    n_neighbors : int, default=15
    n_epochs : int, default=None
        Passes over the edges; None: 500 up to 2,500 distinct rows, else 200.
    random_state : int, default=0
        Seed of the negative samples.
    memory_budget : int, default=256 MiB

    Returns
    -------
    embedding : ndarray of shape (n_samples, n_components)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from shiftkit.embedding import graph_layout
    >>> graph_layout(load_digits().data[:300]).shape
    (300, 2)
    """
    from shiftkit._array import as_tensor
    from shiftkit._rows import distinct_rows

    X_t = as_tensor(X, dtype=torch.float64, device="cpu")
    if X_t.ndim != 2 or X_t.shape[0] < 1:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {tuple(X_t.shape)}")
    if n_components < 1 or n_neighbors < 2:
        raise ValueError(f"n_components must be >= 1 and n_neighbors >= 2, got {n_components}, {n_neighbors}")
    rows = distinct_rows(X_t)
    D = X_t[torch.as_tensor(rows.first)]
    D = (D - D.mean(0)) / max(float(D.std()), 1e-300)
    k = min(n_neighbors - 1, rows.n_distinct - 1)
    if k < 1:
        return np.zeros((X_t.shape[0], n_components))
    distances, indices = knn_of_distinct(D.float(), k, memory_budget)
    W = membership_graph(distances, indices)
    Y = layout_graph(W, D.numpy(), n_components=n_components, n_epochs=n_epochs, seed=random_state)
    return Y[rows.inverse]
