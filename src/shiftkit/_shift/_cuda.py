"""The CUDA engine for the compact kernels: a numba CUDA kernel, one thread per query.

Each thread streams the data rows (a warp reads the same row at once, so the
loads are broadcasts), sums the kernel-weighted rows in registers and writes one
output row. The Gaussian on CUDA goes through the attention engine instead.

Without a GPU the kernel runs on numba's CUDA simulator when
``NUMBA_ENABLE_CUDASIM=1`` is set before numba is imported: that is how the
tests check it on CPU-only machines (slowly, on tiny inputs).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import torch
from torch import Tensor

from shiftkit._shift._cuda_kernel_params import MAX_FEATURES
from shiftkit._shift._engine import Engine
from shiftkit.kernels import Kernel

THREADS_PER_BLOCK = 128


@cache
def _numba_cuda() -> Any:
    try:
        from numba import cuda
    except ImportError:
        return None
    return cuda if cuda.is_available() else None


def simulated() -> bool:
    """Whether numba's CUDA target is the CPU simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    if _numba_cuda() is None:
        return False
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", False))


def available() -> bool:
    """Whether numba can launch CUDA kernels here (a GPU, or the simulator)."""
    return _numba_cuda() is not None


def supports(Y: Tensor, X: Tensor, kernel: Kernel) -> bool:
    """Compact built-in kernels, at most ``MAX_FEATURES`` features, CUDA tensors (CPU on the simulator)."""
    on_device = Y.device.type == "cuda" or simulated()
    return (
        available()
        and on_device
        and kernel.compact
        and kernel.code is not None
        and X.shape[1] <= MAX_FEATURES
    )


@cache
def _compiled() -> Any:
    from shiftkit._shift._cuda_kernel import compact_shift  # compiles on first use

    return compact_shift


def _device_array(t: Tensor) -> Any:
    cuda = _numba_cuda()
    return t.numpy() if simulated() else cuda.as_cuda_array(t)


def shift_cuda(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    memory_budget: int,
) -> tuple[Tensor, Tensor]:
    """One mean-shift step of a compact kernel on the GPU; O((m + n) d) memory."""
    if not supports(Y, X, kernel):
        raise ValueError(
            f"the numba_cuda engine takes CUDA tensors (or numba's simulator), shiftkit's compact "
            f"kernels and at most {MAX_FEATURES} features"
        )
    Y, X = Y.contiguous(), X.contiguous()
    w = torch.ones(X.shape[0], dtype=X.dtype, device=X.device) if weights is None else weights.contiguous()
    Y_new = torch.empty_like(Y)
    density = Y.new_empty(Y.shape[0])
    blocks = math.ceil(Y.shape[0] / THREADS_PER_BLOCK)
    _compiled()[blocks, THREADS_PER_BLOCK](
        _device_array(Y),
        _device_array(X),
        _device_array(w),
        float(bandwidth),
        kernel.code,
        _device_array(Y_new),
        _device_array(density),
    )
    return Y_new, density


def _pays(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, fixed_data: bool) -> bool:
    return Y.device.type == "cuda"  # on the simulator it runs, but only when asked for


ENGINE = Engine(
    name="numba_cuda",
    run=shift_cuda,
    supports=supports,
    exact=lambda kernel: True,
    pays=_pays,
    priority=50,
    summary="numba CUDA kernel, one thread per query, for the compact kernels",
)
