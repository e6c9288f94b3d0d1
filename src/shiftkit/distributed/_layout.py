"""QuickShift on Dask in a graph layout: many features (embeddings, wide tables), rows held in blocks.

One machine's `QuickShift` in more than four features looks at its first 5,000
distinct rows in content order (by a hash of each row's place relative to the
data, `shiftkit._rows.scale_free_hashes`) to choose where to seek the modes, and
in a graph layout lays out only its first ``m`` distinct rows (4,000 with the
default least cluster, at most 100,000): every other row is weighed onto its
nearest laid-out row and takes the cluster most of its 10 nearest laid-out rows
have (`shiftkit.cluster._spaces`). Only those first rows need to be in one
place, so here:

- the workers frame their blocks (float64, the frame from the blocks'
  statistics), sum them for the hash grid's mean and spread (two passes; the
  grid is 2^-16 of the spread wide, so sums that differ from one machine's in
  the last bits move a row to another cell with odds of about 1e-11 a value),
  hash their rows and send the hashes of their first ``cap`` distinct rows in
  content order; the ``cap`` smallest of all are among those, and each block
  sends its rows of those hashes (with their copies and the index of their
  first copy): the client merges them into the first ``cap`` distinct rows of
  all, in one machine's order;
- the client chooses the space from the first 5,000 (`space_of_rows`; where it
  is not a layout, a clear error: the density on principal axes is not split
  into blocks), lays out the first ``m`` (`lay_out`: the same neighbor graph and
  layouts as one machine);
- the workers find, for each of their distinct rows not laid out, its nearest
  laid-out rows (`nearest_laid_out`, in graph coordinates) and send how many
  rows each laid-out row is the nearest of (``m`` numbers a block);
- the client seeks the modes in the layout, each laid-out row weighted by its
  copies and the rows nearest to it (`seek_in_layout`), and sends the laid-out
  rows' clusters and densities; the workers label their rows (a laid-out row's
  own, else the vote of its nearest laid-out rows).

The client holds ``cap`` hashes per block, the first ``cap`` distinct rows
(``cap`` = the larger of 5,000 and ``m``: 5,000 to 100,000 rows; a row's copies
in several blocks come from each) and their layout, and ``m`` numbers per
block: nothing of the size of the data but the labels, and not those with
``labels_on_workers``. The same labels as one machine, but where a row's
nearest laid-out rows tie in float32 (their distances are computed in batches
of other sizes here) or a grid line falls within the last bits of a value (odds
above).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shiftkit import QuickShift
from shiftkit._rows import ScaleFreeGrid, distinct_rows
from shiftkit.cluster.stages import (
    ASSIGN_NEIGHBORS,
    AXES_MAX_ROWS,
    LAYOUT_STAGES,
    LayoutFit,
    LayoutModel,
    centered,
    compute_dtype,
    graph_axes,
    graph_coordinates,
    lay_out,
    layout_size,
    nearest_laid_out,
    quick_shift_layout_store,
    seek_in_layout,
    space_of_rows,
    vote,
)
from shiftkit.distributed._blocks import BlockFrame, _frame_of_blocks, worker_threads
from shiftkit.embedding import SnappedAxes

__all__ = ["LAYOUT_DASK_STAGES", "fit_quick_shift_layout"]

LAYOUT_DASK_STAGES = ("reading", "the first distinct rows", *LAYOUT_STAGES, "labels")


@dataclass(frozen=True)
class _BlockRows:
    """A block's distinct rows in content order (kept on its worker): the distinct row of each of its rows,
    the row (in the block) of each distinct row's first copy, their copies and their hashes."""

    inverse: np.ndarray  # (n_b,)
    first: np.ndarray  # (u_b,)
    counts: np.ndarray  # (u_b,)
    hashes: np.ndarray  # (u_b,) ascending


