"""Clustering estimators, one algorithm per private module."""

from shiftkit.cluster._mean_shift import MeanShift, mean_shift

__all__ = ["MeanShift", "mean_shift"]
