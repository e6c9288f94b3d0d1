"""shiftkit: clustering that finds how many clusters there are, fast on CPU and GPU.

The public API; everything else is private and may change. Importing shiftkit
imports nothing heavy: torch, scikit-learn, matplotlib and numba load when a
name that needs them is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shiftkit._shift import ENGINES, select_engine, shift
    from shiftkit.bandwidth import estimate_bandwidth, local_bandwidth
    from shiftkit.cluster import (
        BANDWIDTH_RULES,
        DBSCAN,
        KMeans,
        KMeansStep,
        MeanShift,
        MeanShiftStep,
        QuickShift,
        QuickShiftStage,
        dbscan,
        get_bin_seeds,
        k_means,
        mean_shift,
        quick_shift,
        select_bandwidth,
    )
    from shiftkit.kernels import KERNELS, Kernel, get_kernel, register_kernel

# Where each public name lives: imported on first use (PEP 562), so that `import shiftkit` and
# `shiftkit --help` do not load torch and scikit-learn (2.6 s) until a name that needs them is used.
_HOMES = {
    "shiftkit._shift": ("ENGINES", "select_engine", "shift"),
    "shiftkit.bandwidth": ("estimate_bandwidth", "local_bandwidth"),
    "shiftkit.cluster": (
        "BANDWIDTH_RULES", "DBSCAN", "KMeans", "KMeansStep", "MeanShift", "MeanShiftStep", "QuickShift",
        "QuickShiftStage", "dbscan", "get_bin_seeds", "k_means", "mean_shift", "quick_shift",
        "select_bandwidth",
    ),
    "shiftkit.kernels": ("KERNELS", "Kernel", "get_kernel", "register_kernel"),
}  # fmt: skip
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        try:  # a subpackage: shiftkit.cluster, shiftkit.neighbors, ...
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "BANDWIDTH_RULES",
    "DBSCAN",
    "ENGINES",
    "KERNELS",
    "KMeans",
    "KMeansStep",
    "Kernel",
    "MeanShift",
    "MeanShiftStep",
    "QuickShift",
    "QuickShiftStage",
    "__version__",
    "dbscan",
    "estimate_bandwidth",
    "get_bin_seeds",
    "get_kernel",
    "k_means",
    "local_bandwidth",
    "mean_shift",
    "quick_shift",
    "register_kernel",
    "select_bandwidth",
    "select_engine",
    "shift",
]
