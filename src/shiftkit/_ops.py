"""The neutral base under every algorithm: distances, chunks within a memory budget, weighted means.

Nothing here knows about mean shift, clusters or engines; every layer above may
use it. Distances are computed from explicit differences ``y_i - x_j`` rather
than from ``|y|^2 + |x|^2 - 2 y.x``: the expansion loses every digit when the
data's spread is large against the distances that matter, and these helpers
are the references the fast paths are checked against.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
from collections.abc import Iterator
from functools import cache

import torch
from torch import Tensor

from shiftkit.kernels import Kernel

__all__ = [
    "kernel_weights",
    "nearest",
    "nearest_far",
    "offset_sums",
    "own_distances",
    "row_chunks",
    "row_min",
    "rows_per_chunk",
    "sq_distances",
    "weighted_means",
]


# The one default memory budget: bytes of temporaries a chunked computation may hold at once.
DEFAULT_MEMORY_BUDGET = 256 * 2**20


def rows_per_chunk(n_data: int, n_features: int, itemsize: int, memory_budget: int) -> int:
    """How many query rows fit in ``memory_budget`` bytes of (rows, n_data, n_features + 2) temporaries."""
    per_row = n_data * (n_features + 2) * itemsize
    return max(1, memory_budget // per_row)


def row_chunks(n_rows: int, rows: int) -> Iterator[slice]:
    """Consecutive slices of at most ``rows`` rows covering ``range(n_rows)``."""
    for start in range(0, n_rows, max(1, rows)):
        yield slice(start, min(n_rows, start + rows))


def sq_distances(Y: Tensor, X: Tensor) -> Tensor:
    """Squared Euclidean distances from explicit differences; (m, d), (n, d) -> (m, n)."""
    return (Y[:, None, :] - X[None, :, :]).square_().sum(-1)


def weighted_means(num: Tensor, den: Tensor, y_i: Tensor) -> Tensor:
    """``num / den`` row by row; a query with no weight (``den == 0``) keeps its place ``y_i``."""
    found = den > 0
    return torch.where(found[:, None], num / torch.where(found, den, 1.0)[:, None], y_i)


def _weights_in_place(kernel: Kernel, D_ij: Tensor, bandwidth: float) -> Tensor:
    """The kernel's weights written over the squared distances (the built-in kernels); a new tensor
    for a registered kernel, whose profile is a plain function."""
    h2 = bandwidth**2
    if kernel.code == 0:  # gaussian
        return D_ij.mul_(-0.5 / h2).exp_()
    if kernel.code == 1:  # flat, inclusive
        return D_ij.le_(h2)
    if kernel.code == 2:  # triangular, rounded as 1 - d / h
        return D_ij.sqrt_().div_(bandwidth).neg_().add_(1.0).clamp_min_(0.0)
    if kernel.code == 3:  # epanechnikov, rounded as 1 - d^2 / h^2
        return D_ij.div_(h2).neg_().add_(1.0).clamp_min_(0.0)
    return kernel(D_ij, bandwidth)


def kernel_weights(kernel: Kernel, D_ij: Tensor, bandwidth: float) -> tuple[Tensor, Tensor | None]:
    """Kernel weights of squared distances (b, k), guarded against underflow; and the factor taken out.

    For an exponential kernel, ``K(a + b) = K(a) K(b)``: each row's nearest
    distance is factored out, so that the weights cannot all underflow to zero
    for a tiny bandwidth; the true weights are ``K_ij * scale[:, None]``.
    Other kernels: the weights, and None. The built-in kernels write the
    weights over ``D_ij`` (no (b, k) temporaries); a registered kernel's
    profile returns a new tensor.
    """
    if not kernel.exponential:
        return _weights_in_place(kernel, D_ij, bandwidth), None
    D_min = D_ij.amin(1)  # (b,)
    return _weights_in_place(kernel, D_ij.sub_(D_min[:, None]), bandwidth), kernel(D_min, bandwidth)


def nearest(X: Tensor, C: Tensor, memory_budget: int) -> tuple[Tensor, Tensor]:
    """Index of, and squared distance to, the nearest row of ``C`` for each row of ``X``; chunked."""
    rows = rows_per_chunk(C.shape[0], X.shape[1], X.element_size(), memory_budget)
    best = [sq_distances(X[chunk], C).min(1) for chunk in row_chunks(X.shape[0], rows)]
    return torch.cat([b.indices for b in best]), torch.cat([b.values for b in best])


def nearest_far(X: Tensor, C: Tensor, memory_budget: int) -> Tensor:
    """Index of the nearest row of ``C`` for each row of ``X``, for queries of any magnitude; chunked.

    Ranks ``|c|^2 - 2 x.c`` (the query's own ``|x|^2`` is common to its row)
    divided by the query's largest coordinate when that exceeds 1: a query
    1e30 away neither overflows nor ties, it goes to the center farthest in
    its direction.
    """
    rows = rows_per_chunk(C.shape[0], X.shape[1], X.element_size(), memory_budget)
    c2 = C.square().sum(1)  # (k,)
    best = []
    for chunk in row_chunks(X.shape[0], rows):
        Q = X[chunk]
        m = Q.abs().amax(1, keepdim=True).clamp_min(1.0)  # (b, 1)
        best.append((c2[None, :] / m - 2 * (Q / m) @ C.T).argmin(1))
    return torch.cat(best)


def load_library(module: str) -> ctypes.CDLL | None:
    """The compiled shared library built as ``module`` (see setup.py), or None when it was not built."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    try:
        return ctypes.CDLL(spec.origin)
    except OSError:
        return None


@cache
def _library() -> ctypes.CDLL | None:
    """The compiled kernels (``_csrc/ops.cpp``), or None when they were not built."""
    lib = load_library("shiftkit._ops_lib")
    if lib is None:
        return None
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    for name in ("shiftkit_row_min_f32", "shiftkit_row_min_f64"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [p, i64, i64, p, p, p, p, p, p, i64, p, ctypes.c_int]
    for name in ("shiftkit_own_distances_f32", "shiftkit_own_distances_f64"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [p, p, p, p, i64, i64, p, ctypes.c_int]
    for name in ("shiftkit_offset_sums_f32", "shiftkit_offset_sums_f64"):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [p, p, p, p, i64, i64, i64, p, ctypes.c_int]
    return lib


def row_min(
    D: Tensor,
    values: Tensor,
    indices: Tensor,
    *,
    second: Tensor | None = None,
    offsets_of: tuple[Tensor, Tensor, Tensor | None] | None = None,
    sums: Tensor | None = None,
) -> None:
    """The smallest entry of each row of ``D`` (b, k) into ``values`` (b,), its first index into ``indices``.

    On the CPU with the compiled library, one pass of compare-and-blend per
    vector lane (2-4x faster than ``torch.min(dim=1)`` on the blocks of a
    k-means assignment); elsewhere ``torch.min``. Ties go to the smallest
    index either way.

    ``second`` (b,): also the smallest entry other than the minimum's (the
    minimum again on a tie). With ``offsets_of = (X, C, w)`` ((b, d) rows,
    (k, d) centers, (b,) weights or None) and ``sums`` (k, d) float64: also
    adds ``w * (x - c)`` of each row and its nearest center to that center's
    row of ``sums`` (k-means' update), in float64.
    """
    lib = _library()
    tensors = [D, values, indices] + ([] if second is None else [second])
    if offsets_of is not None:
        tensors += [t for t in offsets_of if t is not None]
    if (
        lib is None
        or D.device.type != "cpu"
        or D.dtype not in (torch.float32, torch.float64)
        or not all(t.is_contiguous() for t in tensors)
        or not all(t.dtype == D.dtype for t in tensors if t is not indices)
        or D.shape[1] == 0
    ):
        torch.min(D, 1, out=(values, indices))
        if second is not None:
            if D.shape[1] > 1:
                rest = D.scatter(1, indices[:, None], math.inf)
                torch.amin(rest, 1, out=second)
            else:
                second.copy_(values)
        if offsets_of is not None and sums is not None:
            X, C, w = offsets_of
            offset_sums(X, C, indices, w, sums)
        return
    fn = lib.shiftkit_row_min_f32 if D.dtype == torch.float32 else lib.shiftkit_row_min_f64
    threads = torch.get_num_threads()
    snd = None if second is None else second.data_ptr()
    if offsets_of is None or sums is None:
        fn(D.data_ptr(), D.shape[0], D.shape[1], values.data_ptr(), indices.data_ptr(), snd,
           None, None, None, 0, None, threads)  # fmt: skip
        return
    X, C, w = offsets_of
    k, d = C.shape
    per_thread = torch.zeros((threads, k, d), dtype=torch.float64)
    fn(D.data_ptr(), D.shape[0], k, values.data_ptr(), indices.data_ptr(), snd, X.data_ptr(), C.data_ptr(),
       None if w is None else w.data_ptr(), d, per_thread.data_ptr(), threads)  # fmt: skip
    sums.add_(per_thread.sum(0))


def offset_sums(X: Tensor, C: Tensor, labels: Tensor, w: Tensor | None, sums: Tensor) -> None:
    """``sums[c] += sum of w_i (x_i - c)`` over the rows labelled ``c``; ``sums`` (k, d) float64.

    The update of k-means from a given assignment: offsets are small against
    the centers, so the new center ``c + sums[c] / weight[c]`` keeps its digits.
    One compiled pass on the CPU (per-thread float64 sums), torch elsewhere.
    """
    lib = _library()
    k, d = C.shape
    ok = (
        lib is not None
        and X.device.type == "cpu"
        and X.dtype in (torch.float32, torch.float64)
        and C.dtype == X.dtype
        and (w is None or w.dtype == X.dtype)
        and all(t.is_contiguous() for t in (X, C, labels) + (() if w is None else (w,)))
    )
    if not ok:
        rows = max(1, (1 << 22) // max(1, d * 8))
        for s in row_chunks(X.shape[0], rows):
            off = (X[s] - C[labels[s]]).double()
            sums.index_add_(0, labels[s], off if w is None else off.mul_(w[s, None].double()))
        return
    assert lib is not None
    threads = torch.get_num_threads()
    per_thread = torch.zeros((threads, k, d), dtype=torch.float64)
    fn = lib.shiftkit_offset_sums_f32 if X.dtype == torch.float32 else lib.shiftkit_offset_sums_f64
    fn(X.data_ptr(), C.data_ptr(), labels.data_ptr(), None if w is None else w.data_ptr(), X.shape[0], k, d,
       per_thread.data_ptr(), threads)  # fmt: skip
    sums.add_(per_thread.sum(0))


def own_distances(X: Tensor, C: Tensor, labels: Tensor, rows: Tensor) -> Tensor:
    """``|x_r - c_{labels[r]}|`` for each index ``r`` in ``rows``, from explicit differences; (m,).

    One compiled pass on the CPU (no gathered copies of the rows), torch elsewhere.
    """
    lib = _library()
    out = torch.empty(rows.shape[0], dtype=X.dtype, device=X.device)
    if (
        lib is None
        or X.device.type != "cpu"
        or X.dtype not in (torch.float32, torch.float64)
        or C.dtype != X.dtype
        or not all(t.is_contiguous() for t in (X, C, labels, rows))
    ):
        own = C.index_select(0, labels.index_select(0, rows))
        return torch.sub(X.index_select(0, rows), own).square_().sum(1).sqrt_()
    fn = lib.shiftkit_own_distances_f32 if X.dtype == torch.float32 else lib.shiftkit_own_distances_f64
    fn(X.data_ptr(), C.data_ptr(), labels.data_ptr(), rows.data_ptr(), rows.shape[0], X.shape[1],
       out.data_ptr(), torch.get_num_threads())  # fmt: skip
    return out
