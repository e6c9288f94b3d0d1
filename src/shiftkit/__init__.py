"""shiftkit: clustering that finds how many clusters there are, fast on CPU and GPU.

The public API; everything else is private and may change.
"""

from shiftkit._shift import ENGINES, select_engine, shift
from shiftkit.bandwidth import estimate_bandwidth, select_bandwidth
from shiftkit.cluster import MeanShift, QuickShift, StepInfo, mean_shift, quick_shift
from shiftkit.kernels import KERNELS, get_kernel

__version__ = "0.1.0"

__all__ = [
    "ENGINES",
    "KERNELS",
    "MeanShift",
    "QuickShift",
    "StepInfo",
    "__version__",
    "estimate_bandwidth",
    "get_kernel",
    "mean_shift",
    "quick_shift",
    "select_bandwidth",
    "select_engine",
    "shift",
]
