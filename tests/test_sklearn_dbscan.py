"""scikit-learn's own ``sklearn/cluster/tests/test_dbscan.py``, run against shiftkit (issue 21, item 24).

The test module is read from the installed scikit-learn and executed here with
its ``DBSCAN`` and ``dbscan`` pointed at a thin adapter over shiftkit's: the
tree algorithms (``'kd_tree'``, ``'ball_tree'``, ``'brute'``) all give
scikit-learn's labels, so each is shiftkit's ``'auto'``; ``leaf_size`` tunes
trees shiftkit does not build; Minkowski with ``p=2`` is the Euclidean metric.
The tests of metrics shiftkit does not offer are listed in `NOT_APPLICABLE`
with the reason (the README's "Differences from scikit-learn" says the same).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import shiftkit
from sklearn_tests import drop_not_applicable, global_random_seed, sklearn_test_source  # noqa: F401  (a fixture of the tests)

IMPORT = "from sklearn.cluster import DBSCAN, dbscan"

# Tests that need what shiftkit's DBSCAN does not do, by design: it computes Euclidean distances (in
# float64, compared with eps as scikit-learn compares them) or takes them precomputed.
NOT_APPLICABLE = {
    "test_dbscan_callable": "a Python callable as the metric: Euclidean or precomputed only",
    "test_dbscan_metric_params": "Minkowski with p=1 and the Manhattan metric: Euclidean or precomputed only",
    "test_dbscan_balltree": "p=1.0 (Manhattan) among its fits: Euclidean or precomputed only",
}


def _equivalent(params: dict[str, Any]) -> dict[str, Any]:
    params = dict(params)
    params.pop("leaf_size", None)
    if params.pop("algorithm", "auto") not in ("auto", "brute", "kd_tree", "ball_tree"):
        raise ValueError("unknown algorithm")
    metric, p = params.pop("metric", "minkowski"), params.pop("p", 2)
    metric_params = params.pop("metric_params", None)
    if metric == "minkowski" and p in (None, 2) and not metric_params:
        metric = "euclidean"
    return {"metric": metric, **params}


def DBSCAN(eps: float = 0.5, **params: Any) -> shiftkit.DBSCAN:
    return shiftkit.DBSCAN(eps, **_equivalent(params))


def dbscan(
    X: Any, eps: float = 0.5, *, sample_weight: Any = None, **params: Any
) -> tuple[np.ndarray, np.ndarray]:
    return shiftkit.dbscan(X, eps, sample_weight=sample_weight, **_equivalent(params))


SKLEARN_TESTS, _code = sklearn_test_source("test_dbscan.py", IMPORT)
exec(_code)
drop_not_applicable(globals(), NOT_APPLICABLE)


def test_what_does_not_apply_still_fails_here():
    """Each test listed as not applicable does fail against shiftkit (else it belongs in the run)."""
    namespace: dict[str, Any] = {"DBSCAN": DBSCAN, "dbscan": dbscan, "__name__": "sklearn_dbscan_tests"}
    exec(_code, namespace)
    for name in NOT_APPLICABLE:
        with pytest.raises(ValueError, match=r"metric must be one of \('euclidean', 'precomputed'\)"):
            namespace[name]()
