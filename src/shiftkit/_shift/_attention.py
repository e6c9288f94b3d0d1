"""The attention engine: a Gaussian mean-shift step is a softmax-weighted average.

With ``K = exp(-|y - x|^2 / (2 h^2))`` the weight of ``x_j`` for the query
``y_i`` is ``exp(y_i.x_j / h^2 - |x_j|^2 / (2 h^2))`` times a factor of the row
alone, which the softmax cancels. So one step is

    scaled_dot_product_attention(q=[y/h^2, 1], k=[x, -|x|^2/(2h^2) + log w], v=x, scale=1)

and runs on the platform's fused attention kernels in O(n) memory. The density
is ``exp(logsumexp_i - |y_i|^2 / (2 h^2))``: the CPU flash kernel returns the
logsumexp with the output; on other devices it is computed in chunks.

Accuracy: the scores are about ``(R / h)^2`` in size, R the largest norm of the
(centered) data, so float32 loses about ``(R / h)^2 * eps`` of each weight. The
engine selection sends data whose spread is too large against the bandwidth to
an exact engine instead (see `attention_is_accurate`). Measured against a
float64 step on the lesson's blobs (``benchmarks/bench_engines.py``): the
largest error of a float32 step is 1.2e-5 bandwidths at h = 2.5 (R / h ~ 18,
the same as the dense engine's) and 9e-4 bandwidths at h = 0.25 (R / h ~ 180,
where the selection already prefers the exact engines).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from shiftkit._ops import row_chunks, rows_per_chunk
from shiftkit._shift._engine import Engine
from shiftkit.kernels import KERNELS, Kernel

# Largest tolerated relative error of a weight before the engine is not chosen.
WEIGHT_ERROR_LIMIT = 1e-3


def attention_is_accurate(Y: Tensor, X: Tensor, bandwidth: float) -> bool:
    """Whether float rounding of the attention scores stays below ``WEIGHT_ERROR_LIMIT``."""
    radius_sq = max(float(Y.square().sum(1).max()), float(X.square().sum(1).max()))
    eps = torch.finfo(Y.dtype).eps
    return 1.5 * radius_sq / bandwidth**2 * eps <= WEIGHT_ERROR_LIMIT


def _queries_keys_values(
    Y: Tensor, X: Tensor, bandwidth: float, weights: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    inv_h2 = 1.0 / bandwidth**2
    bias = X.square().sum(1) * (-0.5 * inv_h2)  # (n,)
    if weights is not None:
        bias = bias + weights.log()
    q = torch.cat([Y * inv_h2, Y.new_ones(Y.shape[0], 1)], 1)  # (m, d+1)
    k = torch.cat([X, bias[:, None]], 1)  # (n, d+1)
    # The CPU flash kernel wants equal head sizes: pad the values with a zero column.
    v = torch.cat([X, X.new_zeros(X.shape[0], 1)], 1)  # (n, d+1)
    return q, k, v


def _logsumexp_chunked(q: Tensor, k: Tensor, memory_budget: int) -> Tensor:
    rows = rows_per_chunk(k.shape[0], 0, q.element_size(), memory_budget)
    return torch.cat([torch.logsumexp(q[chunk] @ k.T, dim=1) for chunk in row_chunks(q.shape[0], rows)])


def shift_attention(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    memory_budget: int,
) -> tuple[Tensor, Tensor]:
    """One Gaussian mean-shift step as scaled dot-product attention; see the module docstring."""
    if not _is_gaussian(kernel):
        raise ValueError(f"the attention engine needs the Gaussian kernel, not {kernel.name!r}")
    if weights is not None:
        keep = weights > 0
        X, weights = X[keep], weights[keep]
    q, k, v = _queries_keys_values(Y, X, bandwidth, weights)
    q4, k4, v4 = q[None, None], k[None, None], v[None, None]  # (1, 1, len, d+1)
    if Y.device.type == "cpu":
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q4, k4, v4, 0.0, False, scale=1.0
        )
        lse = lse[0, 0]
    else:
        out = F.scaled_dot_product_attention(q4, k4, v4, scale=1.0)
        lse = _logsumexp_chunked(q, k, memory_budget)
    Y_new = out[0, 0, :, :-1]
    density = torch.exp(lse - Y.square().sum(1) * (0.5 / bandwidth**2))
    return Y_new.contiguous(), density


def _is_gaussian(kernel: Kernel) -> bool:
    return kernel.code == KERNELS["gaussian"].code


def _pays(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, fixed_data: bool) -> bool:
    return attention_is_accurate(Y, X, bandwidth)


ENGINE = Engine(
    name="attention",
    run=shift_attention,
    supports=lambda Y, X, kernel: _is_gaussian(kernel),
    exact=lambda kernel: True,  # to float rounding of the scores, which `pays` bounds
    pays=_pays,
    priority=40,  # after the compiled CPU engine, before the CUDA kernel of compact kernels
    summary="a Gaussian step as scaled_dot_product_attention with augmented queries and keys, O(n) memory",
)
