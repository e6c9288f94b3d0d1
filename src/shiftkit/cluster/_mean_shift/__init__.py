"""Mean shift: the estimator, its loops, its starts, its modes and its bandwidth choice."""

from shiftkit.cluster._mean_shift._bandwidth import BANDWIDTH_RULES
from shiftkit.cluster._mean_shift._estimator import MeanShift, mean_shift, select_bandwidth
from shiftkit.cluster._mean_shift._loops import MeanShiftStep
from shiftkit.cluster._mean_shift._seeds import get_bin_seeds

__all__ = ["BANDWIDTH_RULES", "MeanShift", "MeanShiftStep", "get_bin_seeds", "mean_shift", "select_bandwidth"]
