"""`shift`, the one hot operation of mean shift, and its engines.

    shift(Y, X, bandwidth, kernel, weights=None) -> (Y_new, density)

For each query row ``y_i``: the kernel-weighted mean of the data rows ``x_j``,
and the kernel density (the denominator) at ``y_i``. Blurring mean shift calls
it with ``Y is X``; standard mean shift with seeds ``Y`` over fixed data ``X``.

Every engine computes the same thing and is tested against ``dense`` on one
table of cases; `select_engine` picks one from the kernel, the device and the
data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor

from shiftkit._array import as_tensor, check_bandwidth, check_weights
from shiftkit._shift import _cuda, _fused, _grid
from shiftkit._shift._attention import attention_is_accurate, shift_attention
from shiftkit._shift._dense import shift_dense
from shiftkit._shift._grid import grid_pays, shift_grid, support_of
from shiftkit._shift._knn import backend as knn_backend
from shiftkit._shift._knn import shift_knn
from shiftkit.kernels import Kernel, get_kernel, is_builtin

__all__ = ["DEFAULT_MEMORY_BUDGET", "ENGINES", "select_engine", "shift", "shift_tensors", "steps_over"]

# Bytes of temporary memory one shift step may use (the chunks of the dense engine).
DEFAULT_MEMORY_BUDGET = 256 * 2**20

Engine = Callable[[Tensor, Tensor, float, Kernel, "Tensor | None", int], "tuple[Tensor, Tensor]"]

ENGINES: dict[str, Engine] = {
    "dense": shift_dense,
    "attention": shift_attention,
    "fused": _fused.shift_fused,
    "numba_cuda": _cuda.shift_cuda,
    "grid": shift_grid,
    "knn": shift_knn,
}

# Largest dimension for which the fused CPU engine beats the others, by kernel
# kind (measured with benchmarks/bench_engines.py; see the README's table).
FUSED_MAX_FEATURES = {"gaussian": 8, "compact": 1024}
# Below this many (query, data) pairs a step is fast whatever the engine, and
# the grid's index is not worth building.
GRID_MIN_PAIRS = 200_000_000
# With fixed data (standard mean shift, `steps_over`) the index is built once, not every step.
GRID_MIN_PAIRS_FIXED_DATA = 20_000_000
# Compact kernels go to the knn engine (with faiss) only in high dimension on
# large data: measured, it is 10x the fused engine at d = 128 and 50,000 points,
# but in 16-D it loses up to 300,000 points (bench_engines.py, bench_scale.py).
KNN_MIN_FEATURES = 64
KNN_MIN_POINTS = 50_000


def select_engine(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, *, fixed_data: bool = False) -> str:
    """The engine `shift` uses with ``engine='auto'``.

    For large steps (``GRID_MIN_PAIRS``) in low dimension, where a query's
    neighbouring grid cells hold a small share of the data, the ``grid`` engine
    (exact for compact kernels; the Gaussian truncated at 4 bandwidths). In
    high dimension (``KNN_MIN_FEATURES``) on large data (``KNN_MIN_POINTS``),
    compact kernels go to the ``knn`` engine when faiss is installed. On the
    CPU, the compiled ``fused`` engine for the built-in kernels in low and
    moderate dimension (up to `FUSED_MAX_FEATURES`). Otherwise the Gaussian goes
    to ``attention`` (the platform's fused softmax kernels, O(n) memory) unless
    the data's spread is so large against the bandwidth that float rounding of
    the attention scores would matter; compact kernels on CUDA go to the
    ``numba_cuda`` kernel; everything else to the exact ``dense`` engine.
    """
    d = X.shape[1]
    gaussian = is_builtin(kernel, "gaussian")
    kind = "gaussian" if gaussian else "compact"
    builtin = gaussian or (kernel.compact and is_builtin(kernel, kernel.name))
    min_pairs = GRID_MIN_PAIRS_FIXED_DATA if fixed_data else GRID_MIN_PAIRS
    if builtin and Y.shape[0] * X.shape[0] >= min_pairs and grid_pays(X, support_of(kernel, bandwidth)):
        return "grid"
    if (
        kernel.compact
        and builtin
        and d >= KNN_MIN_FEATURES
        and X.shape[0] >= KNN_MIN_POINTS
        and knn_backend() == "faiss"
    ):
        return "knn"
    if Y.device.type == "cpu" and _fused.supports(Y, X, kernel) and d <= FUSED_MAX_FEATURES[kind]:
        return "fused"
    if gaussian and attention_is_accurate(Y, X, bandwidth):
        return "attention"
    if Y.device.type == "cuda" and _cuda.supports(Y, X, kernel):
        return "numba_cuda"
    return "dense"


def steps_over(
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None = None,
    *,
    engine: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """``step(Y) -> (Y_new, density)`` over data that stay fixed for many steps (standard mean shift).

    What an engine can build once for fixed data is built here, once: the
    grid engine's cell index (sorting a million points costs more than a step
    of a few hundred queries). Queries must lie within the data's bounding box
    (mean shift keeps them there).
    """
    if engine == "grid":
        index = _grid.prepare(X, weights, bandwidth, kernel)
        return lambda Y: shift_grid(Y, X, bandwidth, kernel, weights, memory_budget, index=index)
    return lambda Y: shift_tensors(
        Y, X, bandwidth, kernel, weights, engine=engine, memory_budget=memory_budget
    )


def shift_tensors(
    Y: Tensor,
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None = None,
    *,
    engine: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[Tensor, Tensor]:
    """`shift` on checked tensors of one dtype and device; no validation."""
    name = select_engine(Y, X, bandwidth, kernel) if engine == "auto" else engine
    return ENGINES[name](Y, X, bandwidth, kernel, weights, memory_budget)


def shift(
    Y: Any,
    X: Any,
    bandwidth: float,
    kernel: str | Kernel = "gaussian",
    weights: Any = None,
    *,
    engine: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    dtype: Any = "float32",
    device: Any = None,
) -> tuple[Tensor, Tensor]:
    """One mean-shift step of the queries ``Y`` over the data ``X``.

    Parameters
    ----------
    Y : array-like of shape (n_queries, n_features)
        The points to move.
    X : array-like of shape (n_samples, n_features)
        The data whose kernel-weighted means they move to.
    bandwidth : float
        Kernel bandwidth (see `shiftkit.kernels` for its meaning per kernel).
    kernel : str or Kernel, default='gaussian'
    weights : array-like of shape (n_samples,), optional
        Non-negative weights of the data rows.
    engine : {'auto', 'dense', 'attention', 'fused', 'numba_cuda', 'grid', 'knn'}, default='auto'
        See `select_engine`.
    memory_budget : int, default=256 MiB
        Bytes of temporaries a step may use; the work is chunked to fit.
    dtype : {'float32', 'float64'}, default='float32'
    device : str or torch.device, optional
        Where to compute; by default the device of a tensor ``X``, else CUDA
        when available, else CPU.

    Returns
    -------
    Y_new : Tensor of shape (n_queries, n_features)
        The weighted means. A query with no data in the kernel's support stays put.
    density : Tensor of shape (n_queries,)
        ``sum_j K(|y_i - x_j|) w_j`` with ``K(0) = 1``.
    """
    kern = get_kernel(kernel)
    h = check_bandwidth(bandwidth)
    if engine != "auto" and engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose 'auto' or one of {sorted(ENGINES)}")
    if not isinstance(memory_budget, int) or memory_budget <= 0:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    X_t = as_tensor(X, name="X", dtype=dtype, device=device)
    Y_t = as_tensor(Y, name="Y", dtype=dtype, device=X_t.device)
    if Y_t.shape[1] != X_t.shape[1]:
        raise ValueError(
            f"Y and X must have the same number of features, got Y of shape "
            f"{tuple(Y_t.shape)} and X of shape {tuple(X_t.shape)}"
        )
    w = check_weights(weights, X_t.shape[0], dtype=X_t.dtype, device=X_t.device)
    return shift_tensors(Y_t, X_t, h, kern, w, engine=engine, memory_budget=memory_budget)
