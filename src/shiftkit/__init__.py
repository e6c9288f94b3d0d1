"""shiftkit: clustering that finds how many clusters there are, fast on CPU and GPU.

The public API; everything else is private and may change. Importing shiftkit
imports neither matplotlib nor numba (`shiftkit.plot` and the compiled kernels
load them when used).
"""

from shiftkit._shift import ENGINES, select_engine, shift
from shiftkit.bandwidth import estimate_bandwidth, local_bandwidth
from shiftkit.cluster import (
    BANDWIDTH_RULES,
    DBSCAN,
    KMeans,
    KMeansStep,
    MeanShift,
    QuickShift,
    StepInfo,
    dbscan,
    get_bin_seeds,
    k_means,
    mean_shift,
    quick_shift,
    select_bandwidth,
)
from shiftkit.kernels import KERNELS, Kernel, get_kernel, register_kernel

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
    "QuickShift",
    "StepInfo",
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
