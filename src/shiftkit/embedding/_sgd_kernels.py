"""The numba loop of the graph layout: stochastic gradient steps over the edges, with negative samples.

Imported only when a layout runs (``import shiftkit`` does not import numba);
compiled on first use and cached on disk (``cache=True``).

UMAP's optimiser (McInnes et al. 2018, ``optimize_layout_euclidean``) with the
heavy-tailed similarity ``1 / (1 + d^2)`` (t-SNE's, UMAP's curve at ``a = b = 1``):
each edge is sampled in proportion to its weight and pulls its two ends
together; each sample also pushes its head away from ``NEGATIVE_RATE`` random
points. With ``b = 1`` a step needs no power function: on digits (500 epochs)
this loop took 0.75 s where the same loop with UMAP's curve for ``min_dist=0``
(``b = 0.79``: an ``exp`` and a ``log`` per sample) took 2.4 s (a scratch
comparison, not kept); umap-learn's own layout, under the same mode seeking,
gives the same mean ARI on the development sets (0.431 against 0.422 over six
seeds) in 12x the time (``benchmarks/bench_highdim.py --variants``). One thread,
in a fixed order, with a seeded random stream: the same graph gives the same
layout on every run. (Two threads, each moving its half of the points against
the other half as it stood at the start of the epoch, is deterministic too; it
lost 0.09 ARI on digits and collapsed yeast to 3 clusters: not kept.)
"""

from __future__ import annotations

import numba
import numpy as np

CLIP = 4.0
# Random points each sample of an edge pushes its head away from (UMAP's default).
NEGATIVE_RATE = 5.0
# fastmath without "reassoc": LLVM may not reorder a sum, so a sum over the layout's few coordinates
# does not depend on where the scratch arrays y_j and diff were allocated (with fastmath=True the same
# graph, start and seed gave one of two layouts from run to run, 3 runs in 8 the other one, and
# digits 13 or 14 clusters).
FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}


@numba.njit(cache=True, fastmath=FASTMATH)
def _clip(v: float) -> float:
    return CLIP if v > CLIP else (-CLIP if v < -CLIP else v)


@numba.njit(cache=True)
def layout_state(
    epochs_per_sample: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What `optimize_epochs` carries from one call to the next, at the start: the epochs between an edge's
    negative samples (``NEGATIVE_RATE`` of them per sample; fixed), each edge's next epoch to be sampled
    in, its next negative samples', and the random stream's state (1,) of ``seed``."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x2545F4914F6CDD1D)
    epochs_per_negative = epochs_per_sample / NEGATIVE_RATE
    return epochs_per_negative, epochs_per_sample.copy(), epochs_per_negative.copy(), state


@numba.njit(cache=True, fastmath=FASTMATH, nogil=True)  # layouts of several seeds run in threads
def optimize_epochs(
    Y: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    epochs_per_sample: np.ndarray,
    epochs_per_negative: np.ndarray,
    next_sample: np.ndarray,
    next_negative: np.ndarray,
    state_of_stream: np.ndarray,
    first: int,
    last: int,
    n_epochs: int,
) -> None:
    """Move the rows of ``Y`` (n, dim) in place: the passes ``first`` to ``last - 1`` of ``n_epochs`` over
    the edges ``head -> tail``; ``epochs_per_negative``, ``next_sample``, ``next_negative`` and
    ``state_of_stream`` (`layout_state`) are carried from one call to the next, so that calls over
    consecutive epochs move the rows as one call over them all does (a caller can stop between them: an
    interrupt).

    ``epochs_per_sample[e]``: an edge of the largest weight is sampled every
    epoch, one of half its weight every other epoch.
    """
    n, dim = Y.shape
    n_edges = head.shape[0]
    state = state_of_stream[0]
    n_points = np.uint64(n)
    y_j = np.empty(dim)
    diff = np.empty(dim)
    for epoch in range(first, last):
        rate = 1.0 - epoch / n_epochs
        for e in range(n_edges):
            if next_sample[e] > epoch:
                continue
            j = head[e]
            k = tail[e]
            d2 = 0.0
            for c in range(dim):
                y_j[c] = Y[j, c]
                diff[c] = y_j[c] - Y[k, c]
                d2 += diff[c] * diff[c]
            if d2 > 0.0:
                pull = -2.0 / (1.0 + d2)
                for c in range(dim):
                    step = _clip(pull * diff[c]) * rate
                    y_j[c] += step
                    Y[k, c] -= step
            next_sample[e] += epochs_per_sample[e]
            n_negative = int((epoch - next_negative[e]) / epochs_per_negative[e])
            for _ in range(n_negative):
                # xorshift64*: the next random point, in [0, n) by a multiply-shift
                state ^= state >> np.uint64(12)
                state ^= state << np.uint64(25)
                state ^= state >> np.uint64(27)
                r = (state * np.uint64(2685821657736338717)) >> np.uint64(32)
                other = (r * n_points) >> np.uint64(32)
                d2 = 0.0
                for c in range(dim):
                    diff[c] = y_j[c] - Y[other, c]
                    d2 += diff[c] * diff[c]
                if d2 > 0.0:
                    push = 2.0 / ((0.001 + d2) * (1.0 + d2))
                    for c in range(dim):
                        y_j[c] += _clip(push * diff[c]) * rate
            for c in range(dim):
                Y[j, c] = y_j[c]
            next_negative[e] += n_negative * epochs_per_negative[e]
    state_of_stream[0] = state
