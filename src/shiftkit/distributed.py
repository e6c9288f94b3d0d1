"""shiftkit's estimators on Dask (``pip install 'shiftkit[dask]'``): the same fits, the heavy steps as tasks.

    from dask.distributed import Client
    from shiftkit import KMeans, MeanShift
    from shiftkit.distributed import fit

    client = Client("tcp://scheduler:8786")        # any deployment: LocalCluster, dask-jobqueue, Kubernetes
    ms = fit(MeanShift(bandwidth=2.5), X, client)  # X: numpy, a dask array, or a list of .npy / CSV files
    km = fit(KMeans(256, init="k-means||"), X, client)

Mean shift: every step is a map over blocks of query rows; each task runs
shiftkit's own engine against the data, which are scattered to the workers
once per step (blurring, whose data move) or once per fit (standard and
binned, whose data are fixed); only the moved rows come back. With
``tiles=True`` (compact kernels) a worker holds only a slab of the space and a
halo one support radius wide, and each query goes to its slab. Everything else
(the frame, the bandwidth, the seeds, the merge of modes, the labels) runs
where ``fit`` is called, exactly as on one machine, so the result is the
single-machine fit's (tested).

k-means: the data stay on the workers in blocks; every iteration sends the
centers and gets back, per block, float64 sums of the rows' offsets from their
centers and the weights per center (``k x (d + 1)`` numbers), and how many
labels changed; the labels stay where their block is. The iterations, stops
and empty-cluster rule are `KMeans`'s (``algorithm='lloyd'``). k-means|| runs
its passes as tasks (5 rounds; its random draws are per block, so its centers
differ from the single-machine k-means||'s); k-means++, random or given
centers are chosen where ``fit`` is called, on the data there.

KMeans, and MeanShift with ``algorithm='binned'`` or ``'standard'``, on a list
of files: each worker reads its files (a block each) and the data never come to
the client; the frame is combined from the blocks' statistics. Binned mean
shift sums each block by cells of 1/8 bandwidth on its worker; the client
merges the cells into the summary the binned algorithm climbs (the same cells
and float64 sums as on one machine: the same fit, tested). Standard mean shift
(seeds given, or bins counted per block) sends the seeds every step and gets
back each block's kernel sums, added in float64 (the same labels, centers to
float32 rounding, tested). The workers label their rows through their cells or
by the nearest center. This path needs a numeric bandwidth and the radius
merge, and takes no weights: where the fit needs all the data (the bandwidth
rules, the saddle merge, blurring, seeds at every point) the files are read
where ``fit`` is called, as is a dask array.

There is no scheduler here: Dask's handles placement, retries (a task lost
with a worker is recomputed from its inputs) and data transfer.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit import KMeans, MeanShift
from shiftkit.cluster._kmeans._lloyd import inertia
from shiftkit.cluster._mean_shift._loops import stepping_with
from shiftkit.kernels import Kernel

__all__ = ["DaskSteps", "fit"]

# Rows per task when not given: enough work per task to pay Dask's per-task overhead (about 1 ms).
DEFAULT_BLOCK_ROWS = 50_000


def _require_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError("shiftkit.distributed needs Dask: pip install 'shiftkit[dask]'") from None
    return distributed


# -- where the data come from ------------------------------------------------------------------------


def _is_file_list(X: Any) -> bool:
    return isinstance(X, (list, tuple)) and bool(X) and all(isinstance(p, (str, Path)) for p in X)


def _materialise(X: Any) -> Any:
    """A dask array or a list of files as an in-memory array; anything else unchanged."""
    if _is_file_list(X):
        from shiftkit.io import load_data

        return np.concatenate([load_data(p)[0] for p in X])
    if hasattr(X, "dask") and hasattr(X, "compute"):
        return X.compute()
    return X


# -- mean shift: blocks of query rows as tasks -------------------------------------------------------


def _shift_block(
    Y: np.ndarray,
    start: int,
    stop: int,
    X: np.ndarray,
    bandwidth: float,
    kernel: Kernel,
    weights: np.ndarray | None,
    engine: str,
    memory_budget: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One step of rows ``start:stop`` of ``Y`` against ``X`` (a task: runs on a worker)."""
    from shiftkit._shift import shift_tensors

    Y_new, density = shift_tensors(
        torch.from_numpy(Y[start:stop]),
        torch.from_numpy(X),
        bandwidth,
        kernel,
        None if weights is None else torch.from_numpy(weights),
        engine=engine,
        memory_budget=memory_budget,
    )
    return Y_new.numpy(), density.numpy()


# The step over each worker's fixed data (an index is built once per fit, not once per task): the last few,
# by the scattered data's key and the step's settings.
_FIXED_STEPS: dict[tuple, Callable[[Tensor], tuple[Tensor, Tensor]]] = {}
_FIXED_STEPS_KEPT = 64  # a worker holding many blocks of files keeps each block's step


