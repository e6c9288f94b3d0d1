"""DBSCAN: the estimator and its grid and brute-force paths (_estimator), compiled loops (_kernels)."""

from shiftkit.cluster._dbscan._estimator import DBSCAN, dbscan

__all__ = ["DBSCAN", "dbscan"]
