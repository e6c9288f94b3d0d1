"""Clustering estimators, one algorithm per private module."""

from shiftkit.cluster._mean_shift import MeanShift, StepInfo, mean_shift
from shiftkit.cluster._quick_shift import QuickShift, quick_shift

__all__ = ["MeanShift", "QuickShift", "StepInfo", "mean_shift", "quick_shift"]
