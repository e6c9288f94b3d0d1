"""The numba CUDA kernel of the compact-kernel engine (imported, and compiled, on first use).

``cuda`` must be a module global here: numba's simulator swaps it for its own
module when it runs the kernel on the CPU.
"""
# numba types device functions itself; its stubs do not describe them.
# mypy: ignore-errors

import math

import numpy as np
from numba import cuda

from shiftkit._shift._cuda_kernel_params import MAX_FEATURES


@cuda.jit
def compact_shift(Y, X, w, h, kernel_code, Y_new, density):  # pragma: no cover - runs on the device
    """One thread per query row: the weighted mean of the data rows within ``h``, and their weight."""
    i = cuda.grid(1)
    if i >= Y.shape[0]:
        return
    d = Y.shape[1]
    acc = cuda.local.array(MAX_FEATURES, dtype=np.float64)
    y = cuda.local.array(MAX_FEATURES, dtype=np.float64)
    for k in range(d):
        acc[k] = 0.0
        y[k] = Y[i, k]
    h2 = h * h
    den = 0.0
    for j in range(X.shape[0]):
        dd = 0.0
        for k in range(d):
            diff = y[k] - X[j, k]
            dd += diff * diff
        if dd <= h2:
            if kernel_code == 1:
                wt = 1.0
            elif kernel_code == 2:
                wt = 1.0 - math.sqrt(dd) / h
            else:
                wt = 1.0 - dd / h2
            wt *= w[j]
            den += wt
            for k in range(d):
                acc[k] += wt * X[j, k]
    for k in range(d):
        Y_new[i, k] = acc[k] / den if den > 0 else y[k]
    density[i] = den
