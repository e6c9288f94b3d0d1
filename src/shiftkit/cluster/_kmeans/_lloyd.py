"""Lloyd's iterations: the assignment fused with the minimum, the update by scatter-add, buffers reused.

The assignment fills a cache-sized block of ``|c|^2 - 2 x.c`` with one matrix
product (the data are centered in float64 before the cast, so the expansion
keeps its digits) and takes each row's minimum and its index in one pass
(`shiftkit._ops.row_min`, compiled on the CPU); the block's rows are added
to their centers' sums while they are still in cache. Sums and weights are
accumulated in float64. The loop follows scikit-learn's ``_kmeans_single_lloyd``
step for step: strict convergence when no label changes, else a total squared
center shift within ``tol``; empty clusters relocated to the points farthest
from their centers; a last assignment when it stopped on ``tol``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from shiftkit._ops import offset_sums, own_distances, row_chunks, row_min

__all__ = ["LloydResult", "assign", "block_rows", "hamerly", "inertia", "lloyd"]

# Bytes of the (rows, k) distance block: small enough to stay in a core's cache between the matrix
# product that writes it and the minimum that reads it (2-4 MiB measured best here).
BLOCK_BYTES = 4 << 20


def block_rows(n_clusters: int, itemsize: int, memory_budget: int) -> int:
    """Rows per assignment block: a cache-sized (rows, k) block, within the memory budget."""
    return max(1, min(BLOCK_BYTES, memory_budget) // max(1, n_clusters * itemsize))


def assign(
    X: Tensor,
    C: Tensor,
    *,
    memory_budget: int,
    sums: Tensor | None = None,
    weights: Tensor | None = None,
    labels: Tensor | None = None,
    x2: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """The nearest center of each row of ``X``, and ``|c|^2 - 2 x.c`` for it (plus ``x2``, clamped at 0:
    the squared distance, when the rows' squared norms ``x2`` are given).

    With ``sums`` (k, d) float64, also adds each row's offset from its center,
    ``x - c`` (times its weight), to that center's sum in float64 while the
    block is in cache (offsets are small against the centers: the new center
    ``c + sum / weight`` keeps its digits). ``labels`` is an optional output buffer.
    """
    n, k = X.shape[0], C.shape[0]
    rows = block_rows(k, X.element_size(), memory_budget)
    c2 = C.square().sum(1)
    out = labels if labels is not None else torch.empty(n, dtype=torch.long, device=X.device)
    vals = torch.empty(n, dtype=X.dtype, device=X.device)
    block = torch.empty((min(rows, n), k), dtype=X.dtype, device=X.device)
    w = None if weights is None else weights.to(X.dtype)
    C = C.contiguous()
    CT = C.T
    for s in row_chunks(n, rows):
        D = block[: s.stop - s.start]
        torch.addmm(c2, X[s], CT, alpha=-2.0, out=D)
        if sums is None:
            row_min(D, vals[s], out[s])
        else:
            row_min(D, vals[s], out[s], offsets_of=(X[s], C, None if w is None else w[s]), sums=sums)
    if x2 is not None:
        vals.add_(x2).clamp_min_(0)
    return out, vals


def inertia(X: Tensor, C: Tensor, labels: Tensor, weights: Tensor | None, memory_budget: int) -> float:
    """``sum_i w_i |x_i - c_{l_i}|^2`` from explicit differences, accumulated in float64."""
    n, d = X.shape
    rows = max(1, min(memory_budget, BLOCK_BYTES) // max(1, 2 * d * X.element_size()))
    total = 0.0
    for s in row_chunks(n, rows):
        d2 = (X[s] - C[labels[s]]).square_().sum(1, dtype=torch.float64)
        total += float(d2.sum() if weights is None else d2 @ weights[s])
    return total


@dataclass
class LloydResult:
    labels: Tensor  # (n,) int64
    centers: Tensor  # (k, d), the computation's dtype
    n_iter: int
    strict: bool  # stopped because no label changed


# The per-iteration hook: (iteration from 1, centers after the update, labels they came from, inertia of
# those labels against the centers before the update, total squared shift).
StepHook = Callable[[int, Tensor, Tensor, float, float], None]


def stops(same_labels: bool, shift: float, tol: float) -> tuple[bool, bool]:
    """scikit-learn's stopping rule, for every Lloyd loop: (stop, strict). Strict when no label changed
    (the labels are final); else stop when the total squared center shift is at most ``tol`` (a last
    assignment follows)."""
    return same_labels or shift <= tol, same_labels


def lloyd(
    X: Tensor,
    weights: Tensor | None,
    centers: Tensor,
    *,
    max_iter: int,
    tol: float,
    memory_budget: int,
    spherical: bool = False,
    on_step: StepHook | None = None,
) -> LloydResult:
    """Lloyd's algorithm from ``centers`` (k, d); ``weights`` float64 (n,) or None.

    ``tol`` is absolute: the total squared center shift in the frame's units.
    ``spherical``: the rows of ``X`` are unit vectors and every center is
    normalised after its update (spherical k-means, for cosine similarity).
    """
    n, _ = X.shape
    C = centers.clone()
    C_new = torch.empty_like(C)
    sums = torch.zeros(C.shape, dtype=torch.float64, device=X.device)
    labels = torch.full((n,), -1, dtype=torch.long, device=X.device)
    labels_old = labels.clone()
    strict = False
    it = 0
    x2 = X.square().sum(1) if on_step is not None else None  # squared distances, only when reported
    for it in range(1, max_iter + 1):
        sums.zero_()
        labels, dist = assign(
            X, C, memory_budget=memory_budget, sums=sums, weights=weights, labels=labels, x2=x2
        )

        def full_distances(dist: Tensor = dist) -> Tensor:  # |c|^2 - 2 x.c -> squared distances, once
            return dist if x2 is not None else dist.add_(X.square().sum(1)).clamp_min_(0)

        C_new.copy_(_new_centers(X, weights, C, labels, sums, full_distances, spherical))
        shift = float((C_new.double() - C.double()).square_().sum())
        if on_step is not None:
            w_dist = dist.double().sum() if weights is None else dist.double() @ weights
            on_step(it, C_new, labels, float(w_dist), shift)
        C, C_new = C_new, C
        stop, strict = stops(torch.equal(labels, labels_old), shift, tol)
        if stop:
            break
        labels_old.copy_(labels)
    if not strict:
        labels, _ = assign(X, C, memory_budget=memory_budget, labels=labels)
    return LloydResult(labels, C, it, strict)


def _new_centers(
    X: Tensor,
    weights: Tensor | None,
    C: Tensor,
    labels: Tensor,
    sums: Tensor,
    distances: Callable[[], Tensor],
    spherical: bool,
) -> Tensor:
    """The update of both loops, float64 (k, d): ``sums`` holds each center's summed offsets ``w (x - c)``;
    empty clusters are relocated (``distances()``: the rows' squared distances to their centers, asked
    for only then); spherical centers are normalised (a zero mean keeps the old center)."""
    k = C.shape[0]
    counts = (
        torch.bincount(labels, minlength=k).double()
        if weights is None
        else torch.zeros(k, dtype=torch.float64, device=X.device).index_add_(0, labels, weights)
    )
    sums.addcmul_(counts[:, None], C.double())  # offsets -> sums of the rows
    empty = torch.nonzero(counts == 0).flatten()
    if len(empty):
        dist = distances()
        if float(dist.max()) > 0:  # every row on its center (more clusters than distinct rows): none moves
            _relocate(X, weights, labels, dist, empty, sums, counts)
    # a cluster of weight 0 even after the relocation (fewer rows of positive weight than clusters) keeps
    # its center: 0 / 0 made it NaN
    sums = torch.where(counts[:, None] > 0, sums / counts[:, None].clamp_min(1e-300), C.double())
    if spherical:
        norms = sums.norm(dim=1, keepdim=True)
        sums = torch.where(norms > 0, sums / norms.clamp_min(1e-300), C.double())
    return sums


def _relocate(
    X: Tensor,
    weights: Tensor | None,
    labels: Tensor,
    dist: Tensor,
    empty: Tensor,
    sums: Tensor,
    counts: Tensor,
) -> None:
    """scikit-learn's rule: each empty cluster takes one of the points farthest from their centers.

    The point leaves its cluster's sum (its label is left alone, as in
    scikit-learn: the next assignment settles it).
    """
    far = torch.topk(dist, len(empty)).indices  # farthest first
    for new_id, i in zip(empty.tolist(), far.tolist(), strict=True):
        w = 1.0 if weights is None else float(weights[i])
        old_id = int(labels[i])
        x = X[i].double() * w
        sums[old_id] -= x
        sums[new_id] = x
        counts[new_id] = w
        counts[old_id] -= w


# -- Lloyd with Hamerly's bounds --------------------------------------------------------------------------


def _assign2(X: Tensor, C: Tensor, x2: Tensor, memory_budget: int) -> tuple[Tensor, Tensor, Tensor]:
    """The nearest center of each row, the distance to it and to the second nearest (not squared)."""
    n, k = X.shape[0], C.shape[0]
    rows = block_rows(k, X.element_size(), memory_budget)
    c2 = C.square().sum(1)
    labels = torch.empty(n, dtype=torch.long, device=X.device)
    first = torch.empty(n, dtype=X.dtype, device=X.device)
    second = torch.empty(n, dtype=X.dtype, device=X.device)
    block = torch.empty((min(rows, n), k), dtype=X.dtype, device=X.device)
    CT = C.contiguous().T
    for s in row_chunks(n, rows):
        D = block[: s.stop - s.start]
        torch.addmm(c2, X[s], CT, alpha=-2.0, out=D)
        row_min(D, first[s], labels[s], second=second[s])
    first = first.add_(x2).clamp_min_(0).sqrt_()
    second = second.add_(x2).clamp_min_(0).sqrt_() if k > 1 else torch.full_like(first, math.inf)
    return labels, first, second


def _half_gap(C: Tensor) -> Tensor:
    """Half the distance from each center to its nearest other center (k,); inf for a single center."""
    k = C.shape[0]
    out = torch.full((k,), math.inf, dtype=torch.float64, device=C.device)
    if k == 1:
        return out
    C64 = C.double()
    rows = max(1, (1 << 24) // max(1, k * 8))
    for s in row_chunks(k, rows):
        D = torch.cdist(C64[s], C64)
        D[torch.arange(s.stop - s.start), torch.arange(s.start, s.stop)] = math.inf
        out[s] = 0.5 * D.amin(1)
    return out


@dataclass
class _Bounds:
    """Hamerly's bounds of every row: ``upper`` >= the distance to its center, ``lower`` <= the distance
    to any other center (in the data's dtype: their rounding is far below the slack)."""

    labels: Tensor
    upper: Tensor
    lower: Tensor


def _reassign(
    X: Tensor, C: Tensor, b: _Bounds, moved: Tensor, x2: Tensor, slack: float, memory_budget: int
) -> _Bounds:
    """The assignment to ``C`` (whose centers moved by ``moved`` (k,) since the bounds were exact), computing
    distances only for the rows whose bounds cannot rule out a change (Hamerly 2010).

    A row keeps its center when ``upper + slack <= max(lower, half gap) - slack``; ``slack`` covers the
    rounding of the expanded distances, so that the rows skipped are those the full assignment would
    give the same center.
    """
    labels = b.labels.clone()
    moved = moved.to(b.upper.dtype)
    upper = b.upper + moved.index_select(0, labels)
    if moved.numel() > 1:
        top = torch.topk(moved, 2)
        lower = b.lower - torch.where(labels == top.indices[0], top.values[1], top.values[0])
    else:
        lower = b.lower - moved[0]
    bound = torch.maximum(_half_gap(C).to(lower.dtype).index_select(0, labels), lower)
    cand = torch.nonzero(upper + slack > bound - slack).flatten()
    if cand.numel():
        exact = own_distances(X, C.contiguous(), labels, cand).to(upper.dtype)
        upper[cand] = exact
        cand = cand[exact + slack > bound.index_select(0, cand) - slack]
    if cand.numel():
        la, d1, d2 = _assign2(X.index_select(0, cand), C, x2.index_select(0, cand), memory_budget)
        labels[cand] = la
        upper[cand] = d1.to(upper.dtype)
        lower[cand] = d2.to(upper.dtype)
    return _Bounds(labels, upper, lower)


def hamerly(
    X: Tensor,
    weights: Tensor | None,
    centers: Tensor,
    *,
    max_iter: int,
    tol: float,
    memory_budget: int,
    spherical: bool = False,
    on_step: StepHook | None = None,
) -> LloydResult:
    """Lloyd's algorithm (the same steps, stops and answers as `lloyd`) with Hamerly's bounds: after the
    first iterations most rows provably keep their center and no distance is computed for them."""
    n, _ = X.shape
    k = centers.shape[0]
    C = centers.clone()
    x2 = X.square().sum(1)
    x2_max = float(x2.max()) if n else 0.0
    w = None if weights is None else weights.to(X.dtype)
    eps = torch.finfo(X.dtype).eps

    def slack_for(C: Tensor) -> float:
        return math.sqrt(16 * eps * (x2_max + float(C.square().sum(1).max())))

    labels, d1, d2 = _assign2(X, C, x2, memory_budget)
    bounds = _Bounds(labels, d1, d2)
    labels_old = torch.full((n,), -1, dtype=torch.long, device=X.device)
    moved = torch.zeros(k, dtype=torch.float64, device=X.device)
    strict = False
    it = 0
    for it in range(1, max_iter + 1):
        if it > 1:
            bounds = _reassign(X, C, bounds, moved, x2, slack_for(C), memory_budget)
        labels = bounds.labels
        sums = torch.zeros(C.shape, dtype=torch.float64, device=X.device)
        offset_sums(X, C.contiguous(), labels, w, sums)
        found: list[Tensor] = []

        def full_distances(
            C: Tensor = C, found: list[Tensor] = found
        ) -> Tensor:  # the squared distances, as the plain loop has them
            if not found:
                found.append(assign(X, C, memory_budget=memory_budget, x2=x2)[1])
            return found[0]

        C_new = _new_centers(X, weights, C, labels, sums, full_distances, spherical).to(X.dtype)
        step = C_new.double() - C.double()
        shift = float(step.square().sum())
        moved = step.norm(dim=1)
        if on_step is not None:
            dist = full_distances()
            w_dist = dist.double().sum() if weights is None else dist.double() @ weights
            on_step(it, C_new, labels, float(w_dist), shift)
        C = C_new
        stop, strict = stops(torch.equal(labels, labels_old), shift, tol)
        if stop:
            break
        labels_old = labels
    if not strict:
        bounds = _reassign(X, C, bounds, moved, x2, slack_for(C), memory_budget)
    return LloydResult(bounds.labels, C, it, strict)