@dataclass(frozen=True)
class _BlockNearest:
    """A block's rows placed (kept on its worker): for each of its distinct rows, the laid-out row it is
    (-1: none) and, for those that are none, their nearest laid-out rows, nearest first."""

    inverse: np.ndarray  # (n_b,)
    laid: np.ndarray  # (u_b,)
    nearest: np.ndarray  # (r_b, k) for the distinct rows with laid == -1, in order
    counts: np.ndarray  # (u_b,)


def _grid_sums(X: np.ndarray, framing: BlockFrame, unit: float) -> np.ndarray:
    """The sum of each framed column over ``unit`` (a task)."""
    return (framing.block(X) / unit).sum(0)


def _grid_squares(X: np.ndarray, framing: BlockFrame, unit: float, mean: np.ndarray) -> float:
    """The sum of the squared deviations of the framed values over ``unit`` from ``mean`` (a task)."""
    return float(np.square(framing.block(X) / unit - mean).sum())


def _block_rows(X: np.ndarray, framing: BlockFrame, grid: ScaleFreeGrid) -> _BlockRows:
    """The block's distinct rows in content order (a task; kept on the worker)."""
    Z = framing.block(X)
    with worker_threads():
        distinct = distinct_rows(Z, hashes=grid.hashes(Z))
    return _BlockRows(distinct.inverse, distinct.first, distinct.counts.astype(np.float64), distinct.hashes)


def _first_hashes(rows: _BlockRows, cap: int) -> np.ndarray:
    """The hashes of the block's first ``cap`` distinct rows (a task)."""
    return rows.hashes[:cap]


