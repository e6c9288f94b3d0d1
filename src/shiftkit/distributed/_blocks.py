"""Data held in blocks on the workers (one per file): read, summarised, framed; shared by the files paths."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from shiftkit._rows import (
    RoundedColumns,
    Snap,
    column_folds,
    column_levels,
    fold_total,
    merge_levels,
    square_bounds,
)
from shiftkit.cluster.stages import centered, cpu_threads


@contextlib.contextmanager
def worker_threads() -> Iterator[None]:
    """A task's numba kernels on as many threads as torch has where it runs: a Dask worker process sets
    OMP_NUM_THREADS to its own threads (torch follows), not NUMBA_NUM_THREADS, and two workers of one
    thread on 2 cores each ran numba's parallel kernels on 2 threads: QuickShift in a layout placed its
    rows in 14-24 s where one thread each took 4 s (200,000 x 64, 8 files)."""
    import numba  # noqa: F401  (loaded: `cpu_threads` sets the threads of numba where it is)

    with cpu_threads(torch.get_num_threads()):
        yield


def _load_block(path: str) -> np.ndarray:
    """One file's rows, float64, checked finite (a task)."""
    from shiftkit.io import load_data

    X = np.asarray(load_data(path)[0], dtype=np.float64)
    if X.ndim != 2 or not np.isfinite(X).all():
        raise ValueError(f"{path}: the data must be a finite 2-D table")
    return X


def _block_stats(X: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows, mean, sum of squared deviations from it, smallest and largest value, per feature (a task);
    an empty block (a file of no rows) has no mean and no extremes: zeros and +-inf, which combine to
    nothing."""
    n, d = X.shape
    if n == 0:
        return 0, np.zeros(d), np.zeros(d), np.full(d, np.inf), np.full(d, -np.inf)
    mean = X.mean(0)
    return n, mean, ((X - mean) ** 2).sum(0), X.min(0), X.max(0)


def _framed_block(
    X: np.ndarray,
    origin: np.ndarray,
    scale: float,
    dtype: str,
    snap: Snap | None = None,
    rounded: RoundedColumns | None = None,
) -> np.ndarray:
    """A block in the frame's coordinates (a task), its rounded columns spread over their cells
    (`shiftkit.cluster.stages.Frame.spread`) where ``rounded`` is given, and snapped
    (`shiftkit.cluster.stages.Frame.snapped`) in float64 before the cast where ``snap`` is."""
    Z = centered(X, origin, scale)  # a fresh array
    if rounded is not None:
        rounded.spread_(torch.from_numpy(Z))
    if snap is not None:
        snap.tensor_(torch.from_numpy(Z))
    return Z.astype(dtype)


@dataclass(frozen=True)
class BlockFrame:
    """How the rows of a block reach the computation (`_framed_block`): the frame's origin and scale, the
    computation's dtype, and the snap and the rounded columns of a default fit (None: not done)."""

    origin: np.ndarray
    scale: float
    dtype: str
    snap: Snap | None = None
    rounded: RoundedColumns | None = None

    def block(self, X: np.ndarray) -> np.ndarray:
        """The rows ``X`` of a block framed (a fresh array)."""
        return _framed_block(X, self.origin, self.scale, self.dtype, self.snap, self.rounded)


def _framed_folds(
    X: np.ndarray,
    origin: np.ndarray,
    scale: float,
    bound: np.ndarray,
    count: int,
    mean: np.ndarray | None,
    rounded: RoundedColumns | None = None,
) -> np.ndarray:
    """`column_folds` of the framed (float64) rows of a block (spread where ``rounded`` is given), or of
    their squared deviations from ``mean`` where given (a task)."""
    Z = _framed_block(X, origin, scale, "float64", None, rounded)
    return column_folds(Z if mean is None else np.square(Z - mean), bound, count)


def _framed_extremes(
    X: np.ndarray, origin: np.ndarray, scale: float, rounded: RoundedColumns
) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest framed, spread value of each column of a block (a task)."""
    Z = _framed_block(X, origin, scale, "float64", None, rounded)
    if Z.shape[0] == 0:
        return np.full(Z.shape[1], np.inf), np.full(Z.shape[1], -np.inf)
    return Z.min(0), Z.max(0)


def _framed_levels(X: np.ndarray, origin: np.ndarray, scale: float) -> list:
    """`column_levels` of the framed rows of a block (a task)."""
    return column_levels(centered(X, origin, scale))


def _rounded_of_blocks(
    client: Any, raw: list, stats: list, origin: np.ndarray, scale: float, n: int
) -> RoundedColumns | None:
    """The `RoundedColumns` of the framed rows of data held in blocks: the same, bit for bit, as
    `RoundedColumns.fit` of all the rows on one machine (the blocks' levels merged, `merge_levels`; the
    snap of their rows, `_snap_of_blocks`)."""
    parts = client.gather([client.submit(_framed_levels, f, origin, scale, pure=False) for f in raw])
    levels = merge_levels(parts)
    return RoundedColumns.from_levels(
        levels, n, lambda: _snap_of_blocks(client, raw, stats, origin, scale, n)
    )


def _snap_of_blocks(
    client: Any,
    raw: list,
    stats: list,
    origin: np.ndarray,
    scale: float,
    n: int,
    rounded: RoundedColumns | None = None,
) -> Snap:
    """The `Snap` of the framed rows of data held in blocks (``stats``: theirs, `_block_stats`), spread
    where ``rounded`` is given: the same mean and spread, bit for bit, as `Snap.fit` of all the rows on
    one machine (order-free sums, `column_folds`, added block by block). The framed rows' extremes are the
    framed extremes (framing is monotone, value by value): no pass over the blocks for them, unless they
    are spread."""

    def folds(bound: np.ndarray, mean: np.ndarray | None) -> np.ndarray:
        parts = client.gather(
            [client.submit(_framed_folds, f, origin, scale, bound, n, mean, rounded, pure=False) for f in raw]
        )
        return np.sum(parts, axis=0)  # exact: sums on one grid, in any order

    if rounded is None:
        lo = centered(np.min([st[3] for st in stats], axis=0), origin, scale)
        hi = centered(np.max([st[4] for st in stats], axis=0), origin, scale)
    else:
        ends = client.gather(
            [client.submit(_framed_extremes, f, origin, scale, rounded, pure=False) for f in raw]
        )
        lo, hi = np.min([e[0] for e in ends], axis=0), np.max([e[1] for e in ends], axis=0)
    mean = fold_total(folds(np.maximum(-lo, hi), None)) / n
    return Snap.from_folds(mean, folds(square_bounds(lo, hi, mean), mean), n)


def _frame_of_blocks(client: Any, raw: list, compute: torch.dtype) -> tuple[Any, list, int, float]:
    """The frame of data held in blocks (futures) on the workers, from the blocks' statistics (Chan et
    al.'s pairwise combination of means and squared deviations): the frame, the statistics per block, the
    rows in all, and the mean over features of the variance."""
    from shiftkit.cluster.stages import Frame

    stats = client.gather([client.submit(_block_stats, f, pure=False) for f in raw])
    widths = {st[1].shape[0] for st in stats}
    if len(widths) != 1:
        raise ValueError(f"the files have different numbers of columns: {sorted(widths)}")
    if not any(st[0] for st in stats):
        raise ValueError("the files hold no rows")
    n, mean, m2 = 0, np.zeros(widths.pop()), None
    for rows, m, s2, _, _ in stats:  # pairwise means and sums of squared deviations
        if rows == 0:
            continue
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


def _largest(X: np.ndarray) -> float:
    return float(np.abs(X).max()) if X.size else 0.0
