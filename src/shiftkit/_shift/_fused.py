"""The fused CPU engine: a C++ loop over queries and data with no n x m temporaries.

The library (``_csrc/fused_shift.cpp``) is compiled by ``pip install`` with
OpenMP and the platform's vector ``expf``; it is loaded here with ctypes and
called on the tensors' memory. If it was not built, `available` is False and
the engine selection never picks it.
"""

from __future__ import annotations

import ctypes
from functools import cache

import torch
from torch import Tensor

from shiftkit._ops import load_library
from shiftkit._shift._engine import Engine
from shiftkit.kernels import Kernel

# Largest dimension for which this engine beats the others, by kernel kind (measured with
# benchmarks/bench_engines.py; see the README's table): beyond, attention (Gaussian) or knn.
MAX_FEATURES_THAT_PAY = {"gaussian": 8, "compact": 1024}


@cache
def _library() -> ctypes.CDLL | None:
    lib = load_library("shiftkit._shift._fused_lib")
    if lib is None:
        return None
    for name, real in (("shiftkit_shift_f32", ctypes.c_float), ("shiftkit_shift_f64", ctypes.c_double)):
        fn = getattr(lib, name)
        fn.restype = ctypes.c_int
        fn.argtypes = [
            ctypes.c_int,  # kernel
            ctypes.c_void_p,  # Y (m, d)
            ctypes.c_int64,  # m
            ctypes.c_void_p,  # XT (d, n)
            ctypes.c_void_p,  # weights (n,) or NULL
            ctypes.c_int64,  # n
            ctypes.c_int,  # d
            real,  # bandwidth
            ctypes.c_void_p,  # Y_new (m, d)
            ctypes.c_void_p,  # density (m,)
            ctypes.c_void_p,  # cell starts (k,) or NULL
            ctypes.c_void_p,  # cell counts (k,) or NULL
            ctypes.c_void_p,  # neighbor cells of each query (m, n_nbr) or NULL: all points
            ctypes.c_int,  # n_nbr
            ctypes.c_int,  # threads
        ]
    lib.shiftkit_max_features.restype = ctypes.c_int
    return lib


def available() -> bool:
    """Whether the compiled library is there."""
    return _library() is not None


def max_features() -> int:
    """The largest dimension the library takes (0 when it is not built)."""
    lib = _library()
    return 0 if lib is None else int(lib.shiftkit_max_features())


def supports(Y: Tensor, X: Tensor, kernel: Kernel) -> bool:
    """Whether the fused engine can run this step: CPU tensors, a compiled kernel, d small enough."""
    return (
        Y.device.type == "cpu"
        and X.device.type == "cpu"
        and kernel.code is not None
        and X.shape[1] <= max_features()
    )


def run(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    cells: tuple[Tensor, Tensor, Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """Call the library: every query over all of ``X``, or over its cells.

    ``cells = (starts, counts, neighbors)``: ``X`` sorted by cell, cell ``c``
    holding rows ``starts[c]`` to ``starts[c] + counts[c] - 1``, and
    ``neighbors`` (m, n_nbr) the cells of each query (-1: none).
    """
    lib = _library()
    if lib is None:
        raise RuntimeError("the fused engine was not built (no C++ compiler at install time?)")
    if not supports(Y, X, kernel):
        raise ValueError(
            f"the fused engine takes CPU tensors, shiftkit's own kernels and at most "
            f"{max_features()} features"
        )
    fn = lib.shiftkit_shift_f32 if Y.dtype == torch.float32 else lib.shiftkit_shift_f64
    Y = Y.contiguous()
    XT = X.T.contiguous()  # (d, n): the inner loops run over points
    w = None if weights is None else weights.to(Y.dtype).contiguous()
    Y_new = torch.empty_like(Y)
    density = Y.new_empty(Y.shape[0])
    m, d = Y.shape
    if cells is not None:
        starts, counts, neighbors = (c.contiguous() for c in cells)
        pairs_per_query = max(1.0, float(counts.double().mean()) * neighbors.shape[1])
    else:
        pairs_per_query = float(X.shape[0])
    # one call per block of queries, so that Ctrl-C (and SIGTERM) take effect between blocks: the
    # library does not return to Python until its block is done
    block = max(1, int(PAIRS_PER_CALL / pairs_per_query))
    threads = torch.get_num_threads()
    size = Y.element_size()
    for a in range(0, m, block):
        b = min(m, a + block)
        status = fn(
            kernel.code,
            Y.data_ptr() + a * d * size,
            b - a,
            XT.data_ptr(),
            None if w is None else w.data_ptr(),
            X.shape[0],
            d,
            bandwidth,
            Y_new.data_ptr() + a * d * size,
            density.data_ptr() + a * size,
            None if cells is None else starts.data_ptr(),
            None if cells is None else counts.data_ptr(),
            None
            if cells is None
            else neighbors.data_ptr() + a * neighbors.shape[1] * neighbors.element_size(),
            0 if cells is None else neighbors.shape[1],
            threads,
        )
        if status != 0:
            raise RuntimeError(f"the fused engine failed with status {status}")
    return Y_new, density


def shift_fused(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None,
    memory_budget: int,
) -> tuple[Tensor, Tensor]:
    """One mean-shift step in the compiled loop; ``memory_budget`` is not needed (O(n d) memory)."""
    return run(Y, X, bandwidth, kernel, weights)


# Kernel evaluations per call of the library: about 0.1 s on one core (it returns to Python between calls).
PAIRS_PER_CALL = 2**27


def _pays(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, fixed_data: bool) -> bool:
    return X.shape[1] <= MAX_FEATURES_THAT_PAY["compact" if kernel.compact else "gaussian"]


ENGINE = Engine(
    name="fused",
    run=shift_fused,
    supports=supports,
    exact=lambda kernel: True,
    pays=_pays,
    priority=30,
    summary="compiled C++ loop (OpenMP, vector expf), no n x m temporaries; one pass per point",
)
