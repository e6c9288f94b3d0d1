"""The matrix-multiplication ladder of the fast.ai lesson, rung by rung.

Each rung computes ``a @ b`` and says in its docstring what changed from the
rung before; `ladder` checks every rung against ``a @ b`` in float64 and times
it (``shiftkit matmul`` prints the table). The rungs, slowest first:

1. `matmul_loops` -- three Python loops;
2. `matmul_numba_dot` -- the innermost loop compiled with numba;
3. `matmul_elementwise` -- a row times a column, summed, by torch;
4. `matmul_broadcast` -- one Python loop; a row broadcast against all of ``b``;
5. `matmul_einsum` -- ``torch.einsum('ik,kj->ij')``;
6. `matmul_torch` -- ``a @ b``;
7. `launch_kernel` + `matmul_kernel` -- a pure-Python model of a GPU launch;
8. `matmul_numba_cuda` -- the same kernel compiled for CUDA by numba;
9. `matmul_torch_cuda` -- ``a @ b`` on the GPU.

And the lesson's homework: `dist_einsum`, the Euclidean distance with one
``einsum`` doing the square and the sum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "THREADS_PER_BLOCK",
    "cuda_grid",
    "dist_einsum",
    "launch_kernel",
    "launch_matmul_kernel",
    "matmul_broadcast",
    "matmul_einsum",
    "matmul_elementwise",
    "matmul_kernel",
    "matmul_loops",
    "matmul_numba_cuda",
    "matmul_numba_dot",
    "matmul_torch",
    "matmul_torch_cuda",
]

THREADS_PER_BLOCK = 16  # per side of a CUDA block: 16 x 16 = 256 threads


def _check_shapes(a: Any, b: Any) -> tuple[int, int, int]:
    """(rows of a, inner dimension, columns of b); a ValueError naming both shapes if they do not fit."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if len(sa) != 2 or len(sb) != 2:
        raise ValueError(f"matmul needs two matrices, got shapes {sa} and {sb}")
    if sa[1] != sb[0]:
        raise ValueError(
            f"cannot multiply a of shape {sa} by b of shape {sb}: a has {sa[1]} columns, b has {sb[0]} rows"
        )
    return sa[0], sa[1], sb[1]


def matmul_loops(a: Any, b: Any) -> Any:
    """Rung 1: three nested Python loops, ``c[i, j] += a[i, k] * b[k, j]``.

    Works on numpy arrays or torch tensors and returns the same kind. On torch
    tensors the same loops are many times slower (every ``a[i, k]`` makes a new
    0-d tensor); the ladder times both.
    """
    ar, ac, bc = _check_shapes(a, b)
    c = torch.zeros(ar, bc, dtype=a.dtype) if isinstance(a, Tensor) else np.zeros((ar, bc), dtype=a.dtype)
    for i in range(ar):
        for j in range(bc):
            for k in range(ac):
                c[i, j] += a[i, k] * b[k, j]
    return c


@cache
def _dot() -> Callable[[np.ndarray, np.ndarray], float]:
    """The lesson's ``dot``, compiled by numba on first use (numba is imported only then)."""
    from numba import njit

    @njit
    def dot(x: np.ndarray, y: np.ndarray) -> float:  # pragma: no cover - compiled
        total = 0.0
        for k in range(len(x)):
            total += x[k] * y[k]
        return total

    return dot


def matmul_numba_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rung 2: the innermost loop (a dot product) compiled to machine code with numba ``@njit``.

    Two Python loops remain; numpy arrays in and out. The first call compiles.
    """
    ar, _, bc = _check_shapes(a, b)
    dot = _dot()
    c = np.zeros((ar, bc), dtype=np.result_type(a, b))
    for i in range(ar):
        for j in range(bc):
            c[i, j] = dot(a[i, :], b[:, j])
    return c


def matmul_elementwise(a: Tensor, b: Tensor) -> Tensor:
    """Rung 3: the innermost loop becomes one torch operation, row times column, summed."""
    ar, _, bc = _check_shapes(a, b)
    c = torch.zeros(ar, bc, dtype=a.dtype, device=a.device)
    for i in range(ar):
        for j in range(bc):
            c[i, j] = (a[i, :] * b[:, j]).sum()
    return c


def matmul_broadcast(a: Tensor, b: Tensor) -> Tensor:
    """Rung 4: one Python loop; row ``a[i]`` as a column ``(k, 1)`` broadcast against all of ``b``."""
    ar, _, bc = _check_shapes(a, b)
    c = torch.zeros(ar, bc, dtype=a.dtype, device=a.device)
    for i in range(ar):
        c[i] = (a[i, :, None] * b).sum(dim=0)
    return c


def matmul_einsum(a: Tensor, b: Tensor) -> Tensor:
    """Rung 5: no Python loop; Einstein summation, the repeated ``k`` multiplied and summed away."""
    _check_shapes(a, b)
    return torch.einsum("ik,kj->ij", a, b)


def matmul_torch(a: Tensor, b: Tensor) -> Tensor:
    """Rung 6: torch's own matrix product (BLAS), ``a @ b``."""
    _check_shapes(a, b)
    return a @ b


