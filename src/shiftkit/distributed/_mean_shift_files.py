"""Binned and standard mean shift on files read by the workers: the data never come to the client."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit import MeanShift
from shiftkit.cluster.stages import plan_mean_shift
from shiftkit.distributed._blocks import _frame_of_blocks, _framed_block, _largest, _load_block
from shiftkit.distributed._steps import _step_block
from shiftkit.kernels import Kernel


def _block_cells(
    X: np.ndarray, size: float, origin: np.ndarray | None = None, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A block's occupied cells of side ``size`` (lexicographic), the rows in each, the float64 sums of
    their rows, and each row's cell (a task; the last stays on the worker). With ``origin``: cells
    centered on multiples of ``size`` in the input's coordinates (``X * scale + origin``; bin seeding)."""
    from shiftkit.neighbors.cells import Cells

    if X.shape[0] == 0:  # a file of no rows: no cells
        d = X.shape[1]
        empty = np.zeros((0, d), dtype=np.int64)
        return empty, np.zeros(0, dtype=np.int64), np.zeros((0, d)), np.zeros(0, dtype=np.int64)
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
    algorithm = str(ms.algorithm)
    given_bandwidth = ms.bandwidth is not None and not isinstance(ms.bandwidth, str)
    if not (
        algorithm in ("binned", "standard")
        and given_bandwidth
        and sample_weight is None
        and ms.neighbor_index is None
        and plan_mean_shift(ms).merge == "radius"
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

    def records(self) -> dict[str, Any]:
        """Nothing of its own: the files fit records its traffic (statistics, cells, steps, labels)."""
        return {}

    def steps_over(
        self, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: Any,
        memory_budget: int,
    ) -> Callable[[Tensor], tuple[Tensor, Tensor]]:  # fmt: skip
        args = [(bandwidth, kernel, None, e, memory_budget) for e in self.engines]

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
    from shiftkit.cluster.stages import (
        BIN_SIZE,
        LoopSettings,
        MeanShiftFit,
        climb,
        cpu_threads,
        merge_modes,
        seeds_from_bins,
        seeds_over_summary,
        store,
    )

    plan = plan_mean_shift(ms)
    kernel = plan.kernel
    algorithm = _files_on_workers(ms, sample_weight)
    assert algorithm is not None
    with cpu_threads(ms.n_jobs):
        raw = [client.submit(_load_block, str(p), pure=False) for p in paths]
        compute = plan.compute_dtype(torch.float64)
        frame, stats, _, _ = _frame_of_blocks(client, raw, compute)
        d = frame.origin.shape[0]
        dtype = str(compute).replace("torch.", "")
        origin = frame.origin.numpy()
        X_f = [client.submit(_framed_block, f, origin, frame.scale, dtype, pure=False) for f in raw]
        del raw
        largest = max(client.gather([client.submit(_largest, x, pure=False) for x in X_f]))
        finest = 8 * torch.finfo(compute).eps * largest
        bandwidth = min(plan.user_bandwidth(0.0, frame) / frame.scale, 1e6 * (2 * largest + 1))
        if not bandwidth > finest:
            raise ValueError(f"bandwidth={ms.bandwidth:g} is below what {dtype} resolves in these data")
        traffic = [sum(int(st[1].nbytes) * 4 for st in stats)]
        cells: Any = None
        stepper: _BlockSums | None = None
        if algorithm == "binned":  # the summary merged from the blocks, then one machine's seeding
            coords, total, sums, cells = _merged_cells(client, X_f, BIN_SIZE * bandwidth)
            data = torch.from_numpy(sums / total[:, None]).to(compute)  # (k, d): the cells' means
            cell_weights = torch.from_numpy(total).to(compute)
            seeds, seed_of_cell = seeds_over_summary(data, cell_weights, frame, bandwidth, ms.min_bin_freq)
            weights: Tensor | None = cell_weights
        else:
            data, weights = torch.empty((0, d), dtype=compute), None  # the data are the blocks
            if ms.seeds is not None:
                given = torch.as_tensor(np.asarray(ms.seeds, dtype=np.float64))
                if given.ndim != 2 or given.shape[1] != d or given.shape[0] == 0:
                    raise ValueError(f"seeds have shape {tuple(given.shape)}; expected (m, {d}), m >= 1")
                seeds, seed_of_cell = frame.to(given), None
            else:  # the bins counted per block and merged, then one machine's bin seeds
                size = bandwidth * frame.scale
                coords, total, _, cells = _merged_cells(client, X_f, size, origin, frame.scale)
                seeds, seed_of_cell = seeds_from_bins(
                    torch.from_numpy(coords), torch.from_numpy(total), frame, bandwidth, ms.min_bin_freq
                )
        if cells is not None:
            traffic.append(cells[3])
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
        hook = plan.step_hook(frame, bandwidth, history)
        settings = LoopSettings(engine, ms.max_iter, stop, ms.memory_budget, hook, stepper=stepper)
        modes = climb(seeds, data, weights, bandwidth, kernel, settings)
        if stepper is not None:
            traffic += stepper.traffic
        plan.check_modes(modes, plan.user_bandwidth(bandwidth, frame))
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
    fit = MeanShiftFit(
        frame,
        frame.out(centers_c),
        modes.density[kept].double().numpy(),
        np.concatenate(labels),
        plan.user_bandwidth(bandwidth, frame),
        algorithm,
        "radius",
        engine,
        modes.n_iter,
        space_reason="files read by the workers: the input space",
        history=history,
        n_features_in=d,
        extra={
            # bytes: the statistics, the cells' summaries, the steps (standard), the labels
            "traffic_": traffic,
            "most_rows_held_": max(int(st[0]) for st in stats),
        },
    )
    return store(ms, fit)
