"""The dense engine: exact, any kernel, chunked so that no n x n matrix is ever built.

Distances from explicit differences (`shiftkit._ops.sq_distances`): this engine
is the reference the others are checked against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from shiftkit._ops import kernel_weights, row_chunks, rows_per_chunk, weighted_means
from shiftkit._shift._engine import Engine
from shiftkit.kernels import Kernel


def shift_dense(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    memory_budget: int,
) -> tuple[Tensor, Tensor]:
    """One mean-shift step of the queries ``Y`` (m, d) over the data ``X`` (n, d).

    Returns ``(Y_new, density)`` of shapes (m, d) and (m,). A query with no data
    inside the kernel's support keeps its place and gets density 0.
    """
    m, d = Y.shape
    n = X.shape[0]
    Y_new = torch.empty_like(Y)
    density = Y.new_empty(m)
    b = min(m, rows_per_chunk(n, d, Y.element_size(), memory_budget))
    # two buffers for every chunk, (b, n, d) differences and (b, n) squared distances turned into weights
    # in place: the step allocates b n (d + 1) numbers once (within the budget of b n (d + 2)), and the
    # allocator never sees a train of large blocks freed and taken again
    diff_buf, D_buf = Y.new_empty(b, n, d), Y.new_empty(b, n)
    for rows in row_chunks(m, b):
        y_i = Y[rows]  # (k, d)
        k = y_i.shape[0]
        diff, D_ij = diff_buf[:k], D_buf[:k]
        torch.sub(y_i[:, None, :], X[None, :, :], out=diff).square_()
        torch.sum(diff, dim=-1, out=D_ij)
        K_ij, scale = kernel_weights(kernel, D_ij, bandwidth)  # (k, n)
        if weights is not None:
            K_ij.mul_(weights)
        den = K_ij.sum(1)  # (k,)
        Y_new[rows] = weighted_means(K_ij @ X, den, y_i)
        density[rows] = den if scale is None else den * scale
    return Y_new, density


def _always(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, fixed_data: bool) -> bool:
    return True


ENGINE = Engine(
    name="dense",
    run=shift_dense,
    supports=lambda Y, X, kernel: True,
    exact=lambda kernel: True,
    pays=_always,
    priority=1000,  # the fallback: any kernel, any device
    summary="chunked exact torch, any kernel (the reference)",
)
