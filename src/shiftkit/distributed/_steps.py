"""Mean shift's steps as Dask tasks over blocks of query rows, the data broadcast or cut into slabs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit.kernels import Kernel

# Rows per task when not given: enough work per task to pay Dask's per-task overhead (about 1 ms).
DEFAULT_BLOCK_ROWS = 50_000


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

    bandwidth, kernel, weights, engine, memory_budget = args  # engine: a name, or one carrying its index
    cache_key = (key, bandwidth, kernel.name, getattr(engine, "name", engine), memory_budget)
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

    def records(self) -> dict[str, Any]:
        """Stored with the fit: ``traffic_`` (bytes to and from the workers, per step) and
        ``most_rows_held_`` (the most data rows one task held)."""
        return {"traffic_": self.traffic, "most_rows_held_": self.most_rows_held}

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
        index = getattr(args[3], "index", None)  # the engine's own index, if it carries one
        keys = [f"{d.key}-{tokenize(a[2], index)}" for d, a in zip(data, tile_args, strict=True)]
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
        self, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: Any,
        memory_budget: int,
    ) -> Callable[[Tensor], tuple[Tensor, Tensor]]:  # fmt: skip
        """Standard: the fixed data scattered once; every step sends the seeds still moving, in blocks."""
        if self._tiled(kernel):
            w_tiled = None if weights is None else weights.detach().cpu().numpy()
            args = (bandwidth, kernel, w_tiled, engine, memory_budget)
            return self._steps_over_tiled(X.detach().cpu().numpy(), w_tiled, args, kernel, bandwidth)
        X_np = X.detach().cpu().numpy()
        w_np = None if weights is None else weights.detach().cpu().numpy()
        data = self.client.scatter(X_np, broadcast=True, hash=False)
        self.most_rows_held = max(self.most_rows_held, X_np.shape[0])
        args = (bandwidth, kernel, w_np, engine, memory_budget)
        from dask.base import tokenize

        index = getattr(engine, "index", None)
        key = f"{data.key}-{tokenize(w_np, index)}"  # the data, weights and index the step is built on
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