def _step_block(Y: np.ndarray, key: str, X: np.ndarray, args: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One step of the query rows ``Y`` over the fixed data ``X`` (a task)."""
    from shiftkit._shift import steps_over

    bandwidth, kernel, weights, engine, memory_budget, knn_index = args
    cache_key = (key, bandwidth, kernel.name, engine, memory_budget)
    step = _FIXED_STEPS.get(cache_key)
    if step is None:
        while len(_FIXED_STEPS) >= _FIXED_STEPS_KEPT:
            _FIXED_STEPS.pop(next(iter(_FIXED_STEPS)))
        step = steps_over(
            torch.from_numpy(X),
            bandwidth,
            kernel,
            None if weights is None else torch.from_numpy(weights),
            engine=engine,
            memory_budget=memory_budget,
            knn_index=knn_index,
        )
        _FIXED_STEPS[cache_key] = step
    Y_new, density = step(torch.from_numpy(Y))
    return Y_new.numpy(), density.numpy()


@dataclass(frozen=True)
class _Tiles:
    """Slabs along the first coordinate: tile ``t`` owns ``edges[t] <= x0 < edges[t + 1]`` and holds the
    data within ``halo`` of it (for a compact kernel, every point a query of the tile can reach)."""

    edges: np.ndarray  # (T + 1,), -inf and +inf at the ends
    halo: float

    @classmethod
    def of(cls, x0: np.ndarray, n_tiles: int, halo: float) -> _Tiles:
        inner = np.quantile(x0, np.linspace(0, 1, n_tiles + 1)[1:-1]) if n_tiles > 1 else np.zeros(0)
        # a hair wider than the support: a point the kernel's rounding puts inside is held
        return cls(np.concatenate([[-np.inf], np.unique(inner), [np.inf]]), halo * (1 + 1e-6))

    def owner(self, x0: np.ndarray) -> np.ndarray:
        """The tile of each query (by its first coordinate)."""
        return np.searchsorted(self.edges, x0, side="right") - 1

    def held(self, x0: np.ndarray, t: int) -> np.ndarray:
        """Rows of the data a tile holds: its own and its halo."""
        return np.flatnonzero((x0 >= self.edges[t] - self.halo) & (x0 < self.edges[t + 1] + self.halo))

    def __len__(self) -> int:
        return len(self.edges) - 1


class DaskSteps:
    """A mean-shift stepper (`shiftkit.cluster._mean_shift._loops.Stepper`) that runs each step as Dask
    tasks over blocks of ``block_rows`` query rows.

    With ``tiles`` (compact kernels): the space is cut into slabs along the
    first coordinate, two per worker, and a worker holds only its slab and a
    halo one support radius wide, instead of all the data; each query is sent
    to the slab it is in. ``traffic`` counts the bytes sent to and received
    from the workers per step (the data scattered, the rows sent and
    returned), for the benchmark.
    """

    def __init__(self, client: Any, block_rows: int = DEFAULT_BLOCK_ROWS, tiles: bool = False) -> None:
        self.client = client
        self.block_rows = max(1, int(block_rows))
        self.tiles = tiles
        self.traffic: list[int] = []
        self.most_rows_held = 0  # the most data rows one task had to hold

    def _n_workers(self) -> int:
        return max(1, len(self.client.scheduler_info()["workers"]))

    def _tiled(self, kernel: Kernel) -> bool:
        if self.tiles and not kernel.compact:
            raise ValueError(
                "tiles need a compact kernel (flat, triangular, epanechnikov); "
                f"{kernel.name!r} reaches everywhere"
            )
        return bool(self.tiles)

    def _blocks(self, n: int) -> list[tuple[int, int]]:
        return [(s, min(n, s + self.block_rows)) for s in range(0, n, self.block_rows)]

    def shift(
        self, Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: str,
        memory_budget: int,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Blurring: the moved data scattered to every worker (or each slab and its halo to one), then one
        task per block of rows."""
        if self._tiled(kernel):
            return self._shift_tiled(
                Y, X, bandwidth, kernel, weights, engine=engine, memory_budget=memory_budget
            )
        Y_np = Y.detach().cpu().numpy()
        same = X is Y
        X_np = Y_np if same else X.detach().cpu().numpy()
        w_np = None if weights is None else weights.detach().cpu().numpy()
        data = self.client.scatter(X_np, broadcast=True, hash=False)
        self.most_rows_held = max(self.most_rows_held, X_np.shape[0])
        queries = data if same else self.client.scatter(Y_np, broadcast=True, hash=False)
        w_f = None if w_np is None else self.client.scatter(w_np, broadcast=True, hash=False)
        futures = [
            self.client.submit(
                _shift_block, queries, a, b, data, bandwidth, kernel, w_f, engine, memory_budget, pure=False
            )
            for a, b in self._blocks(Y_np.shape[0])
        ]
        parts = self.client.gather(futures)
        workers = max(1, len(self.client.scheduler_info()["workers"]))
        sent = (X_np.nbytes + (0 if same else Y_np.nbytes) + (0 if w_np is None else w_np.nbytes)) * workers
        self.traffic.append(sent + sum(p[0].nbytes + p[1].nbytes for p in parts))
        return (
            torch.from_numpy(np.concatenate([p[0] for p in parts])).to(Y.device),
            torch.from_numpy(np.concatenate([p[1] for p in parts])).to(Y.device),
        )

    def _shift_tiled(
        self, Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: str,
        memory_budget: int,
    ) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Blurring over slabs: each slab's rows and halo go to one task."""
        Y_np = Y.detach().cpu().numpy()
        X_np = X.detach().cpu().numpy()
        w_np = None if weights is None else weights.detach().cpu().numpy()
        tiles = _Tiles.of(X_np[:, 0], 2 * self._n_workers(), kernel.support_radius(bandwidth))
        owner = tiles.owner(Y_np[:, 0])
        Y_new = np.empty_like(Y_np)
        density = np.empty(Y_np.shape[0], dtype=Y_np.dtype)
        futures, rows_of, sent = [], [], 0
        for t in range(len(tiles)):
            rows = np.flatnonzero(owner == t)
            if not len(rows):
                continue
            held = tiles.held(X_np[:, 0], t)
            self.most_rows_held = max(self.most_rows_held, len(held))
            part = (Y_np[rows], X_np[held], None if w_np is None else w_np[held])
            sent += sum(a.nbytes for a in part if a is not None)
            futures.append(
                self.client.submit(
                    _shift_block, part[0], 0, len(rows), part[1], bandwidth, kernel, part[2], engine,
                    memory_budget, pure=False,
                )
            )  # fmt: skip
            rows_of.append(rows)
        for rows, (y, dens) in zip(rows_of, self.client.gather(futures), strict=True):
            Y_new[rows], density[rows] = y, dens
        self.traffic.append(sent + Y_new.nbytes + density.nbytes)
        return torch.from_numpy(Y_new).to(Y.device), torch.from_numpy(density).to(Y.device)

    def _steps_over_tiled(
        self, X_np: np.ndarray, w_np: np.ndarray | None, args: tuple, kernel: Kernel, bandwidth: float
    ) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
        """Standard over slabs: each slab and its halo scattered once, to one worker; a query goes to the
        slab it is in, step after step."""
        from dask.base import tokenize

        tiles = _Tiles.of(X_np[:, 0], 2 * self._n_workers(), kernel.support_radius(bandwidth))
        held = [tiles.held(X_np[:, 0], t) for t in range(len(tiles))]
        self.most_rows_held = max(self.most_rows_held, *(len(h) for h in held))
        data = [self.client.scatter(X_np[h], hash=False) for h in held]
        tile_args = [
            (args[0], args[1], None if w_np is None else w_np[h], *args[3:]) for h in held
        ]  # fmt: skip
        keys = [f"{d.key}-{tokenize(a[2], a[5])}" for d, a in zip(data, tile_args, strict=True)]
        self.traffic.append(sum(X_np[h].nbytes for h in held))

        def step(Y: Tensor) -> tuple[Tensor, Tensor]:
            Y_np = Y.detach().cpu().numpy()
            owner = tiles.owner(Y_np[:, 0])
            futures, rows_of = [], []
            for t in range(len(tiles)):
                rows = np.flatnonzero(owner == t)
                if len(rows):
                    task = (Y_np[rows], keys[t], data[t], tile_args[t])
                    futures.append(self.client.submit(_step_block, *task, pure=False))
                    rows_of.append(rows)
            Y_new = np.empty_like(Y_np)
            density = np.empty(Y_np.shape[0], dtype=Y_np.dtype)
            for rows, (y, dens) in zip(rows_of, self.client.gather(futures), strict=True):
                Y_new[rows], density[rows] = y, dens
            self.traffic.append(2 * Y_np.nbytes + density.nbytes)
            return torch.from_numpy(Y_new).to(Y.device), torch.from_numpy(density).to(Y.device)

        return step

    def steps_over(
        self, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: str,
        memory_budget: int, knn_index: Any = None,
    ) -> Callable[[Tensor], tuple[Tensor, Tensor]]:  # fmt: skip
        """Standard: the fixed data scattered once; every step sends the seeds still moving, in blocks."""
        if self._tiled(kernel):
            w_tiled = None if weights is None else weights.detach().cpu().numpy()
            args = (bandwidth, kernel, w_tiled, engine, memory_budget, knn_index)
            return self._steps_over_tiled(X.detach().cpu().numpy(), w_tiled, args, kernel, bandwidth)
        X_np = X.detach().cpu().numpy()
        w_np = None if weights is None else weights.detach().cpu().numpy()
        data = self.client.scatter(X_np, broadcast=True, hash=False)
        self.most_rows_held = max(self.most_rows_held, X_np.shape[0])
        args = (bandwidth, kernel, w_np, engine, memory_budget, knn_index)
        from dask.base import tokenize

        key = f"{data.key}-{tokenize(w_np, knn_index)}"  # the data, weights and index the step is built on
        workers = max(1, len(self.client.scheduler_info()["workers"]))
        self.traffic.append(X_np.nbytes * workers)

        def step(Y: Tensor) -> tuple[Tensor, Tensor]:
            Y_np = Y.detach().cpu().numpy()
            futures = [
                self.client.submit(_step_block, Y_np[a:b], key, data, args, pure=False)
                for a, b in self._blocks(Y_np.shape[0])
            ]
            parts = self.client.gather(futures)
            self.traffic.append(2 * Y_np.nbytes + sum(p[1].nbytes for p in parts))
            return (
                torch.from_numpy(np.concatenate([p[0] for p in parts])).to(Y.device),
                torch.from_numpy(np.concatenate([p[1] for p in parts])).to(Y.device),
            )

        return step


# -- k-means: partial sums per block ------------------------------------------------------------------


def _kmeans_block(
    X: np.ndarray, w: np.ndarray | None, C: np.ndarray, previous: np.ndarray | None, need_far: int
) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, float, tuple[np.ndarray, ...]]:
    """One block's part of a Lloyd iteration (a task): offsets summed per center (float64), weight per
    center, labels changed, the labels, the weighted squared distances, and the ``need_far`` rows
    farthest from their centers (distances, rows, labels, weights) for empty clusters."""
    from shiftkit.cluster._kmeans._lloyd import assign

    Xt, Ct = torch.from_numpy(X), torch.from_numpy(C)
    wt = None if w is None else torch.from_numpy(w)
    k, d = C.shape
    sums = torch.zeros((k, d), dtype=torch.float64)
    x2 = Xt.square().sum(1)
    labels, dist = assign(Xt, Ct, memory_budget=64 << 20, sums=sums, weights=wt, x2=x2)
    counts = (
        torch.bincount(labels, minlength=k).double()
        if wt is None
        else torch.zeros(k, dtype=torch.float64).index_add_(0, labels, wt.double())
    )
    labels_np = labels.numpy()
    changed = int(len(labels_np) if previous is None else (labels_np != previous).sum())
    cost = float(dist.double().sum() if wt is None else dist.double() @ wt.double())
    far: tuple[np.ndarray, ...] = ()
    if need_far:
        top = torch.topk(dist, min(need_far, len(dist))).indices.numpy()
        far = (dist.double().numpy()[top], X[top], labels_np[top], np.ones(len(top)) if w is None else w[top])
    return sums.numpy(), counts.numpy(), changed, labels_np, cost, far


