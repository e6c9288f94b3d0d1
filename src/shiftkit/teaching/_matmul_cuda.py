"""The numba CUDA kernel of the matmul ladder (imported, and compiled, on first use).

``cuda`` must be a module global: numba's simulator swaps it for its own module
when it runs the kernel on the CPU.
"""

# numba types device functions itself; its stubs do not describe them.
# mypy: ignore-errors

from numba import cuda


@cuda.jit
def matmul_cell(a, b, c):  # pragma: no cover - runs on the device
    """One thread per output cell ``c[i, j]``; threads outside ``c`` do nothing."""
    i, j = cuda.grid(2)
    if i < c.shape[0] and j < c.shape[1]:
        total = 0.0
        for k in range(a.shape[1]):
            total += a[i, k] * b[k, j]
        c[i, j] = total
