"""The DBSCAN estimator and the dbscan function.

Neighborhoods are never materialised. In few dimensions (at most 3) on the
CPU the points are binned on a grid of cells of side ``eps / sqrt(d)``, so
that a cell's points are all within ``eps`` of each other: a cell holding
``min_samples`` makes its points core without computing a distance, a cell's
core points are one cluster at once, and two cells are joined as soon as one
core pair across them is within ``eps`` (Gunawan 2013; Gan & Tao 2015). Counts,
links and borders are compiled loops (numba) that stop as soon as they know.
Otherwise (more features, or a GPU) the counts and the core pairs are found
block by block from one matrix product per block, within the memory budget,
and the core pairs are joined by union-find as they come.

The result is scikit-learn's: the same core points and the same clusters of
core points, numbered in order of their first core point; a border point (not
core, within ``eps`` of a core point) joins the cluster with the smallest
number among those of its core neighbors, which is the one scikit-learn's
breadth-first expansion reaches first. Distances are computed in float64 on
the data centered and scaled by a power of two (exact for data on a lattice).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from torch import Tensor

from shiftkit._array import to_numpy
from shiftkit._ops import DEFAULT_MEMORY_BUDGET, row_chunks
from shiftkit._validation import Rule, check_bandwidth, check_params, check_weights, number_in, one_of
from shiftkit.cluster._base import MEMORY_BUDGET_RULE, N_JOBS_RULE, Frame, TensorInputMixin, cpu_threads
from shiftkit.neighbors.cells import SortedCells, fits

__all__ = ["DBSCAN", "dbscan"]

# The grid pays in few dimensions: a cell's neighborhood is 25 cells in 2-D, 125 in 3-D, 841 in 4-D.
MAX_GRID_FEATURES = 3

PARAMETER_RULES: dict[str, Rule] = {
    "min_samples": number_in(0, math.inf, low_open=True, wording="a number > 0"),
    "metric": one_of("euclidean", "precomputed"),
    "algorithm": one_of("auto", "grid", "brute", "index"),
    "neighbor_index": Rule(
        lambda v: v is None or all(hasattr(v, a) for a in ("fit", "radius_neighbors")),
        "None or a neighbor index (with fit and radius_neighbors)",
    ),
    "memory_budget": MEMORY_BUDGET_RULE,
    "n_jobs": N_JOBS_RULE,
}


class DBSCAN(TensorInputMixin, ClusterMixin, BaseEstimator):
    """Density-based clustering (DBSCAN): clusters are dense regions, the rest is noise (label -1).

    Parameters
    ----------
    eps : float, default=0.5
        The radius of a neighborhood (inclusive: a point at exactly ``eps`` counts).
    min_samples : float, default=5
        Weight (number of points, without ``sample_weight``) within ``eps`` of a
        point, itself included, that makes it a core point.
    metric : {'euclidean', 'precomputed'}, default='euclidean'
        'precomputed': ``X`` is the (n, n) matrix of distances, dense or sparse
        (a sparse one's stored entries are the only distances known: a radius
        graph of radius ``eps`` or more gives the dense result; each point is its
        own neighbor whether its diagonal is stored or not), as scikit-learn reads it.
    algorithm : {'auto', 'grid', 'brute', 'index'}, default='auto'
        'grid': cells of side ``eps / sqrt(d)`` (CPU, at most 3 features).
        'brute': blocks of the distance matrix, within ``memory_budget`` (any
        device, any dimension; quadratic time). 'index': the neighborhoods of a
        block of rows at a time from ``neighbor_index`` (sub-quadratic with an approximate
        index such as `shiftkit.neighbors.LSHIndex`, which may miss neighbors:
        then points may lose core status and clusters may split). 'auto': the
        index when one is given, else the grid when it applies, else brute force.
    neighbor_index : neighbor index, default=None
        With ``algorithm='index'`` or ``'auto'``: an unfitted index from
        `shiftkit.neighbors` (None with 'index': ``LSHIndex()``); a copy of it is
        fitted on the data (centered and scaled), the parameter stays unfitted.
    device : str or torch.device, default=None
        Where the brute-force path computes (the grid runs on the CPU).
    memory_budget : int, default=256 MiB
        Bytes of temporaries per block.
    n_jobs : int, default=None
        CPU threads (None: torch's setting; -1: every core).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each point; -1 for noise.
    core_sample_indices_ : ndarray of shape (n_core_samples,)
        Indices of the core points, increasing.
    components_ : ndarray or sparse matrix of shape (n_core_samples, n_features) or None
        The core points (their rows of ``X``: sparse when ``X`` is; None from
        files read by Dask workers, whose rows never come to the client).
    algorithm_ : str
        The path taken ('grid', 'brute' or 'index'; 'precomputed'; 'dask-slabs' from
        `shiftkit.distributed.fit`).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Examples
    --------
    >>> import numpy as np
    >>> from shiftkit import DBSCAN
    >>> X = np.array([[1, 2], [2, 2], [2, 3], [8, 7], [8, 8], [25, 80]])
    >>> DBSCAN(eps=3, min_samples=2).fit(X).labels_
    array([ 0,  0,  0,  1,  1, -1])
    """

    dtype = "float64"  # distances are always computed in float64

    def __init__(
        self,
        eps: float = 0.5,
        *,
        min_samples: float = 5,
        metric: str = "euclidean",
        algorithm: str = "auto",
        neighbor_index: Any = None,
        device: Any = None,
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        n_jobs: int | None = None,
    ) -> None:
        self.eps = eps
        self.min_samples = min_samples
        self.metric = metric
        self.algorithm = algorithm
        self.neighbor_index = neighbor_index
        self.device = device
        self.memory_budget = memory_budget
        self.n_jobs = n_jobs

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> DBSCAN:
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each point in the counts (a point of weight >= ``min_samples``
            is core by itself; weight 0 counts for nothing; a negative weight
            takes from its neighbors' counts, as scikit-learn defines it).

        Returns
        -------
        self : DBSCAN
        """
        check_params(self, PARAMETER_RULES)
        eps = check_bandwidth(self.eps, "eps")
        if self.metric == "precomputed":
            return self._fit_precomputed(X, eps, sample_weight)
        given_sparse = sp.csr_matrix(X) if sp.issparse(X) else None
        if given_sparse is not None:  # features in a sparse matrix: the distances need them dense
            X = given_sparse.toarray()
        with cpu_threads(self.n_jobs):
            X64, _ = self._validate_X64(X, reset=True)
            n = X64.shape[0]
            w = _weights(sample_weight, n, X64.device)
            frame = Frame.fit(X64, compute=torch.float64, output=torch.float64)
            X_c = frame.to(X64)
            eps_c = eps / frame.scale
            algorithm = self._algorithm(X_c, eps_c, negative_weights=w is not None and bool((w < 0).any()))
            # distances compared with eps as scikit-learn compares them: float64 differences of the input's
            # coordinates (where their squares neither overflow nor underflow; else of the frame's, exact too)
            raw = _can_square(X64, eps)
            X_cmp, eps_cmp = (X64, eps) if raw else (X_c, eps_c)
            if algorithm == "grid":
                w_cpu = None if w is None else w.cpu()
                core, labels = _grid(X_c.cpu(), w_cpu, eps_c, float(self.min_samples), X_cmp.cpu(), eps_cmp)
            elif algorithm == "index":
                index, budget = self._fitted_index(X_c), int(self.memory_budget)
                core, labels = _indexed(X_c, w, eps_c, float(self.min_samples), index, budget)
            else:
                budget = int(self.memory_budget)
                core, labels = _brute(X_c, w, eps_c, float(self.min_samples), budget, X_cmp, eps_cmp)
        core_indices = np.flatnonzero(core)
        if given_sparse is not None:  # sparse in, sparse out, as scikit-learn gives them
            components = given_sparse[core_indices].copy()
        else:
            components = to_numpy(X64)[core_indices].copy()
        return self._store_fit(algorithm, labels, core_indices, components)

    def _store_fit(
        self,
        algorithm: str,
        labels: np.ndarray,
        core_indices: np.ndarray,
        components: Any,
        n_features_in: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> DBSCAN:
        """The one writer of the fitted attributes (this fit's and `shiftkit.distributed`'s: it gives the
        width of the rows it never saw here, and its own records, ``extra``)."""
        if n_features_in is not None:
            self.n_features_in_ = n_features_in
        self.algorithm_ = algorithm
        self.labels_ = labels
        self.core_sample_indices_ = core_indices
        self.components_ = components
        for name, value in (extra or {}).items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # features densified; a sparse matrix of distances read as it is
        return tags

    def _fit_precomputed(self, X: Any, eps: float, sample_weight: Any) -> DBSCAN:
        """DBSCAN on a matrix of distances: each row's neighbors are its entries at most ``eps``."""
        if sp.issparse(X):
            D = sp.csr_matrix(X, dtype=np.float64, copy=True)  # never the caller's matrix
            if D.ndim != 2 or D.shape[0] != D.shape[1]:
                raise ValueError(f"metric='precomputed' needs a square matrix of distances, got {D.shape}")
            if not np.isfinite(D.data).all() or (D.data < 0).any():
                raise ValueError("the precomputed distances must be finite and non-negative")
            self.n_features_in_ = D.shape[1]
            n = D.shape[0]
            diagonal = D.diagonal()
            D.setdiag(diagonal)  # every point is its own neighbor, its diagonal stored or not
            D.sort_indices()

            def neighborhoods(s: slice) -> tuple[np.ndarray, np.ndarray]:
                block = D[s]
                keep = block.data <= eps
                row = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
                counts = np.bincount(row[keep], minlength=block.shape[0])
                return np.concatenate([[0], np.cumsum(counts)]), block.indices[keep].astype(np.int64)

            components: Any = D
        else:
            D_t = self._validate_X(X, reset=True, dtype=torch.float64)
            if D_t.shape[0] != D_t.shape[1]:
                raise ValueError(
                    f"metric='precomputed' needs a square matrix of distances, got {tuple(D_t.shape)}"
                )
            if bool((D_t < 0).any()):
                raise ValueError("the precomputed distances must be non-negative")
            n = D_t.shape[0]
            dense = to_numpy(D_t)

            def neighborhoods(s: slice) -> tuple[np.ndarray, np.ndarray]:
                within = dense[s] <= eps
                within[np.arange(s.stop - s.start), np.arange(s.start, s.stop)] = True
                rows, cols = np.nonzero(within)
                counts = np.bincount(rows, minlength=s.stop - s.start)
                return np.concatenate([[0], np.cumsum(counts)]), cols.astype(np.int64)

            components = dense
        w = _weights(sample_weight, n, torch.device("cpu"))
        rows = max(1, min(n, int(self.memory_budget) // max(1, 16 * n)))
        core, labels = _from_neighborhoods(n, w, float(self.min_samples), neighborhoods, rows)
        core_indices = np.flatnonzero(core)
        return self._store_fit("precomputed", labels, core_indices, components[core_indices].copy())

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def _fitted_index(self, X_c: Tensor) -> Any:
        """A copy of ``neighbor_index`` (the parameter stays unfitted), or an `LSHIndex`, fitted on the framed
        data."""
        if self.neighbor_index is None:
            from shiftkit.neighbors import LSHIndex

            return LSHIndex().fit(X_c)
        return copy.deepcopy(self.neighbor_index).fit(X_c)

    def _algorithm(self, X_c: Tensor, eps_c: float, negative_weights: bool = False) -> str:
        """The path: ``algorithm``, checked, or the one 'auto' takes. The grid's shortcut (a cell that holds
        ``min_samples`` makes its points core) needs weights of at least 0."""
        n, d = X_c.shape
        side = _side(eps_c, d)
        grid_ok = d <= MAX_GRID_FEATURES and n > 0 and fits(X_c, side) and X_c.device.type == "cpu"
        grid_ok = grid_ok and not negative_weights
        if self.algorithm == "grid":
            if negative_weights:
                raise ValueError("algorithm='grid' needs sample weights of at least 0: use 'brute' or 'auto'")
            if d > MAX_GRID_FEATURES:
                raise ValueError(
                    f"algorithm='grid' works with at most {MAX_GRID_FEATURES} features, X has {d}: "
                    "use 'brute' or 'auto'"
                )
            if not fits(X_c, side):
                raise ValueError(
                    f"eps={self.eps!r} is too small for the data's extent: the grid has too many cells"
                )
            return "grid"
        if self.algorithm in ("brute", "index"):
            return str(self.algorithm)
        if self.neighbor_index is not None:  # an index given is an index to use
            return "index"
        return "grid" if grid_ok else "brute"


# The cell's diagonal is this much under eps: rounding in the binning cannot push two points of one cell
# beyond eps.
_SHRINK = 1 - 2.0**-20


def _side(eps: float, d: int) -> float:
    """The cell side: ``eps / sqrt(d)``, a little less."""
    return eps / math.sqrt(max(d, 1)) * _SHRINK


def _reach(d: int) -> np.ndarray:
    """Offsets of the cells that can hold a point within ``eps`` of a point of a cell: (m, d) integers.

    The closest points of two cells ``o`` apart are ``sum(max(|o_i| - 1, 0)^2)`` squared sides apart;
    a side is ``eps / sqrt(d)`` shrunk, so the bound is ``d / shrink^2`` (a little over ``d``: in 1-D,
    two points exactly ``eps`` apart can be two cells apart).
    """
    limit = d / _SHRINK**2
    r = math.ceil(math.sqrt(limit))
    out = [
        o
        for o in itertools.product(range(-r, r + 1), repeat=d)
        if sum(max(abs(v) - 1, 0) ** 2 for v in o) <= limit
    ]
    return np.array(out, dtype=np.int64)


def _cluster_numbers(first_core: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Number the sets (roots) by their smallest first-core index: ``first_core[i]`` is the smallest index
    of a core point in element ``i`` (or -1 for none); returns each element's cluster number (-1: none)."""
    has = first_core >= 0
    big = np.iinfo(np.int64).max
    first_of_root = np.full(len(root), big, dtype=np.int64)
    np.minimum.at(first_of_root, root[has], first_core[has])
    roots_used = np.flatnonzero(first_of_root < big)
    order = roots_used[np.argsort(first_of_root[roots_used], kind="stable")]
    number_of_root = np.full(len(root), -1, dtype=np.int64)
    number_of_root[order] = np.arange(len(order))
    out = np.where(has, number_of_root[root], -1)
    return out


def _can_square(X64: Tensor, eps: float) -> bool:
    """Whether squared differences of the input's coordinates, and ``eps ** 2``, are safe in float64."""
    if X64.numel() == 0:
        return True
    largest = float(X64.abs().max()) * math.sqrt(X64.shape[1])
    return 1e-140 < eps < 1e140 and largest < 1e140


def _grid(
    X: Tensor, w: Tensor | None, eps: float, min_samples: float, X_cmp: Tensor, eps_cmp: float
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN on a cell grid (CPU, float64): (core mask, labels) in the input's order. The cells come
    from ``X`` and ``eps``; distances are compared on ``X_cmp`` (the same rows) with ``eps_cmp``."""
    from shiftkit.cluster._dbscan import _kernels as K  # numba: loaded on first use

    n, d = X.shape
    weights = torch.ones(n, dtype=torch.float64) if w is None else w
    cells = SortedCells(X, weights, _side(eps, d))
    order = cells.order.numpy()
    starts, counts = cells.starts.numpy(), cells.counts.numpy()
    ws = cells.weights.numpy() if cells.weights is not None else np.ones(n)
    Xs = np.ascontiguousarray(X_cmp.double().numpy()[order])
    home = cells.coords[cells.order[cells.starts]]  # (k, d): each occupied cell's coordinates
    offsets = torch.as_tensor(_reach(d))
    n_cells = len(starts)
    nbr = np.full((n_cells, len(offsets)), -1, dtype=np.int64)
    for o, offset in enumerate(offsets):
        nb = home + offset
        inside = ((nb >= cells.lo) & (nb <= cells.hi)).all(1)
        keys = cells.keys(nb.clamp(cells.lo, cells.hi))
        pos = torch.searchsorted(cells.occupied, keys).clamp_max_(n_cells - 1)
        nbr[:, o] = torch.where(inside & (cells.occupied[pos] == keys), pos, -1).numpy()
    cell_weight = np.add.reduceat(ws, starts) if n else np.zeros(0)
    eps2 = eps_cmp * eps_cmp
    core = K.grid_core(Xs, ws, starts, counts, cell_weight, nbr, eps2, min_samples)
    has_core = np.logical_or.reduceat(core, starts) if n else np.zeros(0, dtype=bool)
    linked = K.grid_links(Xs, core, starts, counts, has_core, nbr, eps2)
    src, col = np.nonzero(linked)
    parent = np.arange(n_cells, dtype=np.int64)
    K.union_pairs(parent, src.astype(np.int64), nbr[src, col])
    root = K.roots(parent)
    # each cell's smallest original index among its core points
    big = np.iinfo(np.int64).max
    first_core = np.full(n_cells, big, dtype=np.int64)
    cell_of = np.repeat(np.arange(n_cells), counts)
    np.minimum.at(first_core, cell_of[core], order[core])
    first_core[first_core == big] = -1
    cell_label = _cluster_numbers(first_core, root)
    labels_sorted = K.grid_borders(Xs, core, starts, counts, has_core, nbr, eps2, cell_label)
    labels = np.empty(n, dtype=np.int64)
    labels[order] = labels_sorted
    core_mask = np.empty(n, dtype=bool)
    core_mask[order] = core
    return core_mask, labels


def _within(
    X: Tensor, x2: Tensor, eps2: float, a: Tensor, b: Tensor | None, X_cmp: Tensor, eps2_cmp: float
) -> Tensor:
    """``(len(a), len(b))``: whether rows ``a`` and ``b`` of ``X`` (all rows for None) are within eps.

    The block comes from ``|x|^2 - 2 x.y + |y|^2``, fast but off by rounding (the point itself could fall
    outside a small eps); pairs within that rounding of eps are decided again from the differences of
    ``X_cmp`` (squared, summed, compared with ``eps2_cmp``), as scikit-learn decides them."""
    B = X if b is None else X[b]
    b2 = x2 if b is None else x2[b]
    D = torch.addmm(b2[None, :], X[a], B.T, alpha=-2.0).add_(x2[a, None])
    # the rounding of the expansion is at most a few d ulps of |x|^2 + |y|^2: one bound for the block
    largest = float(x2[a].max()) + float(b2.max()) if len(a) and len(b2) else 0.0
    slack = (largest + eps2) * 4.0 * X.shape[1] * torch.finfo(X.dtype).eps
    inside = D <= eps2 - slack
    i, j = torch.nonzero(D.sub_(eps2).abs_() <= slack, as_tuple=True)
    if len(i):
        rows_a, rows_b = a[i], j if b is None else b[j]
        exact = (X_cmp[rows_a].double() - X_cmp[rows_b].double()).square().sum(1) <= eps2_cmp
        inside[i, j] = exact.to(inside.device)
    return inside


def _brute(
    X: Tensor,
    w: Tensor | None,
    eps: float,
    min_samples: float,
    memory_budget: int,
    X_cmp: Tensor,
    eps_cmp: float,
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN from blocks of the distance matrix (torch, any device; union-find on the CPU); distances
    near ``eps`` decided on ``X_cmp`` with ``eps_cmp`` (`_within`)."""
    from shiftkit.cluster._dbscan import _kernels as K

    n = X.shape[0]
    x2 = X.square().sum(1)
    eps2, eps2_cmp = eps * eps, eps_cmp * eps_cmp
    X_cmp = X_cmp.to(X.device)
    rows = max(1, memory_budget // max(1, n * 24))
    every = torch.arange(n, device=X.device)

    def within(s: slice) -> Tensor:
        return _within(X, x2, eps2, every[s], None, X_cmp, eps2_cmp)

    weight = torch.ones(n, dtype=torch.float64, device=X.device) if w is None else w
    total = torch.empty(n, dtype=torch.float64, device=X.device)
    for s in row_chunks(n, rows):
        total[s] = within(s).double() @ weight
    core = total >= min_samples
    core_idx = torch.nonzero(core).flatten()
    parent = np.arange(n, dtype=np.int64)
    for s in row_chunks(len(core_idx), rows):
        i, j = torch.nonzero(_within(X, x2, eps2, core_idx[s], core_idx, X_cmp, eps2_cmp), as_tuple=True)
        i = i + s.start
        keep = j > i  # each core pair once
        K.union_pairs(parent, to_numpy(core_idx[i[keep]]), to_numpy(core_idx[j[keep]]))
    root = K.roots(parent)
    core_np = to_numpy(core)
    first_core = np.where(core_np, np.arange(n), -1)
    numbers = _cluster_numbers(first_core, root)  # each core point's cluster; -1 elsewhere
    labels = numbers.copy()
    lab_t = torch.as_tensor(np.where(core_np, numbers, n), device=X.device)  # non-core columns: n (none)
    border = torch.nonzero(~core).flatten()
    for s in row_chunks(len(border), rows):
        q = border[s]
        best = torch.where(_within(X, x2, eps2, q, None, X_cmp, eps2_cmp), lab_t[None, :], n).amin(1)
        labels[to_numpy(q)] = to_numpy(torch.where(best < n, best, -1))
    return core_np, labels


def _indexed(
    X: Tensor, w: Tensor | None, eps: float, min_samples: float, index: Any, memory_budget: int
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN from a neighbor index's radius neighborhoods, a block of rows at a time."""
    rows = max(1, min(X.shape[0], memory_budget // max(1, 64 * X.shape[1] * X.element_size())))

    def neighborhoods(s: slice) -> tuple[np.ndarray, np.ndarray]:
        nb = index.radius_neighbors(X[s], eps)  # the query itself is among its own neighbors
        return to_numpy(nb.offsets).astype(np.int64), to_numpy(nb.indices).astype(np.int64)

    return _from_neighborhoods(X.shape[0], w, min_samples, neighborhoods, rows)


def _from_neighborhoods(
    n: int,
    w: Tensor | None,
    min_samples: float,
    neighborhoods: Callable[[slice], tuple[np.ndarray, np.ndarray]],
    rows: int,
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN from the neighborhoods of a block of rows at a time (``neighborhoods(rows)``: CSR offsets and
    indices; each block's are dropped before the next); union-find on the CPU."""
    from shiftkit.cluster._dbscan import _kernels as K

    weight = np.ones(n) if w is None else to_numpy(w).astype(np.float64)
    total = np.empty(n)
    for s in row_chunks(n, rows):
        offsets, idx = neighborhoods(s)
        total[s] = np.add.reduceat(np.append(weight[idx], 0.0), offsets[:-1]) * (np.diff(offsets) > 0)
    core = total >= min_samples
    parent = np.arange(n, dtype=np.int64)
    for s in row_chunks(n, rows):
        offsets, idx = neighborhoods(s)
        src = np.repeat(np.arange(s.start, s.stop), np.diff(offsets))
        keep = core[src] & core[idx] & (idx != src)  # either way: a sparse graph need not be symmetric
        K.union_pairs(parent, src[keep], idx[keep])
    root = K.roots(parent)
    numbers = _cluster_numbers(np.where(core, np.arange(n), -1), root)
    labels = numbers.copy()
    for s in row_chunks(n, rows):
        offsets, idx = neighborhoods(s)
        border = K.min_core_label(offsets, idx, core, numbers, s.stop - s.start)
        labels[s] = np.where(core[s], numbers[s], border)
    return core, labels


def _weights(sample_weight: Any, n: int, device: torch.device) -> Tensor | None:
    """``sample_weight`` checked as scikit-learn's DBSCAN takes it: any finite real, negative included."""
    return check_weights(sample_weight, n, dtype=torch.float64, device=device, allow_negative=True)


def dbscan(
    X: Any, eps: float = 0.5, *, min_samples: float = 5, sample_weight: Any = None, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """DBSCAN as a function: ``(core_sample_indices, labels)``; keyword arguments are `DBSCAN`'s."""
    est = DBSCAN(eps, min_samples=min_samples, **kwargs).fit(X, sample_weight=sample_weight)
    return est.core_sample_indices_, est.labels_