def _first_rows(
    X: np.ndarray, framing: BlockFrame, rows: _BlockRows, last: np.uint64, offset: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The block's distinct rows of hashes up to ``last`` (a task): their hashes, framed values, copies
    and the index in all the rows of their first copy."""
    take = rows.first[: int(np.searchsorted(rows.hashes, last, side="right"))]
    at = slice(0, len(take))
    return rows.hashes[at], framing.block(X[take]), rows.counts[at], offset + take


def _value(value: Any) -> Any:
    return value


def _sent_once(client: Any, value: Any) -> Any:
    """``value`` as the result of a task of its own: sent to the cluster once, not inside every block's task
    that reads it (40,000 laid-out rows of 64 coordinates are 10 MB; 8 blocks sent them 8 times, and Dask
    warned of a large graph), and recomputed from the scheduler's copy where the worker holding it is lost
    (data scattered to a worker killed while it arrived were lost with it)."""
    with warnings.catch_warnings():  # the one large graph, on purpose
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return client.submit(_value, value, pure=False)


def _place(
    X: np.ndarray,
    framing: BlockFrame,
    rows: _BlockRows,
    laid_of_sent: np.ndarray,
    axes: SnappedAxes,
    laid_out: torch.Tensor,
    k: int,
    memory_budget: int,
) -> _BlockNearest:
    """The block's distinct rows placed among the laid-out rows (a task; kept on the worker):
    ``laid_of_sent`` is the laid-out row (or -1) of each of the first distinct rows it sent."""
    laid = np.full(rows.first.shape[0], -1, dtype=np.int64)
    laid[: len(laid_of_sent)] = laid_of_sent
    rest = np.flatnonzero(laid < 0)
    nearest = np.zeros((0, k), dtype=np.int64)
    if len(rest):
        Z = torch.from_numpy(framing.block(X[rows.first[rest]]))
        with worker_threads():
            _, found = nearest_laid_out(laid_out, graph_coordinates(Z, axes), k, memory_budget)
        nearest = found.cpu().numpy().astype(np.int64)
    return _BlockNearest(rows.inverse, laid, nearest, rows.counts)


def _nearest_counts(placed: _BlockNearest, m: int) -> np.ndarray:
    """How many of the block's rows not laid out each laid-out row is the nearest of (a task)."""
    rest = placed.laid < 0
    return np.bincount(placed.nearest[:, 0], weights=placed.counts[rest], minlength=m).astype(np.float64)


def _labels(placed: _BlockNearest, laid_labels: np.ndarray, laid_density: np.ndarray) -> tuple:
    """The block's rows' labels and densities (a task): a laid-out row's own, else the vote of its nearest
    laid-out rows (the density of the nearest)."""
    labels = np.empty(placed.laid.shape[0], dtype=np.int64)
    density = np.empty(placed.laid.shape[0], dtype=np.float64)
    own = placed.laid >= 0
    labels[own] = laid_labels[placed.laid[own]]
    density[own] = laid_density[placed.laid[own]]
    if len(placed.nearest):
        with worker_threads():
            labels[~own] = vote(laid_labels[placed.nearest])
        density[~own] = laid_density[placed.nearest[:, 0]]
    return labels[placed.inverse], density[placed.inverse]


def _rows_at(X: np.ndarray, local: np.ndarray) -> np.ndarray:
    """The rows ``local`` of a block, as given (a task)."""
    return X[local]


def fit_quick_shift_layout(
    estimator: QuickShift,
    blocks: list[Any],
    client: Any,
    requested: str,
    on_stage: Callable[[str], Any] | None = None,
    labels_on_workers: bool = False,
) -> QuickShift:
    """QuickShift of the rows of ``blocks`` (futures of float64 arrays, in order) in a graph layout (the
    module docstring), ``requested`` 'auto' or 'graph-layout': the estimator fitted, with ``traffic_``
    (the bytes the client received, per stage). ``labels_on_workers``: ``labels_`` and ``density_`` are
    None and ``label_blocks_`` holds a future per block of (its rows' labels, their densities)."""
    report = on_stage or (lambda name: None)
    submit = client.submit
    memory_budget = int(estimator.memory_budget)
    frame, stats, n, _ = _frame_of_blocks(client, blocks, compute_dtype(estimator, torch.float64))
    d = int(stats[0][1].shape[0])
    origin, scale = frame.origin.numpy(), frame.scale
    framing = BlockFrame(origin, scale, "float64")
    received: dict[str, int] = {}

    report(LAYOUT_DASK_STAGES[1])
    # the hash grid of the framed rows (`scale_free_hashes`): extremes from the blocks' statistics (framing
    # is monotone), then the mean and the squares summed block by block
    lo = centered(np.min([st[3] for st in stats], axis=0), origin, scale)
    hi = centered(np.max([st[4] for st in stats], axis=0), origin, scale)
    unit = ScaleFreeGrid.unit_of(max(float(hi.max()), -float(lo.min())))
    mean = sum(client.gather([submit(_grid_sums, b, framing, unit, pure=False) for b in blocks])) / n
    squares = sum(client.gather([submit(_grid_squares, b, framing, unit, mean, pure=False) for b in blocks]))
    grid = ScaleFreeGrid.of(unit, mean, float(squares), n)
    rows = [submit(_block_rows, b, framing, grid, pure=False) for b in blocks]
    _, wanted = layout_size(n, float(n), estimator.min_cluster_size)  # as many as n distinct rows ask
    cap = max(AXES_MAX_ROWS, wanted)
    # the cap smallest hashes of all the distinct rows are among the cap smallest of each block: those
    # first, then the rows of those hashes (all rows of a hash: where two differ, their values order them)
    firsts_hashes = client.gather([submit(_first_hashes, r, cap, pure=False) for r in rows])
    received["the first distinct rows' hashes"] = sum(h.nbytes for h in firsts_hashes)
    smallest = np.unique(np.concatenate(firsts_hashes))[:cap]  # not empty: the frame found rows
    offsets = np.cumsum([0] + [int(st[0]) for st in stats])
    tasks = [
        submit(_first_rows, b, framing, r, smallest[-1], int(at), pure=False)
        for b, r, at in zip(blocks, rows, offsets)
    ]
    sent = client.gather(tasks)
    received["the first distinct rows"] = sum(sum(a.nbytes for a in part) for part in sent)
    merged = distinct_rows(np.concatenate([p[1] for p in sent]), hashes=np.concatenate([p[0] for p in sent]))
    n_known = merged.n_distinct  # all of them where fewer than cap hashes were found, else at least cap
    copies = np.bincount(merged.inverse, weights=np.concatenate([p[2] for p in sent]), minlength=n_known)
    first = np.full(n_known, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, merged.inverse, np.concatenate([p[3] for p in sent]))
    firsts = np.concatenate([p[1] for p in sent])[merged.first]  # (n_known, d): framed, content order
    if n_known < 2:
        raise ValueError("every row is the same: QuickShift on Dask needs rows that differ (fit one machine)")
    keep = min(n_known, cap)
    A = firsts[:AXES_MAX_ROWS]
    space = space_of_rows(A, d, n_known, requested)
    if space.name != "graph-layout":
        raise ValueError(
            "QuickShift on Dask seeks the modes in the input space (at most 4 features) or in a graph "
            f"layout; these data would be clustered in the space {space.name!r} ({space.reason}): fit them "
            "on one machine, or pass space='graph-layout'"
        )
    least, m = layout_size(keep, float(n), estimator.min_cluster_size)
    axes = graph_axes(torch.from_numpy(A), np.arange(A.shape[0]))
    laid_out = graph_coordinates(torch.from_numpy(firsts[:m]), axes)  # (m, q) float32
    graph, embedding = lay_out(laid_out, memory_budget, report)

    report(LAYOUT_STAGES[2])
    k = min(ASSIGN_NEIGHBORS, m)
    axes_f, laid_out_f = _sent_once(client, axes), _sent_once(client, laid_out)
    placed = []
    for b, r, part, inverse_at in zip(blocks, rows, sent, np.cumsum([0] + [len(p[0]) for p in sent])):
        of_sent = merged.inverse[inverse_at : inverse_at + len(part[0])]
        laid_of_sent = np.where(of_sent < m, of_sent, -1)
        task = submit(_place, b, framing, r, laid_of_sent, axes_f, laid_out_f, k, memory_budget, pure=False)
        placed.append(task)
    nearest_counts = client.gather([submit(_nearest_counts, p, m, pure=False) for p in placed])
    received["the rows nearest to each laid-out row"] = sum(c.nbytes for c in nearest_counts)
    weight = copies[:m] + np.sum(nearest_counts, axis=0)

    report(LAYOUT_STAGES[3])
    prominence = estimator.prominence
    seeking = seek_in_layout(
        embedding, weight, graph, least=least, prominence=prominence, memory_budget=memory_budget
    )
    laid_labels = seeking.labels_with_noise(not estimator.cluster_all)
    laid_density = seeking.density.double().cpu().numpy()

    report(LAYOUT_DASK_STAGES[-1])
    labels_f, density_f = _sent_once(client, laid_labels), _sent_once(client, laid_density)
    label_blocks = [submit(_labels, p, labels_f, density_f, pure=False) for p in placed]
    labels = density = np.zeros(0)
    if not labels_on_workers:
        parts = client.gather(label_blocks)
        labels = np.concatenate([p[0] for p in parts])
        density = np.concatenate([p[1] for p in parts])
        received["labels and densities"] = sum(p[0].nbytes + p[1].nbytes for p in parts)
    peaks = first[seeking.peaks]  # the input rows at the modes (their first copies)
    block_of = np.searchsorted(offsets, peaks, side="right") - 1
    held = np.unique(block_of)
    found = client.gather(
        [submit(_rows_at, blocks[j], peaks[block_of == j] - offsets[j], pure=False) for j in held]
    )
    centers = np.zeros((len(peaks), d))
    for j, rows_there in zip(held, found):
        centers[block_of == j] = rows_there
    received["the modes' rows"] = centers.nbytes
    fit = LayoutFit(
        labels,
        peaks,
        density,
        embedding,
        first[:m],
        seeking,
        LayoutModel(axes, laid_out, laid_labels, memory_budget),
        graph.neighbors,
    )
    fitted = quick_shift_layout_store(estimator, frame, space, fit, centers.astype(np.float64), d)
    fitted.traffic_ = received
    if labels_on_workers:
        for name, value in {"labels_": None, "density_": None, "label_blocks_": label_blocks}.items():
            setattr(fitted, name, value)
    return fitted
