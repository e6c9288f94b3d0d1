"""DBSCAN on Dask: slabs of the first coordinate with a halo, and the clusters that meet across slabs
joined where ``fit`` is called; the labels scikit-learn's DBSCAN gives, core, border and noise.

The space is cut along the first coordinate into slabs of about ``block_rows``
rows (quantiles of a sample). A worker holds a slab's rows and every row within
``2 eps`` of it along that coordinate (the halo), and runs shiftkit's own
``DBSCAN`` there (the first pass). With sample weights of at least 0 a count can
only fall where rows are missing, so:

- a row of the slab, or of the halo within ``eps`` of it, sees its whole
  ``eps`` neighborhood (it lies within ``2 eps`` of the slab): its core flag is
  the one the whole data give it; a row farther out may be counted short, so it
  is never taken for a core it is not;
- two core rows within ``eps`` of each other, one of them in the slab, are both
  in that slab's data and linked there: every link of the whole data is made in
  some slab, and no slab makes a link the whole data do not have.

So the slabs' clusters are pieces of the true clusters, and two pieces belong
together exactly when one core row is in both (a row of one slab in the halo of
another). Each slab lists its core rows within ``2 eps`` of its edges (the rows
that other slabs' halos hold) and the core rows of its halo, with their pieces;
the lists meet on the workers (a task per slab takes its neighbors' lists), and
the client receives only the distinct pairs of pieces that share a row and each
piece's first core row: it joins the pieces (union-find) and numbers the
clusters in the order of their first core row, as scikit-learn does. A second
pass labels each slab's rows on its worker: a core row its cluster's number,
any other row the smallest number among the core rows within ``eps``
(scikit-learn's order), or -1. The client holds the pieces and their pairs
(numbers by the clusters and the slabs, not by the rows); the labels come
back at the end.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shiftkit import DBSCAN
from shiftkit.neighbors.union_find import roots, union_pairs

# the halo is 2 eps, a little more, so that rounding in a coordinate never leaves a neighbor out (a row
# too many in the halo is harmless: it can only make a count right)
HALO_SLACK = 1 + 1e-9
SAMPLE_PER_BLOCK = 10_000
DBSCAN_STAGES = ("reading", "slabs", "first pass", "joining", "labels")


@dataclass
class SlabFit:
    """The first pass over one slab (kept on its worker)."""

    rows: np.ndarray  # (m, d) the slab's rows and its halo's
    index: np.ndarray  # (m,) their rows in the whole data
    own: np.ndarray  # (m,) bool: in the slab (not the halo)
    core: np.ndarray  # (m,) bool
    piece: np.ndarray  # (m,) the slab's cluster of each core row, -1 elsewhere
    n_pieces: int

    @property
    def own_core(self) -> np.ndarray:
        """(m,) bool: the core rows of the slab itself (their core flags are the whole data's)."""
        return self.own & self.core


def _first_coordinate_sample(X: np.ndarray) -> tuple[int, np.ndarray]:
    """Rows, and at most `SAMPLE_PER_BLOCK` evenly spaced values of the first coordinate (a task)."""
    return X.shape[0], X[:: max(1, X.shape[0] // SAMPLE_PER_BLOCK), 0].copy()


def _slab_bounds(samples: list[np.ndarray], n_slabs: int) -> np.ndarray:
    """The inner edges of ``n_slabs`` slabs of about equal rows, from samples of the first coordinate."""
    pooled = np.concatenate(samples)
    if n_slabs <= 1 or pooled.size == 0:
        return np.zeros(0)
    return np.unique(np.quantile(pooled, np.arange(1, n_slabs) / n_slabs))


def _cut(
    X: np.ndarray, w: np.ndarray | None, offset: int, bounds: np.ndarray, halo: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]:
    """One block's rows per slab (a task): (rows, their index in the whole data, in the slab, weights);
    a row goes to its slab and to every slab within ``halo`` of it along the first coordinate."""
    x0 = X[:, 0]
    home = np.searchsorted(bounds, x0, side="right")
    edges = np.concatenate([[-np.inf], bounds, [np.inf]])
    out = []
    for s in range(len(bounds) + 1):
        near = ((x0 >= edges[s] - halo) & (x0 < edges[s + 1] + halo)) | (home == s)
        rows = np.flatnonzero(near)
        out.append((X[rows], rows + offset, home[rows] == s, None if w is None else w[rows]))
    return out


def _first_pass(pieces: list, eps: float, min_samples: float) -> SlabFit:
    """shiftkit's DBSCAN on a slab and its halo (a task)."""
    rows = np.concatenate([p[0] for p in pieces])
    index = np.concatenate([p[1] for p in pieces])
    own = np.concatenate([p[2] for p in pieces])
    weights = None if pieces[0][3] is None else np.concatenate([p[3] for p in pieces])
    order = np.argsort(index, kind="stable")  # the whole data's order: the same ties as one machine
    rows, index, own = rows[order], index[order], own[order]
    weights = None if weights is None else weights[order]
    core = np.zeros(len(index), dtype=bool)
    piece = np.full(len(index), -1, dtype=np.int64)
    if len(index):
        fitted = DBSCAN(eps=eps, min_samples=min_samples).fit(rows, sample_weight=weights)
        core[fitted.core_sample_indices_] = True
        piece[core] = fitted.labels_[core]
    n_pieces = int(piece.max()) + 1 if len(piece) else 0
    return SlabFit(rows, index, own, core, piece, n_pieces)


def _boundary(fit: SlabFit, lo: float, hi: float, halo: float) -> dict[str, np.ndarray]:
    """The core rows a slab shares with others (a task, kept on its worker): its own within ``halo`` of
    its edges and its halo's, each with its piece."""
    x0 = fit.rows[:, 0]
    shared_own = fit.own_core & ((x0 < lo + halo) | (x0 >= hi - halo))
    halo_core = ~fit.own & fit.core
    return {
        "own_index": fit.index[shared_own],
        "own_piece": fit.piece[shared_own],
        "halo_index": fit.index[halo_core],
        "halo_piece": fit.piece[halo_core],
    }


def _pieces(fit: SlabFit) -> np.ndarray:
    """Each piece's first core row of the slab itself (the whole data's largest index where it has none;
    a task): what the client numbers the clusters by."""
    first = np.full(fit.n_pieces, np.iinfo(np.int64).max, dtype=np.int64)
    own_core = fit.own_core
    np.minimum.at(first, fit.piece[own_core], fit.index[own_core])
    return first


def _links(
    mine: dict[str, np.ndarray], start: int, theirs: list[dict[str, np.ndarray]], starts: list[int]
) -> np.ndarray:
    """The distinct pairs of pieces (numbered from ``start`` and ``starts``) that share a core row of this
    slab's halo (a task, on a worker: the boundary rows travel between workers, the pairs to the client)."""
    index = np.concatenate([np.zeros(0, dtype=np.int64), *[t["own_index"] for t in theirs]])
    node = np.concatenate(
        [np.zeros(0, dtype=np.int64), *[s + t["own_piece"] for s, t in zip(starts, theirs)]]
    )
    order = np.argsort(index)
    at = np.searchsorted(index[order], mine["halo_index"])
    found = index[order][np.minimum(at, len(order) - 1)] if len(order) else index
    if len(mine["halo_index"]) and not np.array_equal(found, mine["halo_index"]):
        raise RuntimeError("a core row of a halo is not a core row of its slab")  # the reasoning above broken
    pairs = np.stack([start + mine["halo_piece"], node[order][at] if len(order) else node], 1)
    return np.unique(pairs.astype(np.int64), axis=0)


def _numbers(firsts: list[np.ndarray], pairs: np.ndarray) -> list[np.ndarray]:
    """The cluster number of every slab's pieces: the pieces joined by ``pairs`` (union-find), numbered
    in the order of their first core row, as scikit-learn numbers them."""
    starts = np.cumsum([0] + [len(f) for f in firsts])
    parent = np.arange(int(starts[-1]), dtype=np.int64)
    union_pairs(parent, np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1]))
    root = roots(parent)
    first = np.concatenate([np.zeros(0, dtype=np.int64), *firsts])
    big = np.iinfo(np.int64).max
    first_of_root = np.full(len(root), big, dtype=np.int64)
    np.minimum.at(first_of_root, root, first)
    used = np.flatnonzero(first_of_root < big)
    number_of_root = np.full(len(root), -1, dtype=np.int64)
    number_of_root[used[np.argsort(first_of_root[used], kind="stable")]] = np.arange(len(used))
    numbers = number_of_root[root]
    return [numbers[starts[s] : starts[s + 1]] for s in range(len(firsts))]


def _labels(fit: SlabFit, numbers: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slab's own rows' labels (a task): (their indices in the whole data, labels, core flags)."""
    from sklearn.neighbors import KDTree

    labels = np.full(len(fit.index), -1, dtype=np.int64)
    labels[fit.core] = numbers[fit.piece[fit.core]]
    cores = np.flatnonzero(fit.core)
    others = np.flatnonzero(fit.own & ~fit.core)
    if len(cores) and len(others):
        found = KDTree(fit.rows[cores]).query_radius(fit.rows[others], eps * HALO_SLACK)  # candidates
        counts = np.array([len(f) for f in found])
        near = cores[np.concatenate(found).astype(np.int64)]  # (pairs,)
        row = np.repeat(others, counts)
        within = ((fit.rows[near] - fit.rows[row]) ** 2).sum(1) <= eps * eps  # as DBSCAN decides them
        big = np.iinfo(np.int64).max
        best = np.full(len(others), big, dtype=np.int64)
        np.minimum.at(best, np.repeat(np.arange(len(others)), counts), np.where(within, labels[near], big))
        labels[others] = np.where(best < big, best, -1)
    own = fit.own
    return fit.index[own], labels[own], fit.core[own]


def fit_dbscan(
    estimator: DBSCAN,
    blocks: list[Any],
    weights: list[Any] | None,
    client: Any,
    block_rows: int,
    on_stage: Callable[[str], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, int], np.ndarray]:
    """DBSCAN of the rows of ``blocks`` (futures of float64 arrays, in order; ``weights`` the same for
    the sample weights, or None) by slabs (the module docstring): (labels, core row indices, bytes the
    client received per stage, the slabs' inner edges on the first coordinate)."""
    report = on_stage or (lambda name: None)
    eps, min_samples = float(estimator.eps), float(estimator.min_samples)
    halo = 2 * eps * HALO_SLACK
    report(DBSCAN_STAGES[1])
    stats = client.gather([client.submit(_first_coordinate_sample, b, pure=False) for b in blocks])
    n = sum(int(s[0]) for s in stats)
    offsets = np.cumsum([0] + [int(s[0]) for s in stats])
    bounds = _slab_bounds([s[1] for s in stats], max(1, math.ceil(n / block_rows)))
    n_slabs = len(bounds) + 1
    cut = []
    for i, b in enumerate(blocks):
        w = None if weights is None else weights[i]
        cut.append(client.submit(_cut, b, w, int(offsets[i]), bounds, halo, pure=False))
    report(DBSCAN_STAGES[2])
    fits = []
    for s in range(n_slabs):
        pieces = [client.submit(operator.getitem, c, s, pure=False) for c in cut]
        fits.append(client.submit(_first_pass, pieces, eps, min_samples, pure=False))
    report(DBSCAN_STAGES[3])
    edges = np.concatenate([[-np.inf], bounds, [np.inf]])
    shared = [
        client.submit(_boundary, f, edges[s], edges[s + 1], halo, pure=False) for s, f in enumerate(fits)
    ]
    firsts = client.gather([client.submit(_pieces, f, pure=False) for f in fits])
    starts = np.cumsum([0] + [len(f) for f in firsts]).tolist()
    links = []
    for s in range(n_slabs):
        near = [
            t
            for t in range(n_slabs)
            if t != s and edges[t + 1] + halo >= edges[s] and edges[t] - halo <= edges[s + 1]
        ]
        links.append(
            client.submit(
                _links, shared[s], starts[s], [shared[t] for t in near], [starts[t] for t in near], pure=False
            )
        )
    pairs = client.gather(links)
    received = {
        "pieces and the pairs that meet": sum(f.nbytes for f in firsts) + sum(p.nbytes for p in pairs)
    }
    numbers = _numbers(firsts, np.concatenate([np.zeros((0, 2), dtype=np.int64), *pairs]))
    report(DBSCAN_STAGES[4])
    parts = client.gather(
        [client.submit(_labels, f, numbers[s], eps, pure=False) for s, f in enumerate(fits)]
    )
    labels = np.full(n, -1, dtype=np.int64)
    core = np.zeros(n, dtype=bool)
    for index, lab, is_core in parts:
        labels[index] = lab
        core[index] = is_core
    received["labels"] = sum(p[0].nbytes + p[1].nbytes + p[2].nbytes for p in parts)
    return labels, np.flatnonzero(core), received, bounds
