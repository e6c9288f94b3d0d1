"""The dense engine: exact, any kernel, chunked so that no n x n matrix is ever built.

Distances are computed from explicit differences ``y_i - x_j`` rather than from
``|y|^2 + |x|^2 - 2 y.x``: the expansion loses every digit when the data's
spread is large against the bandwidth, and this engine is the reference the
others are checked against.
"""

from __future__ import annotations

import torch
from torch import Tensor

from shiftkit.kernels import Kernel


def rows_per_chunk(n_data: int, n_features: int, itemsize: int, memory_budget: int) -> int:
    """How many query rows fit in ``memory_budget`` bytes of (rows, n_data, n_features + 2) temporaries."""
    per_row = n_data * (n_features + 2) * itemsize
    return max(1, memory_budget // per_row)


def sq_distances(Y: Tensor, X: Tensor) -> Tensor:
    """Squared Euclidean distances from explicit differences; (m, d), (n, d) -> (m, n)."""
    return (Y[:, None, :] - X[None, :, :]).square_().sum(-1)


def weighted_means(num: Tensor, den: Tensor, y_i: Tensor) -> Tensor:
    """``num / den`` row by row; a query with no weight (``den == 0``) keeps its place ``y_i``."""
    found = den > 0
    return torch.where(found[:, None], num / torch.where(found, den, 1.0)[:, None], y_i)


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
    rows = rows_per_chunk(X.shape[0], d, Y.element_size(), memory_budget)
    Y_new = torch.empty_like(Y)
    density = Y.new_empty(m)
    for start in range(0, m, rows):
        y_i = Y[start : start + rows]  # (b, d)
        D_ij = sq_distances(y_i, X)  # (b, n)
        if kernel.exponential:
            # K(a + b) = K(a) K(b): factor the nearest point out so that the
            # weights cannot all underflow to zero for a tiny bandwidth.
            D_min = D_ij.amin(1, keepdim=True)  # (b, 1)
            K_ij = kernel(D_ij.sub_(D_min), bandwidth)
            scale = kernel(D_min[:, 0], bandwidth)  # (b,)
        else:
            K_ij = kernel(D_ij, bandwidth)
            scale = None
        if weights is not None:
            K_ij.mul_(weights)
        den = K_ij.sum(1)  # (b,)
        num = K_ij @ X  # (b, d)
        Y_new[start : start + rows] = weighted_means(num, den, y_i)
        density[start : start + rows] = den if scale is None else den * scale
    return Y_new, density