def launch_kernel(kernel: Callable[..., None], grid_x: int, grid_y: int, *args: Any) -> None:
    """Rung 7: the pure-Python model of a GPU launch: call ``kernel`` once per cell of the grid.

    On a GPU the cells run in parallel; nothing here is parallel, which is why
    this rung is slow. ``kernel(cell, *args)`` receives ``cell = (x, y)``.
    """
    for i in range(grid_x):
        for j in range(grid_y):
            kernel((i, j), *args)


def matmul_kernel(cell: tuple[int, int], a: Any, b: Any, c: Any) -> None:
    """The kernel of rung 7: fill the one cell ``c[i, j]``; cells outside ``c`` do nothing."""
    i, j = cell
    if i < c.shape[0] and j < c.shape[1]:
        total = 0.0
        for k in range(a.shape[1]):
            total += a[i, k] * b[k, j]
        c[i, j] = total


def launch_matmul_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rung 7 end to end: allocate ``c`` and launch `matmul_kernel` over its grid."""
    ar, _, bc = _check_shapes(a, b)
    c = np.zeros((ar, bc), dtype=np.result_type(a, b))
    launch_kernel(matmul_kernel, ar, bc, a, b, c)
    return c


def cuda_grid(rows: int, cols: int, threads_per_block: int = THREADS_PER_BLOCK) -> tuple[int, int]:
    """Blocks per grid so that ``blocks x threads_per_block`` covers every row and column."""
    return math.ceil(rows / threads_per_block), math.ceil(cols / threads_per_block)


def matmul_numba_cuda(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rung 8: `matmul_kernel` compiled for CUDA by numba, one thread per output cell.

    The inputs are copied to the device, the kernel is launched on a 2-D grid
    of 16 x 16-thread blocks (`cuda_grid`), and the result is copied back. It
    runs on a real GPU when numba sees one, and on numba's CUDA simulator (on
    the CPU, slowly) when ``NUMBA_ENABLE_CUDASIM=1`` was set before numba was
    imported.

    Raises
    ------
    RuntimeError
        If numba sees no CUDA device and the simulator is off.
    """
    ar, _, bc = _check_shapes(a, b)
    from numba import cuda

    if not cuda.is_available():
        raise RuntimeError("no CUDA device (set NUMBA_ENABLE_CUDASIM=1 to run numba's CUDA simulator)")
    from shiftkit.teaching._matmul_cuda import matmul_cell

    c = np.zeros((ar, bc), dtype=np.result_type(a, b))
    a_d, b_d, c_d = (cuda.to_device(np.ascontiguousarray(m)) for m in (a, b, c))
    matmul_cell[cuda_grid(ar, bc), (THREADS_PER_BLOCK, THREADS_PER_BLOCK)](a_d, b_d, c_d)
    return c_d.copy_to_host()


def matmul_torch_cuda(a: Tensor, b: Tensor) -> Tensor:
    """Rung 9: ``a @ b`` on the GPU (inputs moved there if needed), result back on the host.

    Raises
    ------
    RuntimeError
        If torch sees no CUDA device.
    """
    _check_shapes(a, b)
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    c = a.cuda() @ b.cuda()
    return c.cpu()


def dist_einsum(x: Tensor, X: Tensor) -> Tensor:
    """The lesson's homework: Euclidean distances from ``x`` to the rows of ``X`` with one einsum.

    ``torch.sqrt(((x - X) ** 2).sum(1))`` with the square and the sum done by
    ``einsum('ij,ij->i', diff, diff)``.

    Parameters
    ----------
    x : Tensor of shape (n_features,) or (n_rows, n_features)
        One point, or one point per row of ``X``.
    X : Tensor of shape (n_rows, n_features)

    Returns
    -------
    Tensor of shape (n_rows,)
    """
    if X.ndim != 2 or x.ndim not in (1, 2) or x.shape[-1] != X.shape[1]:
        raise ValueError(
            "dist_einsum needs x of shape (d,) or (n, d) and X of shape (n, d), "
            f"got {tuple(x.shape)} and {tuple(X.shape)}"
        )
    diff = x - X  # (n, d)
    return torch.einsum("ij,ij->i", diff, diff).sqrt()