def _nearest_sq(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Each row's squared distance to its nearest row of ``C`` (a task; float64)."""
    from shiftkit.cluster._kmeans._lloyd import assign

    Xt = torch.from_numpy(X)
    _, dist = assign(Xt, torch.from_numpy(C), memory_budget=64 << 20, x2=Xt.square().sum(1))
    return dist.double().numpy()


def _potential(d2: np.ndarray, w: np.ndarray | None) -> float:
    return float(d2.sum() if w is None else d2 @ w)


def _sample(X: np.ndarray, d2: np.ndarray, w: np.ndarray | None, factor: float, seed: int) -> np.ndarray:
    """The rows kept with probability ``min(1, factor * w * d2)`` (a task)."""
    p = np.minimum(1.0, factor * d2 * (1.0 if w is None else w))
    return X[np.random.default_rng(seed).uniform(size=len(p)) < p]


def _candidate_weights(X: np.ndarray, w: np.ndarray | None, C: np.ndarray) -> np.ndarray:
    """The weight of the rows nearest each candidate (a task)."""
    from shiftkit.cluster._kmeans._lloyd import assign

    labels, _ = assign(torch.from_numpy(X), torch.from_numpy(C), memory_budget=64 << 20)
    return np.bincount(labels.numpy(), weights=None if w is None else w, minlength=len(C))


def _kmeans_parallel_dask(
    client: Any,
    X_f: list,
    w_f: list,
    first: np.ndarray,
    k: int,
    rng: np.random.RandomState,
    rounds: int = 5,
    oversampling: float = 2.0,
) -> np.ndarray:
    """k-means|| (Bahmani et al. 2012) with its passes as tasks: each round, the blocks compute their
    rows' distances to the candidates (kept on the workers) and their potential, then sample; the
    candidates, weighted by the rows nearest them, are reduced to ``k`` by weighted k-means++ here."""
    from shiftkit.cluster._kmeans._init import kmeans_plusplus_indices

    candidates = first  # (1, d): the first center, drawn by the caller
    for _ in range(rounds):
        C_f = client.scatter(candidates, broadcast=True, hash=False)
        d2_f = [client.submit(_nearest_sq, x, C_f, pure=False) for x in X_f]
        potential = sum(
            client.gather([client.submit(_potential, d, w) for d, w in zip(d2_f, w_f, strict=True)])
        )
        if potential <= 0:
            break
        seeds = rng.randint(0, 2**31 - 1, size=len(X_f))
        factor = oversampling * k / potential
        new = client.gather(
            [
                client.submit(_sample, x, d, w, factor, int(seed), pure=False)
                for x, d, w, seed in zip(X_f, d2_f, w_f, seeds, strict=True)
            ]
        )
        candidates = np.unique(np.concatenate([candidates, *new]), axis=0)
    if len(candidates) <= k:
        return candidates
    C_f = client.scatter(candidates, broadcast=True, hash=False)
    weights = np.sum(
        client.gather(
            [client.submit(_candidate_weights, x, w, C_f, pure=False) for x, w in zip(X_f, w_f, strict=True)]
        ),
        axis=0,
    )
    keep = weights > 0
    candidates, weights = candidates[keep], weights[keep]
    if len(candidates) <= k:
        return candidates
    picked = kmeans_plusplus_indices(torch.from_numpy(candidates), k, weights, rng, memory_budget=64 << 20)
    return candidates[picked]


def _small_part(part: tuple) -> tuple[np.ndarray, np.ndarray, int]:
    """What comes back to the client each iteration: the sums, the weights per center, the changes."""
    return part[0], part[1], part[2]


def _lloyd_on_blocks(
    km: KMeans, client: Any, X_f: list, w_f: list, C: np.ndarray, tol: float
) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Lloyd's iterations over the blocks (futures): the centers, the labels per block, the iterations."""
    labels_f: list[Any] = [None] * len(X_f)
    strict, n_iter = False, 0
    for it in range(1, int(km.max_iter) + 1):
        n_iter = it
        C_f = client.scatter(C, broadcast=True, hash=False)
        futures = [
            client.submit(_kmeans_block, x, w, C_f, prev, 0, pure=False)
            for x, w, prev in zip(X_f, w_f, labels_f, strict=True)
        ]
        parts = client.gather([client.submit(_small_part, f, pure=False) for f in futures])
        labels_f = [client.submit(operator.getitem, f, 3, pure=False) for f in futures]  # stay on the workers
        sums = np.sum([p[0] for p in parts], axis=0)
        counts = np.sum([p[1] for p in parts], axis=0)
        changed = sum(p[2] for p in parts)
        sums += counts[:, None] * C.astype(np.float64)  # offsets -> sums of the rows
        empty = np.flatnonzero(counts == 0)
        if len(empty):  # scikit-learn's rule: the points farthest from their centers, across the blocks
            far_parts = client.gather(
                [
                    client.submit(_kmeans_block, x, w, C_f, None, len(empty), pure=False)
                    for x, w in zip(X_f, w_f, strict=True)
                ]
            )
            dist, rows, owner, weight = (np.concatenate([p[5][i] for p in far_parts]) for i in range(4))
            for new_id, j in zip(empty, np.argsort(-dist, kind="stable")[: len(empty)], strict=True):
                x = rows[j].astype(np.float64) * weight[j]
                sums[owner[j]] -= x
                counts[owner[j]] -= weight[j]
                sums[new_id] = x
                counts[new_id] = weight[j]
        C_new = (sums / counts[:, None]).astype(C.dtype)
        shift = float(((C_new.astype(np.float64) - C.astype(np.float64)) ** 2).sum())
        C = C_new
        if changed == 0:
            strict = True
            break
        if shift <= tol:
            break
    if strict:  # as on one machine: the labels the last update came from
        return C, client.gather(labels_f), n_iter
    C_f = client.scatter(C, broadcast=True, hash=False)  # a last assignment: labels that match the centers
    parts = client.gather(
        [client.submit(_kmeans_block, x, w, C_f, None, 0, pure=False) for x, w in zip(X_f, w_f, strict=True)]
    )
    return C, [p[3] for p in parts], n_iter


def _kmeans_dask(km: KMeans, X: Any, client: Any, block_rows: int, sample_weight: Any) -> KMeans:
    """Fit ``km`` with Lloyd iterations whose assignment and partial sums run as tasks on the blocks."""
    from sklearn.utils import check_random_state

    _check_kmeans(km)
    prep = km._prepare(X, sample_weight)
    X_c, frame, w64, w_np, tol, init = prep.X_c, prep.frame, prep.w64, prep.w_np, prep.tol, prep.init
    n, k = X_c.shape[0], int(km.n_clusters)
    rng = check_random_state(km.random_state)
    X_np = X_c.numpy()
    wc = None if w64 is None else w64.to(X_c.dtype).numpy()
    blocks = [(s, min(n, s + block_rows)) for s in range(0, n, block_rows)]
    X_f = client.scatter([X_np[a:b] for a, b in blocks], hash=False)
    w_f = [None] * len(blocks) if wc is None else client.scatter([wc[a:b] for a, b in blocks], hash=False)
    if isinstance(init, str) and init == "k-means||":
        first = int(rng.choice(n, p=w_np / w_np.sum()))
        C = _kmeans_parallel_dask(client, X_f, w_f, X_np[first : first + 1].copy(), k, rng)
    else:
        C = km._initial_centers(X_c, prep.X64, init, frame, w_np, rng).numpy().copy()
    C, labels_parts, n_iter = _lloyd_on_blocks(km, client, X_f, w_f, C, tol)
    labels = np.concatenate(labels_parts)
    Ct = torch.from_numpy(C)
    cost = inertia(X_c, Ct, torch.from_numpy(labels), w64, int(km.memory_budget))
    return _kmeans_fitted(km, frame, Ct, labels, cost, n_iter)


def _check_kmeans(km: KMeans) -> None:
    from shiftkit._validation import check_params
    from shiftkit.cluster._kmeans._estimator import PARAMETER_RULES

    check_params(km, PARAMETER_RULES)
    if km.metric != "euclidean":
        raise ValueError("shiftkit.distributed fits KMeans with metric='euclidean' only")
    if km.n_init not in ("auto", 1):
        raise ValueError("shiftkit.distributed fits KMeans with n_init=1 (one run: pass n_init=1)")
    if km.n_init == "auto" and (callable(km.init) or (isinstance(km.init, str) and km.init == "random")):
        raise ValueError("shiftkit.distributed fits KMeans with n_init=1 (one run: pass n_init=1)")


def _kmeans_fitted(km: KMeans, frame: Any, C: Tensor, labels: np.ndarray, cost: float, n_iter: int) -> KMeans:
    km._frame, km._centers = frame, C
    km.cluster_centers_ = frame.out(C)
    km.labels_ = labels
    km.inertia_ = cost * frame.scale**2
    km.n_iter_ = n_iter
    km._n_features_out = int(km.n_clusters)
    for name in ("history_", "labels_history_"):
        if hasattr(km, name):
            delattr(km, name)
    return km


# -- k-means on files read by the workers ------------------------------------------------------------


def _load_block(path: str) -> np.ndarray:
    """One file's rows, float64, checked finite (a task)."""
    from shiftkit.io import load_data

    X = np.asarray(load_data(path)[0], dtype=np.float64)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise ValueError(f"{path}: the data must be a finite 2-D table")
    return X


def _block_stats(X: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows, mean, sum of squared deviations from it, smallest and largest value, per feature (a task)."""
    mean = X.mean(0)
    return X.shape[0], mean, ((X - mean) ** 2).sum(0), X.min(0), X.max(0)


def _framed_block(X: np.ndarray, origin: np.ndarray, scale: float, dtype: str) -> np.ndarray:
    """A block in the frame's coordinates (a task)."""
    return ((X - origin) / scale).astype(dtype)


def _block_inertia(X: np.ndarray, C: np.ndarray, labels: np.ndarray) -> float:
    """Sum of squared distances of a block's rows to their centers, explicit differences, float64."""
    return float(((X.astype(np.float64) - C.astype(np.float64)[labels]) ** 2).sum())


def _frame_of_blocks(client: Any, raw: list, compute: torch.dtype) -> tuple[Any, list, int, float]:
    """The frame of data held in blocks (futures) on the workers, from the blocks' statistics (Chan et
    al.'s pairwise combination of means and squared deviations): the frame, the statistics per block, the
    rows in all, and the mean over features of the variance."""
    from shiftkit.cluster._base import Frame

    stats = client.gather([client.submit(_block_stats, f, pure=False) for f in raw])
    widths = {st[1].shape[0] for st in stats}
    if len(widths) != 1:
        raise ValueError(f"the files have different numbers of columns: {sorted(widths)}")
    n, mean, m2 = 0, np.zeros(widths.pop()), None
    for rows, m, s2, _, _ in stats:  # pairwise means and sums of squared deviations
        if m2 is None:
            n, mean, m2 = rows, m, s2
            continue
        delta = m - mean
        total = n + rows
        mean = mean + delta * rows / total
        m2 = m2 + s2 + delta**2 * n * rows / total
        n = total
    assert m2 is not None
    lo = np.min([st[3] for st in stats], axis=0)
    hi = np.max([st[4] for st in stats], axis=0)
    largest = float(np.maximum(np.abs(lo), np.abs(hi)).max())
    constant = bool((lo == hi).all())
    mean_variance = float((m2 / n).mean())
    frame = Frame.from_stats(
        torch.from_numpy(lo if constant else mean), mean_variance, largest,
        compute=compute, output=torch.float64, constant=constant,
    )  # fmt: skip
    return frame, stats, n, mean_variance


def _kmeans_files(km: KMeans, paths: list, client: Any) -> KMeans:
    """KMeans over files that the workers read, one block per file: the data never come to the client;
    the frame is built from the blocks' statistics (Chan et al.'s pairwise combination)."""
    from sklearn.utils import check_random_state

    _check_kmeans(km)
    init = km.init
    if isinstance(init, str) and init != "k-means||":
        raise ValueError("fitting KMeans on files read by the workers needs init='k-means||' or an array")
    raw = [client.submit(_load_block, str(p), pure=False) for p in paths]
    compute = km._compute_dtype(torch.float64)
    frame, stats, n, mean_variance = _frame_of_blocks(client, raw, compute)
    d, k = frame.origin.shape[0], int(km.n_clusters)
    if n < k:
        raise ValueError(f"n_samples={n} should be >= n_clusters={k}.")
    dtype = str(compute).replace("torch.", "")
    X_f = [client.submit(_framed_block, f, frame.origin.numpy(), frame.scale, dtype, pure=False) for f in raw]
    del raw  # the raw blocks are released once framed
    w_f: list[Any] = [None] * len(X_f)
    tol = mean_variance / frame.scale**2 * float(km.tol) if km.tol > 0 else 0.0
    rng = check_random_state(km.random_state)
    if isinstance(init, str):
        sizes = np.array([st[0] for st in stats])
        first = int(rng.choice(n))
        b = int(np.searchsorted(np.cumsum(sizes), first, side="right"))
        row = client.submit(operator.getitem, X_f[b], first - int(sizes[:b].sum()), pure=False).result()
        C = _kmeans_parallel_dask(client, X_f, w_f, np.asarray(row)[None, :].copy(), k, rng)
    else:
        C0 = np.asarray(init.detach().cpu() if isinstance(init, Tensor) else init, dtype=np.float64)
        if C0.shape != (k, d):
            raise ValueError(f"init has shape {C0.shape}; expected ({k}, {d})")
        C = frame.to(torch.from_numpy(C0)).numpy()
    C, labels_parts, n_iter = _lloyd_on_blocks(km, client, X_f, w_f, C, tol)
    C_f = client.scatter(C, broadcast=True, hash=False)
    cost = sum(
        client.gather(
            [
                client.submit(_block_inertia, x, C_f, lab, pure=False)
                for x, lab in zip(X_f, client.scatter(labels_parts, hash=False), strict=True)
            ]
        )
    )
    km.n_features_in_ = d
    if hasattr(km, "feature_names_in_"):
        del km.feature_names_in_
    return _kmeans_fitted(km, frame, torch.from_numpy(C), np.concatenate(labels_parts), cost, n_iter)


# -- binned mean shift on files read by the workers --------------------------------------------------


def _block_cells(
    X: np.ndarray, size: float, origin: np.ndarray | None = None, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A block's occupied cells of side ``size`` (lexicographic), the rows in each, the float64 sums of
    their rows, and each row's cell (a task; the last stays on the worker). With ``origin``: cells
    centered on multiples of ``size`` in the input's coordinates (``X * scale + origin``; bin seeding)."""
    from shiftkit.neighbors._cells import Cells

    Xt = torch.from_numpy(X)
    if origin is None:
        coords, cell_of_row = Cells(Xt, size).group()
    else:
        X_in = Xt.double() * scale + torch.from_numpy(origin)  # the input's coordinates
        coords, cell_of_row = Cells(X_in, size, centered=True).group()
    k = coords.shape[0]
    sums = torch.zeros((k, X.shape[1]), dtype=torch.float64).index_add_(0, cell_of_row, Xt.double())
    counts = np.bincount(cell_of_row.numpy(), minlength=k).astype(np.float64)
    return coords.numpy(), counts, sums.numpy(), cell_of_row.numpy()


def _cell_summary(part: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return part[0], part[1], part[2]


def _largest(X: np.ndarray) -> float:
    return float(np.abs(X).max()) if X.size else 0.0


def _block_labels(
    X: np.ndarray, cell_of_row: np.ndarray | None, label_of_cell: np.ndarray | None, centers: np.ndarray,
    bandwidth: float, assign: str, cluster_all: bool, memory_budget: int,
) -> np.ndarray:  # fmt: skip
    """A block's labels (a task): its cell's cluster ('mode'; the nearest center where the cell's seed
    found none, or without cells), or the nearest center ('nearest'); -1 beyond ``bandwidth`` unless
    ``cluster_all``."""
    from shiftkit._ops import nearest

    mode = np.full(len(X), -1) if cell_of_row is None or label_of_cell is None else label_of_cell[cell_of_row]
    if assign == "mode" and (mode >= 0).all():
        return mode
    closest, sq_dist = nearest(torch.from_numpy(X), torch.from_numpy(centers), memory_budget)
    closest_np = closest.numpy()
    if not cluster_all:
        closest_np = np.where(sq_dist.numpy() <= bandwidth**2, closest_np, -1)
    return closest_np if assign == "nearest" else np.where(mode >= 0, mode, closest_np)


def _files_on_workers(ms: MeanShift, sample_weight: Any) -> str | None:
    """The algorithm a mean shift on files runs where the workers read them ('binned' or 'standard'), or
    None when the fit needs the data where it is called: a bandwidth rule or the saddle merge (both look
    at all the data), weights, a neighbor index, blurring, or seeds at every point."""
    algorithm = "binned" if ms.algorithm in ("binned", "grid") else str(ms.algorithm)
    given_bandwidth = ms.bandwidth is not None and not isinstance(ms.bandwidth, str)
    if not (
        algorithm in ("binned", "standard")
        and given_bandwidth
        and sample_weight is None
        and ms.neighbor_index is None
        and ms._merge_for() == "radius"
        and (algorithm == "binned" or ms.seeds is not None or ms.bin_seeding)
    ):
        return None
    return algorithm


class _BlockSums:
    """A stepper for `climb` over data held in blocks on the workers: each step, every block's kernel sums
    for the seeds (a task each, `_step_block` with the block's index built once), added here in float64:
    ``y_new = sum_b num_b / sum_b den_b``."""

    def __init__(self, client: Any, X_f: list, engines: list[str]) -> None:
        self.client, self.X_f, self.engines = client, X_f, engines
        self.traffic: list[int] = []

    def shift(self, *args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
        raise NotImplementedError("blurring is not run on blocks held by the workers")

    def steps_over(
        self, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: str,
        memory_budget: int, knn_index: Any = None,
    ) -> Callable[[Tensor], tuple[Tensor, Tensor]]:  # fmt: skip
        args = [(bandwidth, kernel, None, e, memory_budget, None) for e in self.engines]

        def step(Y: Tensor) -> tuple[Tensor, Tensor]:
            Y_np = Y.detach().cpu().numpy()
            Y_f = self.client.scatter(Y_np, broadcast=True, hash=False)
            parts = self.client.gather(
                [
                    self.client.submit(_step_block, Y_f, x.key, x, a, pure=False)
                    for x, a in zip(self.X_f, args, strict=True)
                ]
            )
            den = np.zeros(len(Y_np))
            num = np.zeros(Y_np.shape)
            for y_b, den_b in parts:
                seen = den_b > 0  # a block with no data in reach adds nothing (its y_b may be anything)
                den[seen] += den_b[seen]
                num[seen] += y_b[seen].astype(np.float64) * den_b[seen, None]
            Y_new = np.where(den[:, None] > 0, num / np.maximum(den, np.finfo(float).tiny)[:, None], Y_np)
            self.traffic.append(Y_np.nbytes * len(self.X_f) + sum(a.nbytes + b.nbytes for a, b in parts))
            return torch.from_numpy(Y_new.astype(Y_np.dtype)), torch.from_numpy(den.astype(Y_np.dtype))

        return step


def _block_engine(X: np.ndarray, seeds: np.ndarray, bandwidth: float, kernel: Kernel) -> str:
    """The engine that pays for the seeds' steps over one block (a task)."""
    from shiftkit._shift import select_engine

    return select_engine(torch.from_numpy(seeds), torch.from_numpy(X), bandwidth, kernel, fixed_data=True)


def _merged_cells(client: Any, X_f: list, *args: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Every block's cells merged: the cells (lexicographic), their counts, float64 sums of their rows,
    and where each block's cells sit among them (with the futures of each row's cell, per block)."""
    parts = [client.submit(_block_cells, x, *args, pure=False) for x in X_f]
    cells = client.gather([client.submit(_cell_summary, p, pure=False) for p in parts])
    cell_of_row_f = [client.submit(operator.getitem, p, 3, pure=False) for p in parts]  # on the workers
    coords, where = np.unique(np.concatenate([c[0] for c in cells]), axis=0, return_inverse=True)
    where = where.reshape(-1)
    total = np.zeros(len(coords))
    np.add.at(total, where, np.concatenate([c[1] for c in cells]))
    sums = np.zeros((len(coords), cells[0][2].shape[1]))
    np.add.at(sums, where, np.concatenate([c[2] for c in cells]))
    offsets = np.cumsum([0, *(len(c[0]) for c in cells)])
    nbytes = sum(c.nbytes + w.nbytes + s_.nbytes for c, w, s_ in cells)
    return coords, total, sums, (where, offsets, cell_of_row_f, nbytes)


def _mean_shift_files(ms: MeanShift, paths: list, client: Any, sample_weight: Any) -> MeanShift:
    """Binned or standard mean shift over files that the workers read, one block per file; the data never
    come to the client. The workers frame their blocks (the frame from the blocks' statistics).

    Binned: the workers sum their blocks by cells of 1/8 bandwidth; the client merges the cells into the
    summary the binned algorithm climbs (as on one machine: the same cells, float64 sums). Standard: the
    seeds (given, or the bins counted per block) climb, each step a task per block returning its kernel
    sums (`_BlockSums`). Either way the workers label their rows, through their cells or by the nearest
    center."""
    from shiftkit._shift import select_engine
    from shiftkit.cluster._base import cpu_threads
    from shiftkit.cluster._mean_shift._loops import LoopSettings, climb, stepping_with
    from shiftkit.cluster._mean_shift._modes import merge_modes
    from shiftkit.cluster._mean_shift._seeds import BIN_SIZE
    from shiftkit.neighbors._cells import bin_centers

    kernel = ms._check_params()
    algorithm = _files_on_workers(ms, sample_weight)
    assert algorithm is not None
    with cpu_threads(ms.n_jobs):
        raw = [client.submit(_load_block, str(p), pure=False) for p in paths]
        compute = ms._compute_dtype(torch.float64)
        frame, stats, _, _ = _frame_of_blocks(client, raw, compute)
        d = frame.origin.shape[0]
        dtype = str(compute).replace("torch.", "")
        origin = frame.origin.numpy()
        X_f = [client.submit(_framed_block, f, origin, frame.scale, dtype, pure=False) for f in raw]
        del raw
        largest = max(client.gather([client.submit(_largest, x, pure=False) for x in X_f]))
        finest = 8 * torch.finfo(compute).eps * largest
        bandwidth = min(ms._user_bandwidth(0.0, frame) / frame.scale, 1e6 * (2 * largest + 1))
        if not bandwidth > finest:
            raise ValueError(f"bandwidth={ms.bandwidth:g} is below what {dtype} resolves in these data")
        traffic = [sum(int(st[1].nbytes) * 4 for st in stats)]
        cells: Any = None
        stepper: _BlockSums | None = None
        if algorithm == "binned":
            coords, total, sums, cells = _merged_cells(client, X_f, BIN_SIZE * bandwidth)
            data = torch.from_numpy(sums / total[:, None]).to(compute)  # (k, d): the cells' means
            weights: Tensor | None = torch.from_numpy(total).to(compute)
            size = bandwidth * frame.scale
            seeds, seed_of_cell = bin_centers(frame.back(data), weights, size, ms.min_bin_freq)
        else:
            data, weights = torch.empty((0, d), dtype=compute), None  # the data are the blocks
            if ms.seeds is not None:
                seeds = torch.as_tensor(np.asarray(ms.seeds, dtype=np.float64))
                if seeds.ndim != 2 or seeds.shape[1] != d:
                    raise ValueError(f"seeds have shape {tuple(seeds.shape)}; expected (m, {d})")
                seed_of_cell = None
            else:
                size = bandwidth * frame.scale
                coords, total, _, cells = _merged_cells(client, X_f, size, origin, frame.scale)
                keep = torch.from_numpy(total >= ms.min_bin_freq)
                seeds = torch.from_numpy(coords)[keep].double() * size
                seed_of_cell = torch.cumsum(keep.long(), 0) - 1
                seed_of_cell[~keep] = -1
        if seeds.shape[0] == 0:
            raise ValueError(
                f"no cell of side bandwidth holds min_bin_freq={ms.min_bin_freq} points; lower min_bin_freq"
            )
        if cells is not None:
            traffic.append(cells[3])
        seeds = frame.to(seeds)
        engine = ms.engine
        if algorithm == "standard":  # each block's steps by the engine that pays for that block
            seeds_np = seeds.numpy()
            engines = [engine] * len(X_f) if engine != "auto" else client.gather(
                [client.submit(_block_engine, x, seeds_np, bandwidth, kernel, pure=False) for x in X_f]
            )  # fmt: skip
            stepper = _BlockSums(client, X_f, engines)
            engine = max(set(engines), key=engines.count)
        elif engine == "auto":
            engine = select_engine(seeds, data, bandwidth, kernel, fixed_data=True)
        history = [frame.out(seeds)] if ms.record_history else None
        stop = max(ms.tol * bandwidth, finest)
        hook = ms._step_hook(frame, bandwidth, history)
        settings = LoopSettings(engine, ms.max_iter, stop, ms.memory_budget, hook)
        if stepper is None:
            modes = climb(seeds, data, weights, bandwidth, kernel, settings)
        else:
            with stepping_with(stepper):
                modes = climb(seeds, data, weights, bandwidth, kernel, settings)
            traffic += stepper.traffic
        if not modes.converged:
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(
                f"MeanShift did not converge in max_iter={ms.max_iter} steps; raise max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if not bool((modes.density > 0).any()):
            raise ValueError(f"No point was within bandwidth={ms.bandwidth:g} of any seed; a wider one?")
        kept, cluster_of_mode = merge_modes(modes, bandwidth)
        centers_c = modes.positions[kept]
        centers_np = centers_c.numpy()
        label_parts: list[Any] = [None] * len(X_f)
        cell_of_row_f: list[Any] = [None] * len(X_f)
        if cells is not None and seed_of_cell is not None:
            where, offsets, cell_of_row_f, _ = cells
            joined = cluster_of_mode[seed_of_cell.clamp_min(0)]
            label_of_cell = torch.where(seed_of_cell >= 0, joined, -1).numpy()
            label_parts = [label_of_cell[where[offsets[b] : offsets[b + 1]]] for b in range(len(X_f))]
        labels = client.gather(
            [
                client.submit(
                    _block_labels, x, cell_of_row, lab, centers_np, bandwidth, ms.assign_labels,
                    ms.cluster_all, ms.memory_budget, pure=False,
                )
                for x, cell_of_row, lab in zip(X_f, cell_of_row_f, label_parts, strict=True)
            ]
        )  # fmt: skip
        traffic.append(sum(lab.nbytes for lab in labels))
    ms._frame = frame
    ms.n_features_in_ = d
    if hasattr(ms, "feature_names_in_"):
        del ms.feature_names_in_
    ms.cluster_centers_ = frame.out(centers_c)
    ms.cluster_densities_ = modes.density[kept].double().numpy()
    ms.labels_ = np.concatenate(labels)
    ms.bandwidth_ = ms._user_bandwidth(bandwidth, frame)
    ms.algorithm_, ms.merge_, ms.engine_, ms.n_iter_ = algorithm, "radius", engine, modes.n_iter
    if history is not None:
        ms.history_ = history
    ms.traffic_ = traffic  # bytes: the statistics, the cells' summaries, the steps (standard), the labels
    ms.most_rows_held_ = max(int(st[0]) for st in stats)
    return ms

# -- the entry point --------------------------------------------------------------------------------------


def fit(
    estimator: Any,
    X: Any,
    client: Any = None,
    *,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    tiles: bool = False,
    sample_weight: Any = None,
) -> Any:
    """Fit a shiftkit ``MeanShift`` or ``KMeans`` with its heavy steps as tasks on ``client``; returns it.

    Parameters
    ----------
    estimator : MeanShift or KMeans
    X : array-like, dask array, or a list of .npy / CSV paths
    client : dask.distributed.Client, default=None
        None: the current client (``distributed.get_client()``).
    block_rows : int, default=50,000
        Rows per task.
    tiles : bool, default=False
        Mean shift with a compact kernel: cut the space into slabs along the
        first coordinate (two per worker), each worker holding only its slab
        and a halo one support radius wide (for data that do not fit one
        worker); the result is the same.
    sample_weight : array-like, default=None
    """
    distributed = _require_distributed()
    if client is None:
        client = distributed.get_client()
    if isinstance(estimator, KMeans) and _is_file_list(X):
        if sample_weight is not None:
            raise ValueError("sample_weight is not taken with files read by the workers")
        return _kmeans_files(estimator, list(X), client)
    if isinstance(estimator, MeanShift) and _is_file_list(X) and _files_on_workers(estimator, sample_weight):
        return _mean_shift_files(estimator, list(X), client, sample_weight)
    X = _materialise(X)
    if isinstance(estimator, MeanShift):
        steps = DaskSteps(client, block_rows, tiles=tiles)
        with stepping_with(steps):
            estimator.fit(X, sample_weight=sample_weight)
        estimator.traffic_ = steps.traffic  # bytes to and from the workers, per step
        estimator.most_rows_held_ = steps.most_rows_held  # the most data rows one task held
        return estimator
    if isinstance(estimator, KMeans):
        return _kmeans_dask(estimator, X, client, int(block_rows), sample_weight)
    raise TypeError(f"shiftkit.distributed fits MeanShift and KMeans, not {type(estimator).__name__}")
