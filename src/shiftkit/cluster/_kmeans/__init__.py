"""K-means: initialisation (_init), Lloyd's loop (_lloyd), the estimator (_estimator)."""

from shiftkit.cluster._kmeans._estimator import KMeans, KMeansStep, k_means

__all__ = ["KMeans", "KMeansStep", "k_means"]
