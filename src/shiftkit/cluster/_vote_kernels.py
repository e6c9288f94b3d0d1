"""numba loop of a layout's labelling: the vote of each row's nearest laid-out rows (imported only when it
runs; cached on disk)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def most_frequent(labels: np.ndarray, out: np.ndarray) -> None:
    """``out[i]``: the most frequent of ``labels[i]`` (r, k), nearest first; ties to the nearest of them
    (the first column whose count is the largest). k is small (10): counted pairwise."""
    r, k = labels.shape
    for i in numba.prange(r):
        best, best_count = 0, 0
        for j in range(k):
            count = 0
            for m in range(k):
                if labels[i, m] == labels[i, j]:
                    count += 1
            if count > best_count:
                best, best_count = j, count
        out[i] = labels[i, best]
