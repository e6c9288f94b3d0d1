"""scikit-learn's own ``sklearn/cluster/tests/test_mean_shift.py``, run against shiftkit (issue 11, item 16).

The test module is read from the installed scikit-learn and executed here with
its imports pointed at a thin adapter: shiftkit's `MeanShift` in the
scikit-learn-equivalent configuration (flat kernel, standard algorithm, labels
by the nearest center, modes merged by radius, results in the input's dtype,
``bandwidth=None`` meaning scikit-learn's rule). Every difference that remains
is documented in the README ("Differences from scikit-learn's MeanShift").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import shiftkit
from shiftkit import get_bin_seeds  # noqa: F401  (used by the executed tests)
from sklearn_tests import global_dtype, global_random_seed, sklearn_test_source  # noqa: F401  (fixtures)

# scikit-learn's test_max_iter stops at max_iter=1 on purpose; shiftkit says so with a ConvergenceWarning
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

IMPORT = "from sklearn.cluster import MeanShift, estimate_bandwidth, get_bin_seeds, mean_shift"


def _equivalent(params: dict[str, Any]) -> dict[str, Any]:
    bandwidth = params.pop("bandwidth", None)
    return {
        "bandwidth": "sklearn" if bandwidth is None else bandwidth,
        "kernel": "flat",
        "algorithm": "standard",
        "assign_labels": "nearest",
        "merge": "radius",
        "dtype": None,
        **params,
    }


def MeanShift(**params: Any) -> shiftkit.MeanShift:
    return shiftkit.MeanShift(**_equivalent(params))


def mean_shift(X: Any, **params: Any) -> tuple[np.ndarray, np.ndarray]:
    return shiftkit.mean_shift(X, **_equivalent(params))


def estimate_bandwidth(X: Any, **params: Any) -> np.float64:
    # scikit-learn returns a numpy float64; shiftkit a Python float
    return np.float64(shiftkit.estimate_bandwidth(X, **params))


_, _code = sklearn_test_source("test_mean_shift.py", IMPORT)
exec(_code)
