"""The KMeans estimator and the k_means function: validation, frames, n_init, learned attributes."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import Tensor

from shiftkit._array import to_numpy
from shiftkit._ops import DEFAULT_MEMORY_BUDGET, row_chunks, sq_distances
from shiftkit._validation import Rule, check_params, check_weights, integer_at_least, number_in, one_of
from shiftkit.cluster._base import (
    MEMORY_BUDGET_RULE,
    N_JOBS_RULE,
    Frame,
    TensorInputMixin,
    cpu_threads,
    power_of_two_near,
)
from shiftkit.cluster._kmeans._init import kmeans_parallel, kmeans_plusplus_indices, random_indices
from shiftkit.cluster._kmeans._lloyd import assign, hamerly, inertia, lloyd

__all__ = ["KMeans", "KMeansStep", "k_means"]

INITS = ("k-means++", "k-means||", "random")


@dataclass(frozen=True)
class KMeansStep:
    """What a `KMeans` ``callback`` receives after every Lloyd iteration.

    Attributes
    ----------
    iteration : int
        1 after the first iteration.
    centers : ndarray of shape (n_clusters, n_features)
        The centers after this iteration's update, in the input's coordinates.
    labels : ndarray of shape (n_samples,)
        The assignment the update came from.
    inertia : float
        Sum of (weighted) squared distances of the points to the centers they
        were assigned to (the centers before the update).
    center_shift : float
        Total squared distance the centers moved.
    run : int
        Which of the ``n_init`` runs (from 0).
    """

    iteration: int
    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    center_shift: float
    run: int


@dataclass(frozen=True)
class Prepared:
    """What a fit starts from (`KMeans._prepare`; also `shiftkit.distributed`)."""

    X64: Tensor  # (n, d), float64, the input
    X_c: Tensor  # (n, d), in the frame, the computation's dtype
    frame: Frame
    w64: Tensor | None  # (n,), float64
    w_np: np.ndarray  # (n,), the weights (ones) for the random draws
    tol: float  # absolute, in the frame's units
    init: Any  # a name, a callable or an (k, d) float64 array
    n_init: int
    w_unit: float = 1.0  # the weights are w64 * w_unit: a power of two near the largest (float32 holds them)


def _init_rule(v: Any) -> bool:
    if isinstance(v, str):
        return v in INITS
    return callable(v) or hasattr(v, "__len__") or hasattr(v, "shape")


PARAMETER_RULES: dict[str, Rule] = {
    "n_clusters": integer_at_least(1),
    "init": Rule(_init_rule, f"one of {INITS}, an array of shape (n_clusters, n_features) or a callable"),
    "n_init": Rule(
        lambda v: v == "auto" or (isinstance(v, Integral) and not isinstance(v, bool) and int(v) >= 1),
        "'auto' or an integer >= 1",
    ),
    "max_iter": integer_at_least(1),
    "tol": number_in(0, float("inf"), wording="a number >= 0"),
    "metric": one_of("euclidean", "cosine"),
    "algorithm": one_of("auto", "lloyd", "hamerly"),
    "memory_budget": MEMORY_BUDGET_RULE,
    "n_jobs": N_JOBS_RULE,
}


class KMeans(
    ClassNamePrefixFeaturesOutMixin, TensorInputMixin, TransformerMixin, ClusterMixin, BaseEstimator
):
    """K-means clustering (Lloyd's algorithm), in torch: CPU here, CUDA unchanged.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters.
    init : {'k-means++', 'k-means||', 'random'}, array of shape (n_clusters, n_features) or callable, \
default='k-means++'
        'k-means++': greedy k-means++ as scikit-learn (``2 + log(k)`` candidates
        per center; with ``random_state`` and float64 it picks the rows
        scikit-learn picks). 'k-means||': Bahmani et al.'s scalable k-means++,
        5 passes over the data instead of ``n_clusters``. 'random': distinct rows
        drawn by weight. An array: the initial centers. A callable:
        ``init(X, n_clusters, random_state)`` returning the centers.
    n_init : 'auto' or int, default='auto'
        Runs from different initial centers; the one with the lowest inertia
        is kept. 'auto': 1 for 'k-means++', 'k-means||' and an array, 10 otherwise.
    max_iter : int, default=300
        Most Lloyd iterations per run.
    tol : float, default=1e-4
        Stop when the total squared center shift is at most ``tol`` times the
        data's mean variance per feature (scikit-learn's rule); the run stops
        anyway when no label changes.
    algorithm : {'auto', 'lloyd', 'hamerly'}, default='auto'
        'lloyd': every distance every iteration. 'hamerly': the same iterations
        and the same answers, with Hamerly's bounds (2010) sparing the distances
        of the rows that provably keep their center (an upper bound on the
        distance to it, a lower bound on the distance to any other, both
        widened by the rounding of the distances). 'auto': 'hamerly'.
    metric : {'euclidean', 'cosine'}, default='euclidean'
        'cosine': spherical k-means (Dhillon & Modha, 2001) for embeddings: the
        rows are normalised to unit length (a zero row is an error) and every
        center is the normalised mean of its cluster; ``inertia_`` is then the
        sum of ``|x - c|^2 = 2 (1 - cos)``.
    verbose : bool, default=False
        Print the inertia of every iteration (to standard error).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation.
    callback : callable, default=None
        Called with a `KMeansStep` after every iteration.
    record_history : bool, default=False
        Keep the centers after every iteration of the kept run in ``history_``
        and the labels in ``labels_history_`` (for `shiftkit.plot.animate`).
    device : str or torch.device, default=None
        The device of a tensor ``X``, else CUDA when torch sees it, else CPU.
    dtype : {'float32', 'float64'} or None, default='float32'
        Precision of the distances (the data are centered, and scaled by a
        power of two, in float64 first; sums are accumulated in float64).
        None: the input's (float64 for integers).
    memory_budget : int, default=256 MiB
        Bytes of temporaries; no n x k block larger than a few MiB is formed.
    n_jobs : int, default=None
        CPU threads for the fit (None: torch's setting; -1: every core).

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Sum of (weighted) squared distances of the points to their centers,
        computed from explicit differences in float64.
    n_iter_ : int
        Iterations of the kept run.
    history_, labels_history_ : lists of ndarray
        With ``record_history=True``: centers (start, then after every
        iteration) and the labels of every iteration.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)

    Notes
    -----
    The assignment computes ``|c|^2 - 2 x.c`` for a cache-sized block of rows
    with one matrix product and takes each row's minimum in the same pass (a
    compiled kernel on the CPU); rows are added to their center's sum while in
    cache. Empty clusters are relocated as in scikit-learn: each takes one of
    the points farthest from their centers.

    Examples
    --------
    >>> from shiftkit import KMeans
    >>> from shiftkit.datasets import make_lesson_blobs
    >>> X, y, centers = make_lesson_blobs()
    >>> km = KMeans(n_clusters=6, random_state=0).fit(X)
    >>> km.cluster_centers_.shape
    (6, 2)
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: Any = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        algorithm: str = "auto",
        metric: str = "euclidean",
        verbose: bool = False,
        random_state: Any = None,
        callback: Callable[[KMeansStep], Any] | None = None,
        record_history: bool = False,
        device: Any = None,
        dtype: Any = "float32",
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        n_jobs: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.algorithm = algorithm
        self.metric = metric
        self.verbose = verbose
        self.random_state = random_state
        self.callback = callback
        self.record_history = record_history
        self.device = device
        self.dtype = dtype
        self.memory_budget = memory_budget
        self.n_jobs = n_jobs

    # -- fitting ---------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the k-means clustering of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : KMeans
        """
        check_params(self, PARAMETER_RULES)
        with cpu_threads(self.n_jobs):
            if sp.issparse(X):
                return self._fit_sparse(X, sample_weight)
            return self._fit(X, sample_weight)

    def _fit_sparse(self, X: Any, sample_weight: Any) -> KMeans:
        """k-means of sparse rows (`shiftkit.cluster._kmeans._sparse`): float64, numpy and scipy, the
        rows never made dense; Lloyd's iterations (Hamerly's bounds are for dense rows)."""
        from sklearn.utils import check_random_state

        from shiftkit.cluster._kmeans import _sparse

        Xs, x2 = self._sparse_rows(X, reset=True)
        n, d = Xs.shape
        k, budget = int(self.n_clusters), int(self.memory_budget)
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        w64 = check_weights(sample_weight, n, dtype=torch.float64, device=torch.device("cpu"))
        w = np.ones(n) if w64 is None else w64.numpy()
        init, n_init = self._init_and_runs(d)
        self._n_init = n_init  # the runs made (scikit-learn's name)
        if isinstance(init, str) and init == "k-means||":
            raise ValueError(
                "init='k-means||' works on dense rows; with sparse X use 'k-means++' or 'random'"
            )
        tol = 0.0
        if self.tol > 0:  # scikit-learn's: tol times the mean variance per feature
            mean = np.asarray(Xs.mean(0)).ravel()
            tol = float((np.asarray(Xs.multiply(Xs).mean(0)).ravel() - mean * mean).mean()) * float(self.tol)
        rng = check_random_state(self.random_state)
        spherical = self.metric == "cosine"
        best: tuple[float, Any] | None = None
        for _ in range(n_init):
            if isinstance(init, str):
                rows = (
                    _sparse.kmeans_plusplus(Xs, x2, k, w, rng, budget)
                    if init == "k-means++"
                    else random_indices(n, k, w, rng)
                )
                C0 = Xs[rows].toarray()
            else:
                C0 = np.asarray(init(Xs, k, random_state=rng) if callable(init) else init, dtype=np.float64)
                _check_init_shape(C0, k, d)
                if not np.isfinite(C0).all():
                    raise ValueError("init returned centers with NaN or infinity")
                if spherical:
                    C0 = to_numpy(
                        _unit_rows(torch.from_numpy(C0), "metric='cosine' needs nonzero initial centers")
                    )
            fit = _sparse.lloyd(
                Xs, x2, w, C0, max_iter=int(self.max_iter), tol=tol, memory_budget=budget, spherical=spherical
            )
            cost = _sparse.inertia(Xs, x2, fit.centers, fit.labels, w, budget)
            if best is None or (cost < best[0] and not _same_clustering(fit.labels, best[1].labels, k)):
                best = (cost, fit)
        assert best is not None
        cost, fit = best
        output = torch.float32 if X.dtype == np.float32 else torch.float64  # the rows in their own units
        frame = Frame(torch.zeros(d, dtype=torch.float64), 1.0, torch.float64, output)
        return self._store_fit(frame, torch.from_numpy(fit.centers), fit.labels, cost, fit.n_iter)

    def _sparse_rows(self, X: Any, *, reset: bool) -> tuple[Any, np.ndarray]:
        """``X`` as a float64 CSR matrix, checked (finite, 2-D, the fitted width), unit rows for cosine; and
        the squared norm of each row."""
        from shiftkit.cluster._kmeans._sparse import row_sq_norms

        # scikit-learn's checks (shape, width, n_features_in_), the caller's matrix never written into
        Xs = validate_data(
            self, X, accept_sparse="csr", dtype=np.float64, reset=reset, ensure_all_finite=False
        )
        Xs = sp.csr_matrix(Xs)  # a sparse array's row is 1-D: the loops index rows as (1, d) matrices
        if not np.isfinite(Xs.data).all():
            raise ValueError("Input X contains NaN or infinity")
        x2 = row_sq_norms(Xs)
        if self.metric == "cosine":
            if not (x2 > 0).all():
                raise ValueError("metric='cosine' needs nonzero rows: X has a row of zeros")
            Xs = sp.csr_matrix(sp.diags(1.0 / np.sqrt(x2)) @ Xs)
            x2 = row_sq_norms(Xs)
        return Xs, x2

    def _prepare(self, X: Any, sample_weight: Any) -> Prepared:
        """``X`` and the weights checked, the data in the frame, the absolute tolerance, the start."""
        X64, input_dtype = self._validate_X64(X, reset=True)
        n, d = X64.shape
        k = int(self.n_clusters)
        if n < k:
            raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
        w64 = check_weights(sample_weight, n, dtype=torch.float64, device=X64.device)
        # weights in units of a power of two near the largest: 1e39 overflowed float32, 1e-45 vanished in it
        w_unit = 1.0 if w64 is None else power_of_two_near(float(w64.max()))
        w64 = None if w64 is None else w64 / w_unit
        X_c, frame = self._frame_and_data(X64, input_dtype)
        tol = 0.0
        if self.tol > 0:  # scikit-learn's: tol times the mean variance per feature, in the frame's units
            spread = (X64 / frame.scale).var(0, unbiased=False).mean() if self.metric == "euclidean" else None
            tol = float(X_c.double().var(0, unbiased=False).mean() if spread is None else spread) * self.tol
        init, n_init = self._init_and_runs(d)
        self._n_init = n_init  # the runs made (scikit-learn's name)
        w_np = np.ones(n) if w64 is None else w64.cpu().numpy()
        return Prepared(X64, X_c, frame, w64, w_np, tol, init, n_init, w_unit)

    def _fit(self, X: Any, sample_weight: Any) -> KMeans:
        p = self._prepare(X, sample_weight)
        X64, X_c, frame, w64, w_np, tol, init, n_init = (
            p.X64,
            p.X_c,
            p.frame,
            p.w64,
            p.w_np,
            p.tol,
            p.init,
            p.n_init,
        )
        k = int(self.n_clusters)
        rng = check_random_state(self.random_state)
        w = None if w64 is None else w64
        best: tuple[float, Any, Any, int, list | None, list | None] | None = None
        for run in range(n_init):
            C0 = self._initial_centers(X_c, X64, init, frame, w_np, rng)
            history = [frame.out(C0)] if self.record_history else None
            labels_history: list[np.ndarray] | None = [] if self.record_history else None
            loop = lloyd if self.algorithm == "lloyd" else hamerly
            result = loop(
                X_c,
                w,
                C0,
                max_iter=int(self.max_iter),
                tol=tol,
                memory_budget=int(self.memory_budget),
                spherical=self.metric == "cosine",
                on_step=self._step_hook(frame, run, history, labels_history),
            )
            cost = inertia(X_c, result.centers, result.labels, w, int(self.memory_budget))
            labels = to_numpy(result.labels)
            if best is None or (cost < best[0] and not _same_clustering(labels, best[1], k)):
                best = (cost, labels, result.centers, result.n_iter, history, labels_history)
        assert best is not None
        cost, labels, C, n_iter, history, labels_history = best
        return self._store_fit(frame, C, labels, cost * p.w_unit, n_iter, history, labels_history)

    def _store_fit(
        self,
        frame: Frame,
        C: Tensor,
        labels: np.ndarray,
        cost: float,
        n_iter: int,
        history: list | None = None,
        labels_history: list | None = None,
    ) -> KMeans:
        """The one writer of the fitted attributes (the dense, sparse and Dask fits): ``C`` the centers in
        ``frame``, ``cost`` the inertia in the frame's units."""
        k = int(self.n_clusters)
        self._frame = frame
        self._centers = C
        self.cluster_centers_ = frame.out(C)
        self._centers_out = self.cluster_centers_
        self.labels_ = labels
        self.inertia_ = cost * frame.scale * frame.scale  # inf past 1e154, never an OverflowError
        self.n_iter_ = n_iter
        self._n_features_out = k
        if history is not None:
            self.history_, self.labels_history_ = history, labels_history
        else:
            for name in ("history_", "labels_history_"):
                if hasattr(self, name):
                    delattr(self, name)
        _warn_if_fewer(labels, k)
        return self

    def _frame_and_data(self, X64: Tensor, input_dtype: torch.dtype) -> tuple[Tensor, Frame]:
        """The data in the frame the loop runs in: centered and scaled (euclidean), unit rows (cosine)."""
        if self.metric == "cosine":
            unit = _unit_rows(X64, "metric='cosine' needs nonzero rows: X has a row of zeros")
            compute = self._compute_dtype(input_dtype)
            output = torch.float32 if compute == input_dtype == torch.float32 else torch.float64
            frame = Frame(
                torch.zeros(X64.shape[1], dtype=torch.float64, device=X64.device), 1.0, compute, output
            )
            return unit.to(compute), frame
        frame = self._frame_for(X64, input_dtype)
        return frame.to(X64), frame

    def _init_and_runs(self, d: int) -> tuple[Any, int]:
        init = self.init
        is_array = not isinstance(init, str) and not callable(init)
        k = int(self.n_clusters)
        if is_array:
            init = np.asarray(init.detach().cpu() if isinstance(init, Tensor) else init, dtype=np.float64)
            _check_init_shape(init, k, d)
            if not np.isfinite(init).all():
                raise ValueError("init contains NaN or infinity")
        if self.n_init == "auto":
            n_init = 1 if is_array or init in ("k-means++", "k-means||") else 10
        else:
            n_init = int(self.n_init)
        if is_array and n_init != 1:
            warnings.warn(
                f"Explicit initial center position passed: performing only one init in {type(self).__name__} "
                f"instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=4,
            )
            n_init = 1
        return init, n_init

    def _initial_centers(
        self, X_c: Tensor, X64: Tensor, init: Any, frame: Frame, w: np.ndarray, rng: np.random.RandomState
    ) -> Tensor:
        k, budget = int(self.n_clusters), int(self.memory_budget)
        if isinstance(init, str):
            if init == "k-means++":
                return X_c[torch.as_tensor(kmeans_plusplus_indices(X_c, k, w, rng, memory_budget=budget))]
            if init == "random":
                return X_c[torch.as_tensor(random_indices(X_c.shape[0], k, w, rng))]
            return kmeans_parallel(X_c, k, w, rng, memory_budget=budget)
        if callable(init):
            centers = np.asarray(init(to_numpy(X64), k, random_state=rng), dtype=np.float64)
            _check_init_shape(centers, k, X64.shape[1])
            if not np.isfinite(centers).all():
                raise ValueError("init returned centers with NaN or infinity")
            init = centers
        C = torch.as_tensor(init, dtype=torch.float64, device=X_c.device)
        if self.metric == "cosine":
            return _unit_rows(C, "metric='cosine' needs nonzero initial centers").to(X_c.dtype)
        return frame.to(C)

    def _step_hook(
        self, frame: Frame, run: int, history: list | None, labels_history: list | None
    ) -> Callable[[int, Tensor, Tensor, float, float], None] | None:
        if history is None and self.callback is None and not self.verbose:
            return None
        callback, s2 = self.callback, frame.scale * frame.scale

        def on_step(iteration: int, C: Tensor, labels: Tensor, cost: float, shift: float) -> None:
            centers = frame.out(C)
            if history is not None and labels_history is not None:
                history.append(centers)
                labels_history.append(to_numpy(labels).copy())
            if callback is not None:
                callback(KMeansStep(iteration, centers, to_numpy(labels).copy(), cost * s2, shift * s2, run))
            if self.verbose:
                print(f"KMeans run {run} iteration {iteration}: inertia {cost * s2:.6g}", file=sys.stderr)

        return on_step

    # -- using the fit ----------------------------------------------------------------------------------

    def _current_centers(self, as_written: bool = False) -> Tensor:
        """The centers in the frame: the fit's own, or ``cluster_centers_`` as it is now where it was
        reassigned (scikit-learn reads the attribute). ``as_written``: always the attribute taken into
        the frame, so that a row equal to a center lands on it exactly (distance 0)."""
        check_is_fitted(self, "cluster_centers_")
        given = np.asarray(self.cluster_centers_)
        if not as_written and (given is self._centers_out or np.array_equal(given, self._centers_out)):
            return self._centers
        C64 = torch.as_tensor(given, dtype=torch.float64, device=self._frame.origin.device)
        if C64.ndim != 2 or C64.shape[1] != self._centers.shape[1]:
            raise ValueError(
                f"cluster_centers_ must have shape (k, {self._centers.shape[1]}), got {tuple(C64.shape)}"
            )
        if self.metric == "cosine":
            C64 = _unit_rows(C64, "metric='cosine' needs nonzero centers: a row of zeros in cluster_centers_")
            return C64.to(self._centers.dtype).to(self._centers.device)
        return self._frame.to(C64).to(self._centers.device)

    def _framed(self, X: Any) -> Tensor:
        check_is_fitted(self, "cluster_centers_")
        X64, _ = self._validate_X64(X, reset=False)
        if self.metric == "cosine":
            unit = _unit_rows(X64, "metric='cosine' needs nonzero rows: X has a row of zeros")
            return unit.to(self._centers.dtype).to(self._centers.device)
        return self._frame.to(X64).to(self._centers.device)

    def _sparse_centers(self) -> np.ndarray:
        """The centers in the input's units (unit rows for cosine), float64, for sparse rows."""
        C = self._current_centers().double()
        return to_numpy(self._frame.back(C) if self.metric == "euclidean" else C).astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The index of the nearest center for each row of ``X``."""
        if sp.issparse(X):
            from shiftkit.cluster._kmeans._sparse import assign as sparse_assign

            check_is_fitted(self, "cluster_centers_")
            Xs, x2 = self._sparse_rows(X, reset=False)
            return sparse_assign(Xs, x2, self._sparse_centers(), int(self.memory_budget))[0]
        X_c = self._framed(X)
        labels, _ = assign(X_c, self._current_centers(), memory_budget=int(self.memory_budget))
        return to_numpy(labels)

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X: Any) -> np.ndarray:
        """Distances (n_samples, n_clusters) from each row of ``X`` to every center (explicit differences;
        for sparse rows ``|x|^2 - 2 x.c + |c|^2``)."""
        if sp.issparse(X):
            from shiftkit.cluster._kmeans._sparse import _sq_dist_to

            check_is_fitted(self, "cluster_centers_")
            Xs, x2 = self._sparse_rows(X, reset=False)
            D = np.sqrt(_sq_dist_to(Xs, x2, self._sparse_centers(), int(self.memory_budget)).T)
            return D.astype(np.asarray(self.cluster_centers_).dtype)
        X_c = self._framed(X)
        C = self._current_centers(as_written=True).double()
        rows = max(1, int(self.memory_budget) // max(1, C.shape[0] * (X_c.shape[1] + 1) * 8))
        out = [sq_distances(X_c[s].double(), C).sqrt_() for s in row_chunks(X_c.shape[0], rows)]
        D = torch.cat(out) * (self._frame.scale if self.metric == "euclidean" else 1.0)
        return to_numpy(D.to(self._frame.output))

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit and return the distances to the centers."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Minus the inertia of ``X`` against the centers."""
        if sp.issparse(X):
            from shiftkit.cluster._kmeans import _sparse

            check_is_fitted(self, "cluster_centers_")
            Xs, x2 = self._sparse_rows(X, reset=False)
            given = check_weights(sample_weight, Xs.shape[0], dtype=torch.float64, device=torch.device("cpu"))
            ws = np.ones(Xs.shape[0]) if given is None else given.numpy()
            Cs, budget = self._sparse_centers(), int(self.memory_budget)
            nearest, _ = _sparse.assign(Xs, x2, Cs, budget)
            return -_sparse.inertia(Xs, x2, Cs, nearest, ws, budget)
        X_c = self._framed(X)
        w = check_weights(sample_weight, X_c.shape[0], dtype=torch.float64, device=X_c.device)
        w_unit = 1.0 if w is None else power_of_two_near(float(w.max()))
        w = None if w is None else w / w_unit
        C = self._current_centers()
        labels, _ = assign(X_c, C, memory_budget=int(self.memory_budget))
        cost = inertia(X_c, C, labels, w, int(self.memory_budget)) * w_unit
        return -cost * (self._frame.scale * self._frame.scale if self.metric == "euclidean" else 1.0)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        return tags


