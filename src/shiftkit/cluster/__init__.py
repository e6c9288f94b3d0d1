"""Clustering estimators, one algorithm per private module."""

from shiftkit.cluster._dbscan import DBSCAN, dbscan
from shiftkit.cluster._kmeans import KMeans, KMeansStep, k_means
from shiftkit.cluster._mean_shift import (
    BANDWIDTH_RULES,
    MeanShift,
    MeanShiftStep,
    get_bin_seeds,
    mean_shift,
    select_bandwidth,
)
from shiftkit.cluster._quick_shift import QuickShift, quick_shift
from shiftkit.cluster._quick_shift import Stage as QuickShiftStage

__all__ = [
    "BANDWIDTH_RULES",
    "DBSCAN",
    "KMeans",
    "KMeansStep",
    "MeanShift",
    "MeanShiftStep",
    "QuickShift",
    "QuickShiftStage",
    "dbscan",
    "get_bin_seeds",
    "k_means",
    "mean_shift",
    "quick_shift",
    "select_bandwidth",
]
