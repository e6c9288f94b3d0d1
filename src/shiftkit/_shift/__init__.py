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

from typing import Any

from torch import Tensor

from shiftkit._array import as_tensor
from shiftkit._ops import DEFAULT_MEMORY_BUDGET
from shiftkit._shift import _attention, _cuda, _dense, _fused, _grid, _knn
from shiftkit._shift._engine import Engine, Step
from shiftkit._validation import check_bandwidth, check_memory_budget, check_weights
from shiftkit.kernels import Kernel, get_kernel

__all__ = [
    "ENGINES",
    "Engine",
    "select_engine",
    "shift",
    "shift_tensors",
    "steps_over",
]

# Every engine, from the one object each engine module exports; `engine='auto'` asks them in
# order of priority.
ENGINES: dict[str, Engine] = {
    e.name: e
    for e in sorted(
        (_dense.ENGINE, _attention.ENGINE, _fused.ENGINE, _cuda.ENGINE, _grid.ENGINE, _knn.ENGINE),
        key=lambda e: e.priority,
    )
}


def select_engine(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, *, fixed_data: bool = False) -> str:
    """The engine `shift` uses with ``engine='auto'``: the first by priority that supports the step and pays.

    Each engine's thresholds are its own (``Engine.pays``, measured with
    ``benchmarks/bench_engines.py``). In order: the ``grid`` for large steps in
    low dimension where a query's neighboring cells hold a small share of the
    data (exact for compact kernels; the Gaussian truncated at 4 bandwidths);
    ``knn`` for compact kernels in high dimension (64+) on large data (50,000+)
    when faiss is installed; on the CPU the compiled ``fused`` engine for
    shiftkit's kernels up to 8 features (Gaussian) or any (compact); the
    ``attention`` engine for the Gaussian unless the data's spread against the
    bandwidth would cost float32 digits; ``numba_cuda`` for compact kernels on
    CUDA; else the exact ``dense`` engine. ``fixed_data``: the data stay the
    same over many steps (standard mean shift), so what an engine builds once
    costs less per step.
    """
    for engine in ENGINES.values():
        if engine.supports(Y, X, kernel) and engine.pays(Y, X, bandwidth, kernel, fixed_data):
            return engine.name
    return "dense"


def steps_over(
    X: Tensor,
    bandwidth: float,
    kernel: Kernel,
    weights: Tensor | None = None,
    *,
    engine: str | Engine = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Step:
    """``step(Y) -> (Y_new, density)`` over data that stay fixed for many steps (standard mean shift).

    What an engine can build once for fixed data (an index) is built here,
    once (`Engine.build_steps`). ``engine='auto'`` is not chosen here: the loop
    chooses once, with `select_engine`. ``engine``: a name, or an engine object
    (one that carries its neighbor index: ``ENGINES['knn'].with_index(index)``).
    """
    chosen = engine if isinstance(engine, Engine) else (ENGINES[engine] if engine != "auto" else None)
    if chosen is not None and chosen.steps_over is not None:
        return chosen.build_steps(X, weights, bandwidth, kernel, memory_budget)
    name = chosen.name if chosen is not None else "auto"
    return lambda Y: shift_tensors(Y, X, bandwidth, kernel, weights, engine=name, memory_budget=memory_budget)


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
    return ENGINES[name].run(Y, X, bandwidth, kernel, weights, memory_budget)


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
    check_memory_budget(memory_budget)
    X_t = as_tensor(X, name="X", dtype=dtype, device=device)
    Y_t = as_tensor(Y, name="Y", dtype=dtype, device=X_t.device)
    if Y_t.shape[1] != X_t.shape[1]:
        raise ValueError(
            f"Y and X must have the same number of features, got Y of shape "
            f"{tuple(Y_t.shape)} and X of shape {tuple(X_t.shape)}"
        )
    w = check_weights(weights, X_t.shape[0], dtype=X_t.dtype, device=X_t.device)
    return shift_tensors(Y_t, X_t, h, kern, w, engine=engine, memory_budget=memory_budget)