def _check_init_shape(centers: np.ndarray, k: int, d: int) -> None:
    """scikit-learn's messages for initial centers of the wrong shape."""
    if centers.ndim != 2 or centers.shape[0] != k:
        raise ValueError(
            f"The shape of the initial centers {centers.shape} does not match the number of clusters {k}."
        )
    if centers.shape[1] != d:
        raise ValueError(
            f"The shape of the initial centers {centers.shape} does not match the number of features of "
            f"the data {d}."
        )


def _warn_if_fewer(labels: np.ndarray, k: int) -> None:
    """scikit-learn's warning when the fit ends with fewer distinct clusters than asked for."""
    distinct = len(np.unique(labels))
    if distinct < k:
        warnings.warn(
            f"Number of distinct clusters ({distinct}) found smaller than n_clusters ({k}). "
            "Possibly due to duplicate points in X.",
            ConvergenceWarning,
            stacklevel=5,  # the caller of fit (through _store_fit and the fit's own path)
        )


def _unit_rows(X64: Tensor, zero_message: str) -> Tensor:
    """The rows of ``X64`` (float64) scaled to unit length, each first divided by its largest coordinate:
    the squares of rows above ~1e154 overflowed (every row one direction, a false "duplicate points"
    warning) and of rows below ~1e-160 underflowed (read as "a row of zeros")."""
    largest = X64.abs().amax(dim=1, keepdim=True)
    if bool((largest == 0).any()):
        raise ValueError(zero_message)
    scaled = X64 / largest
    return scaled / scaled.norm(dim=1, keepdim=True)


def _same_clustering(a: np.ndarray, b: np.ndarray, n_clusters: int) -> bool:
    """Whether two labelings are the same partition up to a permutation of the labels."""
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    mapping[a] = b
    return bool((mapping[a] == b).all())


def k_means(
    X: Any, n_clusters: int, *, sample_weight: Any = None, return_n_iter: bool = False, **kwargs: Any
) -> tuple[Any, ...]:
    """K-means as a function: ``(centers, labels, inertia)``, and ``n_iter`` with ``return_n_iter``.

    Keyword arguments are `KMeans`'s parameters.
    """
    est = KMeans(n_clusters=n_clusters, **kwargs).fit(X, sample_weight=sample_weight)
    out = (est.cluster_centers_, est.labels_, est.inertia_)
    return (*out, est.n_iter_) if return_n_iter else out
