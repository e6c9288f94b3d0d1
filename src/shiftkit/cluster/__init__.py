"""Clustering estimators, one algorithm per private module."""

from shiftkit.cluster._mean_shift import MeanShift, StepInfo, mean_shift

__all__ = ["MeanShift", "StepInfo", "mean_shift"]
