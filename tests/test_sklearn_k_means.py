"""scikit-learn's own ``sklearn/cluster/tests/test_k_means.py``, run against shiftkit (issue 21, item 24).

The test module is read from the installed scikit-learn and executed here with
its ``KMeans`` and ``k_means`` pointed at a thin adapter over shiftkit's: the
steps in the input's dtype (``dtype=None``), ``algorithm='elkan'`` as shiftkit's
Hamerly bounds (the same iterations and labels; shiftkit has no Elkan), and
``copy_x`` (shiftkit never writes into ``X``) dropped. ``MiniBatchKMeans`` is
scikit-learn's, not shiftkit's: every case of it is skipped. The tests of
scikit-learn's private functions (which would test scikit-learn) and the few
that check what shiftkit does differently are listed in `NOT_APPLICABLE` with
the reason (docs/kmeans-dbscan-neighbors.md, "Differences from scikit-learn").
"""

from __future__ import annotations

from typing import Any

import pytest

import shiftkit
from sklearn_tests import drop_not_applicable, global_dtype, global_random_seed, sklearn_test_source  # noqa: F401  (fixtures)

IMPORT = "from sklearn.cluster import KMeans, MiniBatchKMeans, k_means, kmeans_plusplus"

_THEIRS = "tests scikit-learn's own code (a private function or kmeans_plusplus), not shiftkit's"
NOT_APPLICABLE: dict[str, str] = {
    # scikit-learn's private functions and its public kmeans_plusplus: they would test scikit-learn
    "test_relocate_empty_clusters": _THEIRS,
    "test_euclidean_distance": _THEIRS,
    "test_inertia": _THEIRS,
    "test_is_same_clustering": _THEIRS,
    "test_kmeans_plusplus_wrong_params": _THEIRS,
    "test_kmeans_plusplus_output": _THEIRS,
    "test_kmeans_plusplus_norms": _THEIRS,
    "test_kmeans_plusplus_dataorder": _THEIRS,
    "test_sample_weight_init": "calls KMeans._init_centroids, a private method of scikit-learn's",
    "test_sample_weight_zero": "calls KMeans._init_centroids, a private method of scikit-learn's",
    # MiniBatchKMeans only (its mixed cases are skipped one by one)
    "test_minibatch_update_consistency": "MiniBatchKMeans",
    "test_minibatch_kmeans_partial_fit_init": "MiniBatchKMeans",
    "test_minibatch_kmeans_verbose": "MiniBatchKMeans",
    "test_minibatch_kmeans_warning_init_size": "MiniBatchKMeans",
    "test_minibatch_sensible_reassign": "MiniBatchKMeans",
    "test_minibatch_reassign": "MiniBatchKMeans",
    "test_minibatch_with_many_reassignments": "MiniBatchKMeans",
    "test_minibatch_kmeans_init_size": "MiniBatchKMeans",
    "test_minibatch_declared_convergence": "MiniBatchKMeans",
    "test_minibatch_iter_steps": "MiniBatchKMeans",
    # what shiftkit does differently, by design (docs/kmeans-dbscan-neighbors.md)
    "test_kmeans_verbose": "the verbose format: one line per iteration on stderr",
    "test_warning_elkan_1_cluster": "no Elkan: 'elkan' runs Hamerly's bounds, which need no warning",
}


def _renamed(params: dict[str, Any]) -> dict[str, Any]:
    params = dict(params)
    params.pop("copy_x", None)
    if params.get("algorithm") == "elkan":
        params["algorithm"] = "hamerly"
    return params


def _equivalent(params: dict[str, Any]) -> dict[str, Any]:
    return {"dtype": None, **_renamed(params)}


class KMeans(shiftkit.KMeans):
    """shiftkit's KMeans, as scikit-learn's tests construct and set it."""

    def __init__(self, n_clusters: int = 8, **params: Any) -> None:
        super().__init__(n_clusters, **_equivalent(params))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in shiftkit.KMeans().get_params(deep)}

    def set_params(self, **params: Any) -> KMeans:
        return super().set_params(**_renamed(params))


def k_means(X: Any, n_clusters: int, **params: Any) -> Any:
    return shiftkit.k_means(X, n_clusters, **_equivalent(params))


class MiniBatchKMeans:
    """scikit-learn's MiniBatchKMeans has no shiftkit counterpart: its cases are skipped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pytest.skip("MiniBatchKMeans is scikit-learn's own: shiftkit has none")


from sklearn.cluster import kmeans_plusplus  # noqa: E402  (scikit-learn's function, tested as theirs)

_, _code = sklearn_test_source("test_k_means.py", IMPORT)
exec(_code)
drop_not_applicable(globals(), NOT_APPLICABLE)


def test_the_differences_by_design_still_fail_here(capsys):
    """The two tests listed for what shiftkit does differently do fail against it (else they belong in
    the run), and the executed tests fit shiftkit's KMeans, not scikit-learn's."""
    namespace: dict[str, Any] = {
        "KMeans": KMeans, "k_means": k_means, "MiniBatchKMeans": MiniBatchKMeans,
        "kmeans_plusplus": kmeans_plusplus, "__name__": "sklearn_k_means_tests",
    }  # fmt: skip
    exec(_code, namespace)
    with pytest.raises(AssertionError):
        namespace["test_kmeans_verbose"]("lloyd", 0, capsys)
    with pytest.raises(pytest.fail.Exception):  # pytest.warns(RuntimeWarning) sees none
        namespace["test_warning_elkan_1_cluster"]()
    assert isinstance(namespace["KMeans"](3), shiftkit.KMeans)
