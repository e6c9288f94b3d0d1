"""The dense engine: exact, any kernel, chunked so that no n x n matrix is ever built.

Distances from explicit differences (`shiftkit._ops.sq_distances`): this engine
is the reference the others are checked against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from shiftkit._ops import kernel_weights, row_chunks, rows_per_chunk, sq_distances, weighted_means
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
    Y_new = torch.empty_like(Y)
    density = Y.new_empty(m)
    for rows in row_chunks(m, rows_per_chunk(X.shape[0], d, Y.element_size(), memory_budget)):
        y_i = Y[rows]  # (b, d)
        K_ij, scale = kernel_weights(kernel, sq_distances(y_i, X), bandwidth)  # (b, n)
        if weights is not None:
            K_ij.mul_(weights)
        den = K_ij.sum(1)  # (b,)
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
