"""QuickShift on Dask, in the input space: slabs of cell columns with a halo checked after the fact, the
basins' graph merged where ``fit`` is called, the labels made on the workers.

One machine's `QuickShift` (input space) runs on the distinct rows in content
order (sorted by a hash of their values): the local bandwidth from the first
10,000 of them, the Gaussian density at every row (the grid engine: a row sums
the rows of the 3^d cells of side ``4 h`` around its own, cell by cell, each
cell's rows in content order), the k-nearest-neighbor graph, one climb step per
row (to its densest mutual neighbor if denser, ties by content order), the
basins' tree through the saddles of the mutual edges, and the merge. Every step
but the tree reads a row's neighborhood only, so here:

- the workers frame their blocks (the frame from the blocks' statistics; with no
  bandwidth given, snapped as one machine's default is, `Frame.snapped`, from
  order-free sums of the blocks, `shiftkit._rows.column_folds`) and
  send each block's distinct rows of the smallest hashes: the client keeps the
  first 10,000 (the rows one machine draws) and measures the bandwidth on them;
- the space is cut along the first coordinate into slabs of whole cell columns
  (about ``block_rows`` rows each); a worker holds a slab's rows and a halo of
  whole columns on each side (a first guess from the sample, `_first_halos`),
  removes equal rows (all copies of a row share its columns), and finds the
  k nearest neighbors of its own rows and of theirs, their densities and
  their climb steps. A row's density is exact where its 3^d cells are held
  (one column in from the halo's edge); its neighbors are exact where the k-th
  is nearer than the halo's edge. **The check**: every row of the slab, and
  every neighbor of one, must be exact in both; where one is not, the slab says
  by how many columns it fell short and is done again with that halo (at
  least twice the old);
- each slab follows its rows' steps while they stay in the slab: to a mode of
  its own, or out to a halo row (an exit). Each slab asks for the halo rows it
  needs (its exits, its own rows' neighbors); their slabs say where those rows'
  steps end; the client follows the exits across slabs and every worker learns
  the mode (basin) of each row it needs;
- each slab sends its modes (peak density, size) and its rows' mutual edges
  between basins (the highest per pair of basins); the client builds the
  basins' tree (`join_by_saddles`, the edges in an order set by the edges),
  and for each top of a part the mutual graph leaves apart, the basin of its
  nearest denser row: among its neighbors on its slab, else over all rows (each
  slab's nearest, the nearest of those);
- `merge_tree` chooses the level and merges, as on one machine; the workers
  label their rows (noise below a cluster's core with ``cluster_all=False``)
  and the labels and densities come back at the end.

The client holds the first-coordinate sample, 10,000 rows per block, the rows
asked for near the slabs' edges (within a neighbor's reach) with their ends,
and numbers per basin and per pair of basins: by the modes and the slabs'
edges, not by the rows (`traffic_`).

The same labels as one machine where one machine's density runs on the grid
engine (more than 14,142 distinct rows in at most 6 features and enough
occupied cells, as a million rows do): the same rows in the same order give
each row the same sums, bit for bit. Where one machine takes another engine
(an exact Gaussian), the slabs still take the grid (the Gaussian truncated at
4 bandwidths): the densities differ by about 1e-4 and a row on a ridge may
climb the other way.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from shiftkit import QuickShift
from shiftkit.bandwidth import local_bandwidth
from shiftkit.cluster.stages import (
    GRAPH_LEAST_NEIGHBORS,
    LOW_LEVELS_MAX_FEATURES,
    MIN_GAP_POINTS,
    NEIGHBORS,
    ModeTree,
    climb_steps,
    compute_dtype,
    density_at,
    density_noise,
    density_pays,
    distinct_rows,
    edges_between_basins,
    follow,
    input_min_size,
    join_by_saddles,
    make_index,
    merge_tree,
    neighbors_for,
    plan_quick_shift,
    quick_shift_store,
    spread_reason,
    support_of,
)
from shiftkit.distributed._blocks import BlockFrame, _frame_of_blocks, _rounded_of_blocks, _snap_of_blocks
from shiftkit.kernels import get_kernel
from shiftkit.neighbors import KNNGraph, mutual_mask

QUICKSHIFT_STAGES = ("reading", "local scale", "slabs", "density and graph", "basins", "saddles", "labels")
# the least first halo on each side of a slab, in columns (a column is 4 bandwidths wide)
HALO_COLUMNS = 2
# the narrowest slab, in columns, on average: the rows held twice (the halos') stay a small share
MIN_SLAB_COLUMNS = 12
REFERENCE_ROWS = 10_000  # the rows the local bandwidth is measured on (local_bandwidth's reference_size)
SAMPLE_PER_BLOCK = 10_000
# a k-th neighbor this close to the halo's edge (in columns) does not count as inside: rounding in the
# column of a row never lets a row outside the halo be nearer than the check says
EDGE_SLACK = 1e-4
# the slabs sum the density by cells (the grid engine), as one machine does where the grid pays
ENGINE = "grid"


def _leading(
    X: np.ndarray, framing: BlockFrame, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A block's ``m`` distinct rows of the smallest hashes (framed), their hashes and copies, and a sample
    of the first coordinate (a task)."""
    Z = framing.block(X)
    if Z.shape[0] == 0:
        return np.zeros(0, np.uint64), Z, np.zeros(0), Z[:, 0]
    distinct = distinct_rows(Z)
    first = distinct.first[:m]  # content order: the smallest hashes first
    sample = Z[:: max(1, Z.shape[0] // SAMPLE_PER_BLOCK), 0].copy()
    return distinct.hashes[:m], Z[first], distinct.counts[:m].astype(np.float64), sample


def _columns(Z: Tensor, cell: float) -> np.ndarray:
    """The cell column of each row: its first coordinate's cell, computed as the grid engine computes it."""
    return torch.floor(Z / cell)[:, 0].long().numpy() if Z.shape[0] else np.zeros(0, np.int64)


def _cut(
    X: np.ndarray,
    framing: BlockFrame,
    cell: float,
    offset: int,
    ranges: list[tuple[float, float, float, float]],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """One block's rows for each slab (a task): (framed rows, input rows, their indices in the whole data,
    in the slab itself), for ``ranges`` of columns (held from, held to, own from, own to; ends excluded)."""
    Z = framing.block(X)
    col = _columns(torch.from_numpy(Z), cell)
    out = []
    for lo, hi, own_lo, own_hi in ranges:
        rows = np.flatnonzero((col >= lo) & (col < hi))
        own = (col[rows] >= own_lo) & (col[rows] < own_hi)
        out.append((Z[rows], X[rows], rows + offset, own))
    return out


@dataclass
class Slab:
    """One slab on its worker: its distinct rows and its halo's, in content order, and what was found."""

    Z: Tensor  # (m, d) framed, the computation's dtype
    hashes: np.ndarray  # (m,) uint64
    counts: np.ndarray  # (m,) copies
    col: np.ndarray  # (m,) cell column
    own: np.ndarray  # (m,) bool: in the slab itself
    first_row: np.ndarray  # (m, d) each distinct row's first copy, as given
    members: np.ndarray  # (r,) the whole data's index of every copy of the slab's own rows
    member_of: np.ndarray  # (r,) its distinct row
    held: tuple[float, float]  # the columns held (ends excluded)
    density: Tensor | None = None
    log_f: Tensor | None = None
    graph: Any = None
    end: np.ndarray | None = None  # (m,) where each own row's steps end inside the slab (a row index)
    basin: np.ndarray | None = field(default=None)  # (m,) uint64: the hash of each row's mode


def _slab_rows(pieces: list, held: tuple[float, float]) -> Slab:
    """A slab's rows from the blocks' pieces, equal rows made one (a task)."""
    Z = np.concatenate([p[0] for p in pieces])
    raw = np.concatenate([p[1] for p in pieces])
    index = np.concatenate([p[2] for p in pieces])
    own = np.concatenate([p[3] for p in pieces])
    if Z.shape[0] == 0:
        d = Z.shape[1]
        empty = np.zeros(0, np.int64)
        return Slab(torch.zeros((0, d), dtype=torch.from_numpy(Z).dtype), np.zeros(0, np.uint64), np.zeros(0),
                    empty, np.zeros(0, bool), raw, empty, empty, held)  # fmt: skip
    # the pieces come block by block, each in its rows' order: the rows are in the whole data's order, so
    # a distinct row's first copy here is its first copy in the data (one machine's `first`)
    distinct = distinct_rows(Z)
    if (np.diff(distinct.hashes) == 0).any():
        raise RuntimeError("two distinct rows share a 64-bit hash: fit on one machine")
    copies = np.flatnonzero(own)
    return Slab(
        torch.from_numpy(np.ascontiguousarray(Z[distinct.first])), distinct.hashes,
        distinct.counts.astype(np.float64), np.zeros(0, np.int64), own[distinct.first], raw[distinct.first],
        index[copies], distinct.inverse[copies], held,
    )  # fmt: skip


def _slab_counts(slab: Slab, cell: float) -> tuple[int, int, float]:
    """(distinct rows of the slab itself, its occupied cells of side ``cell``, the sum of the squares of
    its rows' copies) (a task)."""
    own = slab.Z[torch.from_numpy(slab.own)]
    if own.shape[0] == 0:
        return 0, 0, 0.0
    squares = float(np.square(slab.counts[slab.own]).sum())  # whole numbers: exact, in any order
    return int(own.shape[0]), int(torch.unique(torch.floor(own / cell).long(), dim=0).shape[0]), squares


def _slab_graph(
    slab: Slab, bandwidth: float, k: int, weighted: bool, memory_budget: int, cell: float
) -> tuple[Slab, tuple[float, float]]:
    """The density and the k-nearest-neighbor graph of every row the slab holds, the climb inside the
    slab, and the columns the halo fell short by on each side (0, 0: wide enough; the module docstring's
    check) (a task)."""
    m = slab.Z.shape[0]
    slab = replace(slab, col=_columns(slab.Z, cell))  # a new object: a task never changes its input
    if m == 0 or not slab.own.any():
        return replace(slab, end=np.arange(m)), (0.0, 0.0)
    weights = torch.from_numpy(slab.counts).to(slab.Z.dtype) if weighted else None

    def with_density(slab: Slab, rows: np.ndarray) -> Slab:
        """The density at ``rows`` (NaN elsewhere: no step reads it)."""
        at = torch.from_numpy(rows)
        found = density_at(slab.Z[at], slab.Z, bandwidth, weights, engine=ENGINE, memory_budget=memory_budget)
        density = torch.full((m,), torch.nan, dtype=found.dtype)
        density[at] = found
        return replace(slab, density=density, log_f=density.log())

    lo, hi = slab.held
    if k > m - 1:  # fewer rows held than neighbors (k >= 1: fit_quick_shift's rule): all the data
        return slab, (math.inf, math.inf)
    # the graph of the rows whose steps are taken here (the slab's own) and of their neighbors, not of
    # the whole halo: a row's k nearest other rows, in the order the index gives them
    index = make_index(slab.Z, n_neighbors=k + 1, memory_budget=memory_budget)
    lists = np.repeat(np.arange(m, dtype=np.int64)[:, None], k, 1)  # rows not searched: themselves
    dists = np.zeros((m, k))

    def search(rows: np.ndarray) -> None:
        found_d, found_i = index.kneighbors(slab.Z[torch.from_numpy(rows)], k + 1)
        d_np, i_np = found_d.double().numpy(), found_i.numpy().astype(np.int64)
        itself = i_np == rows[:, None]  # once at most (the rows are distinct); else the last goes
        first = np.argsort(itself, axis=1, kind="stable")[:, :k]
        lists[rows] = np.take_along_axis(i_np, first, 1)
        dists[rows] = np.take_along_axis(d_np, first, 1)

    own = np.flatnonzero(slab.own)
    search(own)
    near = np.setdiff1d(np.unique(lists[own]), own)
    if len(near):
        search(near)
    needed = np.union1d(own, near)
    # exact: the 3^d cells held (a column in from the edges), the k-th neighbor nearer than the edges
    x0 = slab.Z[:, 0].double().numpy()
    reach = dists[:, -1] + EDGE_SLACK * cell
    exact = (slab.col >= lo + 1) & (slab.col < hi - 1)
    exact &= (x0 - lo * cell > reach) & (hi * cell - x0 > reach)
    if not exact[needed].all():
        # the columns that would do: every row needed, and what a row not yet held could add (a row within
        # an own row's reach r has its k-th neighbor within 2 r): 3 r around the own rows. The reaches seen
        # here are at least the true ones (rows missing only push the k-th neighbor out).
        lo_need = min(
            float(np.min(slab.col[needed])) - 1,
            float(np.floor(np.min((x0 - reach)[needed]) / cell)) - 1,
            float(np.floor(np.min(x0[own] - 3 * reach[own]) / cell)) - 1,
        )
        hi_need = max(
            float(np.max(slab.col[needed])) + 2,
            float(np.floor(np.max((x0 + reach)[needed]) / cell)) + 2,
            float(np.floor(np.max(x0[own] + 3 * reach[own]) / cell)) + 2,
        )
        short = (max(0.0, lo - lo_need), max(0.0, hi_need - hi))
        return slab, short if short != (0.0, 0.0) else (1.0, 1.0)  # (rounding: a column more a side)
    mutual = mutual_mask(torch.from_numpy(lists))
    mutual[torch.from_numpy(~slab.own)] = False  # only the own rows' edges are read
    graph = KNNGraph(torch.from_numpy(dists).to(slab.Z.dtype), torch.from_numpy(lists), mutual)
    slab = replace(with_density(slab, needed), graph=graph)
    assert slab.log_f is not None
    steps = climb_steps(slab.log_f, graph).numpy()
    steps = np.where(slab.own, steps, np.arange(m))  # a row of the halo: an exit, followed on its slab
    return replace(slab, end=follow(torch.from_numpy(steps)).numpy()), (0.0, 0.0)


def _requests(slab: Slab) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the slab's halo whose mode it needs (a task): where its own rows' steps leave it, and
    its own rows' neighbors (their edges, their elders); their hashes and columns (which slab holds them)."""
    if slab.end is None or not slab.own.any():
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    own = np.flatnonzero(slab.own)
    near = [slab.end[own]]
    if slab.graph is not None:
        near.append(slab.graph.indices.numpy()[own].ravel())
    rows = np.unique(np.concatenate(near))
    rows = rows[~slab.own[rows]]
    return slab.hashes[rows], slab.col[rows]


def _ends_of(slab: Slab, hashes: np.ndarray) -> np.ndarray:
    """Where the steps of the slab's own rows ``hashes`` end inside the slab (a mode of the slab, or an exit
    into another), as hashes (a task)."""
    assert slab.end is not None
    got, at = _own_at(slab, hashes)
    assert got.all()  # the client asks a slab only for its own rows
    return slab.hashes[slab.end[at]]


def _own_at(slab: Slab, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``hashes`` are the slab's own rows, and where each sits among its rows (their hashes are
    sorted: content order)."""
    if not len(slab.hashes):
        return np.zeros(len(hashes), bool), np.zeros(len(hashes), np.int64)
    at = np.minimum(np.searchsorted(slab.hashes, hashes), len(slab.hashes) - 1)
    return (slab.hashes[at] == hashes) & slab.own[at], at


def _resolve(boundary: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The mode each row asked for climbs to, across slabs (where ``fit`` is called), from (rows, where
    their steps end in their slab): (rows' hashes, sorted; their modes' hashes)."""
    keys = np.concatenate([np.zeros(0, np.uint64), *[b[0] for b in boundary]])
    ends = np.concatenate([np.zeros(0, np.uint64), *[b[1] for b in boundary]])
    order = np.argsort(keys)
    keys, ends = keys[order], ends[order]
    while True:  # an end that is a boundary row of another slab: follow it there (its end is higher)
        at = np.minimum(np.searchsorted(keys, ends), max(len(keys) - 1, 0))
        again = (keys[at] == ends) & (ends[at] != ends) if len(keys) else np.zeros(0, bool)
        if not again.any():
            return keys, ends
        ends = np.where(again, ends[at], ends)


def _slab_basins(slab: Slab, keys: np.ndarray, modes: np.ndarray) -> Slab:
    """The slab with every held row's mode (by hash) (a task)."""
    assert slab.end is not None
    end = slab.hashes[slab.end]
    if len(keys):
        at = np.minimum(np.searchsorted(keys, end), len(keys) - 1)
        end = np.where(keys[at] == end, modes[at], end)  # an exit (or a boundary row): where it ends
    return replace(slab, basin=end)


def _slab_tree_part(
    slab: Slab,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """What the client needs of the slab for the basins' tree (a task): the basins its rows are in (hash,
    peak log density where the mode is the slab's, rows in it), and its rows' mutual edges between basins,
    the highest per pair."""
    m = len(slab.hashes)
    assert slab.end is not None and slab.basin is not None
    end = slab.basin
    own = np.flatnonzero(slab.own)
    mode_rows = own[slab.end[own] == own]
    if m == 0 or slab.log_f is None:
        empty = np.zeros(0, np.uint64)
        return empty, np.zeros(0), np.zeros(0), (empty, empty, np.zeros(0))
    f = slab.log_f.double().numpy()
    basins, where = np.unique(end[own], return_inverse=True)
    size = np.bincount(where, weights=slab.counts[own], minlength=len(basins))
    edges = (np.zeros(0, np.uint64), np.zeros(0, np.uint64), np.zeros(0))
    if slab.graph is not None:
        a, b, level = edges_between_basins(end, f, slab.graph, rows=own)
        if len(a):
            order = np.lexsort((-level, b, a))
            first = np.r_[True, (np.diff(a[order]) != 0) | (np.diff(b[order]) != 0)]
            pick = order[first]  # the highest edge of each pair
            edges = (a[pick], b[pick], level[pick])
    # the sizes of every basin with rows here (a basin spans slabs); peaks where its mode is here (a mode's
    # basin is itself, so it is among them)
    peak = np.full(len(basins), np.nan)
    peak[np.searchsorted(basins, slab.hashes[mode_rows])] = f[mode_rows]
    return basins, peak, size, edges


def _slab_nearer(slab: Slab, tops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each mode ``tops`` (hashes) held as the slab's own: the basin of its nearest denser neighbor in
    the graph, and whether there is one here (a task). Denser: higher density, ties by content order (a
    lower hash)."""
    out = np.zeros(len(tops), dtype=np.uint64)
    found = np.zeros(len(tops), dtype=bool)
    if slab.graph is None or slab.log_f is None:
        return out, found
    assert slab.basin is not None
    got, at = _own_at(slab, tops)
    f = slab.log_f.double().numpy()
    idx = slab.graph.indices.numpy()
    for t in np.flatnonzero(got):
        p = at[t]
        nb = idx[p]
        denser = (f[nb] > f[p]) | ((f[nb] == f[p]) & (slab.hashes[nb] < slab.hashes[p]))
        if denser.any():
            out[t] = slab.basin[nb[np.argmax(denser)]]
            found[t] = True
    return out, found


def _slab_nearest_denser(
    slab: Slab, points: np.ndarray, f_top: np.ndarray, h_top: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point (a mode's framed row, its log density, its hash): the nearest denser own row of the
    slab: (squared distances, inf where none; their hashes; their basins) (a task)."""
    sq_best = np.full(len(points), np.inf)
    h_best = np.zeros(len(points), np.uint64)
    b_best = np.zeros(len(points), np.uint64)
    own = np.flatnonzero(slab.own)
    if not len(own) or slab.log_f is None:
        return sq_best, h_best, b_best
    X = slab.Z[torch.from_numpy(own)]
    f = slab.log_f.double().numpy()[own]
    hashes = slab.hashes[own]
    assert slab.basin is not None
    for q in range(len(points)):
        sq = (X - torch.from_numpy(points[q]).to(X.dtype)).square().sum(1)  # as one machine computes it
        denser = torch.from_numpy((f > f_top[q]) | ((f == f_top[q]) & (hashes < h_top[q])))
        sq = torch.where(denser, sq, torch.inf)
        best = float(sq.min())
        if math.isfinite(best):
            tied = np.flatnonzero((sq == best).numpy())
            j = tied[np.argmin(hashes[tied])]
            sq_best[q], h_best[q], b_best[q] = best, hashes[j], slab.basin[own[j]]
    return sq_best, h_best, b_best


def _first_halos(
    sample: Tensor, weight: Tensor, n: int, *, k_wanted: int, cell: float, edges: np.ndarray
) -> list[list[float]]:
    """Each slab's first halo below and above, in columns: `HALO_COLUMNS`, or what the check would ask
    for the sampled rows (the slab's rows within 3 reaches of its edges), their k-th neighbor's distance
    estimated from the sample's 5th (``(k m / (5 n))^(1/d)`` of it: the same count of rows within the
    radius in the sample and in the data). A guess: the check decides; a good one saves searching twice."""
    halos = [[float(HALO_COLUMNS)] * 2 for _ in range(len(edges) - 1)]
    m, d = sample.shape
    if m < 7:
        return halos
    found, _ = make_index(sample, n_neighbors=6).kneighbors(None, 5)
    reach = found[:, -1].double().numpy() * (k_wanted * float(weight.sum()) / (5 * n)) ** (1 / d)
    x0 = sample[:, 0].double().numpy()
    col = _columns(sample, cell)
    home = np.searchsorted(edges, col, side="right") - 1
    for s in range(len(edges) - 1):
        mine = home == s
        if not mine.any():
            continue
        below = np.floor((x0[mine] - 3 * reach[mine]) / cell).min() - 1
        above = np.floor((x0[mine] + 3 * reach[mine]) / cell).max() + 2
        if np.isfinite(edges[s]):
            halos[s][0] = max(halos[s][0], float(edges[s] - below))
        if np.isfinite(edges[s + 1]):
            halos[s][1] = max(halos[s][1], float(above - edges[s + 1]))
    return halos


def _slab_labels(
    slab: Slab, modes: np.ndarray, cluster_of_basin: np.ndarray, core: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The slab's own rows' labels and densities, for every copy (a task): (indices in the whole data,
    labels, densities)."""
    if not len(slab.members):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    assert slab.basin is not None and slab.density is not None
    rows = slab.member_of  # own rows only: a halo row's mode is known only where this slab needs it
    labels = cluster_of_basin[np.searchsorted(modes, slab.basin[rows])]
    density = slab.density.double()[torch.from_numpy(rows)]
    if core is not None:  # below the cluster's core: noise
        labels = np.where(density.log().numpy() < core[labels], -1, labels)
    return slab.members, labels, density.numpy()


def fit_quick_shift(
    estimator: QuickShift,
    blocks: list[Any],
    client: Any,
    block_rows: int,
    on_stage: Callable[[str], Any] | None = None,
    labels_on_workers: bool = False,
) -> QuickShift:
    """QuickShift of the rows of ``blocks`` (futures of float64 arrays, in order) by slabs (the module
    docstring): the estimator fitted, with ``traffic_`` (the bytes the client received, per stage),
    ``slab_edges_`` (where the slabs meet on the first coordinate) and ``slab_halos_`` (each slab's halo
    on either side, in the input's units). ``labels_on_workers``: ``labels_`` and ``density_`` are None
    and ``label_blocks_`` holds a future per block of (its rows' labels, their densities), in order."""
    report = on_stage or (lambda name: None)
    d = int(client.submit(lambda b: b.shape[1], blocks[0], pure=False).result())
    plan = plan_quick_shift(estimator, d)
    compute = compute_dtype(estimator, torch.float64)
    frame, stats, n, _ = _frame_of_blocks(client, blocks, compute)
    dtype = str(compute).removeprefix("torch.")
    origin = frame.origin.numpy()
    if plan.bandwidth is None:  # spread and snapped as one machine's default is (`Frame.spread`,
        # `Frame.snapped`), to the same bits
        rounded = _rounded_of_blocks(client, blocks, stats, origin, frame.scale, n)
        snap = _snap_of_blocks(client, blocks, stats, origin, frame.scale, n, rounded)
        frame = replace(frame, snap=snap, rounded=rounded)
        plan = replace(plan, space=spread_reason(plan.space, rounded))
    snap = frame.snap
    framing = BlockFrame(origin, frame.scale, dtype, snap, frame.rounded)
    received: dict[str, int] = {}

    report(QUICKSHIFT_STAGES[1])
    leading = client.gather([client.submit(_leading, b, framing, REFERENCE_ROWS, pure=False) for b in blocks])
    received["leading rows and a sample of the first coordinate"] = sum(
        sum(a.nbytes for a in part) for part in leading
    )
    hashes = np.concatenate([p[0] for p in leading])
    rows = np.concatenate([p[1] for p in leading])
    copies = np.concatenate([p[2] for p in leading])
    _, first, where = np.unique(hashes, return_index=True, return_inverse=True)
    totals = np.bincount(where, weights=copies)
    take = slice(0, REFERENCE_ROWS)  # the first rows in content order: one machine's draw
    sample = torch.from_numpy(rows[first][take].astype(np.float64))
    sample_weight = torch.from_numpy(totals[take])
    if plan.bandwidth is not None:
        bandwidth = plan.bandwidth / frame.unit
    else:
        bandwidth = local_bandwidth(
            sample, sample_weight=sample_weight, memory_budget=plan.memory_budget, n_total=float(n)
        )
    if not bandwidth > 0:
        raise ValueError("every row is the same: QuickShift on Dask needs rows that differ (fit one machine)")
    wanted = plan.n_neighbors or neighbors_for(sample.to(compute), NEIGHBORS, least=GRAPH_LEAST_NEIGHBORS)
    cell = support_of(get_kernel("gaussian"), bandwidth)

    report(QUICKSHIFT_STAGES[2])
    x0 = torch.from_numpy(np.concatenate([p[3] for p in leading])[:, None])
    columns = _columns(x0, cell)  # of sampled rows: slabs of about equal rows
    n_slabs = max(1, math.ceil(n / block_rows))
    if len(columns):  # slabs of at least MIN_SLAB_COLUMNS: a halo is a small share of what a worker holds
        n_slabs = max(1, min(n_slabs, int(columns.max() - columns.min() + 1) // MIN_SLAB_COLUMNS))
    inner = np.zeros(0)
    if len(columns):
        inner = np.unique(np.quantile(columns, np.arange(1, n_slabs) / n_slabs).round())
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    n_slabs = len(edges) - 1
    offsets = np.cumsum([0] + [int(s[0]) for s in stats])
    halo = _first_halos(sample.to(compute), sample_weight, n, k_wanted=wanted, cell=cell, edges=edges)

    def held(s: int) -> tuple[float, float]:
        return float(edges[s] - halo[s][0]), float(edges[s + 1] + halo[s][1])

    def build(slabs: list[int]) -> dict[int, Any]:
        ranges = [(*held(s), float(edges[s]), float(edges[s + 1])) for s in slabs]
        cut = [
            client.submit(_cut, b, framing, cell, int(offsets[i]), ranges, pure=False)
            for i, b in enumerate(blocks)
        ]
        out = {}
        for j, s in enumerate(slabs):
            pieces = [client.submit(operator.getitem, c, j, pure=False) for c in cut]
            out[s] = client.submit(_slab_rows, pieces, held(s), pure=False)
        return out

    report(QUICKSHIFT_STAGES[3])
    rows_of = build(list(range(n_slabs)))
    counts = client.gather(
        [client.submit(_slab_counts, rows_of[s], cell, pure=False) for s in range(n_slabs)]
    )
    u = sum(c[0] for c in counts)
    weighted = u < n
    k = min(wanted, u - 1)
    if k < 1:
        raise ValueError(f"QuickShift on Dask needs at least 2 distinct rows, got {u}")
    occupied = sum(c[1] for c in counts)
    squares = sum(c[2] for c in counts)
    # the slabs sum by cells (ENGINE): one machine's labels where it takes the grid too
    same_engine = density_pays(u, u, occupied, d)
    graphs: dict[int, Any] = {}
    todo = list(range(n_slabs))
    while todo:
        for s in todo:
            graphs[s] = client.submit(
                _slab_graph, rows_of[s], bandwidth, k, weighted, plan.memory_budget, cell, pure=False
            )
        short = client.gather([client.submit(operator.getitem, graphs[s], 1, pure=False) for s in todo])
        todo = [s for s, by in zip(todo, short) if by != (0.0, 0.0)]
        for s, by in zip(todo, [by for by in short if by != (0.0, 0.0)]):
            for side in (0, 1):  # what the slab says it lacks, at least twice the halo that fell short
                if by[side] > 0:
                    halo[s][side] = max(halo[s][side] + by[side], 2 * halo[s][side])
        if todo:
            rows_of.update(build(todo))
    slabs = [client.submit(operator.getitem, graphs[s], 0, pure=False) for s in range(n_slabs)]

    report(QUICKSHIFT_STAGES[4])
    asked = client.gather([client.submit(_requests, sl, pure=False) for sl in slabs])
    hashes = np.concatenate([np.zeros(0, np.uint64), *[a[0] for a in asked]])
    cols = np.concatenate([np.zeros(0, np.int64), *[a[1] for a in asked]])
    hashes, first = np.unique(hashes, return_index=True)
    home = np.searchsorted(edges, cols[first], side="right") - 1  # the slab that owns each row asked for
    answers = [client.submit(_ends_of, slabs[s], hashes[home == s], pure=False) for s in range(n_slabs)]
    boundary = list(zip([hashes[home == s] for s in range(n_slabs)], client.gather(answers)))
    received["rows near the edges and where they climb"] = (
        hashes.nbytes + cols.nbytes + sum(b.nbytes for _, b in boundary)
    )
    keys, ends = _resolve(boundary)
    keys_f, ends_f = client.scatter([keys, ends], broadcast=True)
    slabs = [client.submit(_slab_basins, sl, keys_f, ends_f, pure=False) for sl in slabs]
    parts = client.gather([client.submit(_slab_tree_part, sl, pure=False) for sl in slabs])
    received["basins and the edges between them"] = sum(
        p[0].nbytes + p[1].nbytes + p[2].nbytes + sum(e.nbytes for e in p[3]) for p in parts
    )

    report(QUICKSHIFT_STAGES[5])
    all_basins = np.concatenate([np.zeros(0, np.uint64), *[p[0] for p in parts]])
    modes = np.unique(all_basins)  # content order: one machine's basin numbers
    nb = len(modes)
    size = np.zeros(nb)
    peak = np.full(nb, np.nan)
    for basins, pk, sz, _ in parts:
        at = np.searchsorted(modes, basins)
        np.add.at(size, at, sz)
        known = ~np.isnan(pk)
        peak[at[known]] = pk[known]
    a = np.concatenate([np.zeros(0, np.int64), *[np.searchsorted(modes, p[3][0]) for p in parts]])
    b = np.concatenate([np.zeros(0, np.int64), *[np.searchsorted(modes, p[3][1]) for p in parts]])
    level = np.concatenate([np.zeros(0), *[p[3][2] for p in parts]])
    saddle, elder = join_by_saddles(a, b, level, peak)
    tops = np.flatnonzero(elder < 0)
    highest = tops[np.argmax(peak[tops])] if len(tops) else -1
    apart = tops[tops != highest]
    if len(apart):  # each top of a part apart: its nearest denser row's basin (the neighbors first)
        nearer = client.gather([client.submit(_slab_nearer, sl, modes[apart], pure=False) for sl in slabs])
        found = np.zeros(len(apart), dtype=bool)
        for basin_of, hit in nearer:
            elder[apart[hit]] = np.searchsorted(modes, basin_of[hit])
            found |= hit
        far = apart[~found]
        if len(far):
            Zp = _gather_rows(client, slabs, modes[far], d)[0]
            best = client.gather(
                [
                    client.submit(_slab_nearest_denser, sl, Zp, peak[far], modes[far], pure=False)
                    for sl in slabs
                ]
            )
            for q in range(len(far)):  # the nearest of the slabs' nearest (ties: content order)
                cand = [(sq[q], h[q], basin[q]) for sq, h, basin in best if math.isfinite(sq[q])]
                if cand:
                    elder[far[q]] = np.searchsorted(modes, min(cand, key=lambda c: (c[0], c[1]))[2])
    # the density's noise, as one machine measures it from the distinct rows' copies (its weights)
    noise = density_noise(get_kernel("gaussian"), d, sums=(float(size.sum()), squares) if weighted else None)
    tree = ModeTree(peak, saddle, elder, size, np.arange(nb), float(MIN_GAP_POINTS), noise, None, d)
    merged = merge_tree(
        tree, prominence=plan.prominence,
        min_cluster_size=input_min_size(plan.min_cluster_size, d, float(size.sum())),
        low_levels=d <= LOW_LEVELS_MAX_FEATURES,
    )  # fmt: skip

    report(QUICKSHIFT_STAGES[6])
    core = None if plan.cluster_all else merged.core_levels
    modes_f, clusters_f = client.scatter([modes, merged.cluster_of_basin], broadcast=True)
    labelled = [client.submit(_slab_labels, sl, modes_f, clusters_f, core, pure=False) for sl in slabs]
    blocks_out: list[Any] | None = None
    if labels_on_workers:  # each block's labels and densities made where its slabs' are: none come here
        split = [client.submit(_by_block, part, offsets, pure=False) for part in labelled]
        blocks_out = [
            client.submit(
                _block_labels, int(offsets[b + 1] - offsets[b]),
                *[client.submit(operator.getitem, piece, b, pure=False) for piece in split], pure=False,
            )
            for b in range(len(blocks))
        ]  # fmt: skip
        from distributed import wait

        wait(blocks_out)  # done before fit returns (a failure surfaces here)
        labels, density = np.zeros(0, dtype=np.int64), np.zeros(0)
    else:
        parts = client.gather(labelled)
        labels = np.full(n, -1, dtype=np.int64)
        density = np.zeros(n)
        for index, lab, dens in parts:
            labels[index] = lab
            density[index] = dens
        received["labels and densities"] = sum(p[0].nbytes + p[1].nbytes + p[2].nbytes for p in parts)
    _, centers, top_density = _gather_rows(client, slabs, modes[merged.tops], d)
    received["the modes' rows"] = centers.nbytes + top_density.nbytes
    fitted = quick_shift_store(
        estimator, plan, frame, merged, labels=labels, density=density,
        centers=centers.astype(np.float64), top_densities=torch.from_numpy(top_density).to(compute),
        bandwidth=bandwidth, n_neighbors=k, n_features=d,
    )  # fmt: skip
    if not same_engine:
        warnings.warn(
            f"one machine would sum this density exactly (not by cells: {u} distinct rows, {occupied} "
            "occupied cells); the slabs truncate the Gaussian at 4 bandwidths, so a row on a ridge may be "
            "labelled differently",
            stacklevel=3,
        )
    # the slabs' edges on the first coordinate, in the frame's units, then the input's
    at = np.asarray(edges[1:-1], dtype=np.float64) * cell
    if snap is not None:
        at = at * snap.unit + snap.mean[0]
    extra = {
        "traffic_": received,
        "slab_edges_": at * frame.scale + float(origin[0]),
        "slab_halos_": np.asarray(halo, dtype=np.float64) * (frame.unit * cell),  # (slabs, 2): below, above
    }
    for name, value in extra.items():
        setattr(fitted, name, value)
    if blocks_out is not None:
        for name, value in {"labels_": None, "density_": None, "label_blocks_": blocks_out}.items():
            setattr(fitted, name, value)
    return fitted


def _by_block(part: tuple[np.ndarray, np.ndarray, np.ndarray], offsets: np.ndarray) -> list[tuple]:
    """A slab's labelled rows split by the block they came from (a task)."""
    index, labels, density = part
    block = np.searchsorted(offsets, index, side="right") - 1
    return [
        (index[block == b] - offsets[b], labels[block == b], density[block == b])
        for b in range(len(offsets) - 1)
    ]


def _block_labels(
    rows: int, *pieces: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """One block's labels and densities, in its rows' order, from its slabs' pieces (a task)."""
    labels = np.full(rows, -1, dtype=np.int64)
    density = np.zeros(rows)
    for at, lab, dens in pieces:
        labels[at] = lab
        density[at] = dens
    return labels, density


def _rows_of(slab: Slab, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each of ``hashes`` the slab owns (a task): its framed row, its first copy as given, its
    density; and which it owns (NaN elsewhere)."""
    got, at = _own_at(slab, hashes)
    d = slab.Z.shape[1]
    framed, given, dens = (
        np.full((len(hashes), d), np.nan),
        np.full((len(hashes), d), np.nan),
        np.full(len(hashes), np.nan),
    )
    where = at[got]
    framed[got] = slab.Z[torch.from_numpy(where)].double().numpy()
    given[got] = slab.first_row[where]
    if slab.density is not None:
        dens[got] = slab.density[torch.from_numpy(where)].double().numpy()
    return got, framed, given, dens


def _gather_rows(
    client: Any, slabs: list, hashes: np.ndarray, d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The framed rows, the rows as given and the densities of ``hashes``, from the slabs that own them."""
    framed, given, dens = (
        np.full((len(hashes), d), np.nan),
        np.full((len(hashes), d), np.nan),
        np.full(len(hashes), np.nan),
    )
    for got, z, x, f in client.gather([client.submit(_rows_of, sl, hashes, pure=False) for sl in slabs]):
        framed[got], given[got], dens[got] = z[got], x[got], f[got]
    return framed, given, dens
