import numpy as np
import pytest
from sklearn.cluster import estimate_bandwidth as sk_estimate_bandwidth

from shiftkit import estimate_bandwidth
from shiftkit.bandwidth import mean_gap_to_distinct
from shiftkit.datasets import make_blobs


@pytest.mark.parametrize("quantile", [0.05, 0.3, 0.7, 1.0])
def test_equals_sklearn_on_the_whole_data(quantile, lesson_blobs):
    X = lesson_blobs[0].astype(np.float64)[::2]
    ours = estimate_bandwidth(X, quantile=quantile, n_samples=None)
    assert ours == pytest.approx(sk_estimate_bandwidth(X, quantile=quantile), rel=1e-10)


def test_subsample_is_sklearn_on_that_subsample():
    X = make_blobs(n_samples=1000, random_state=3)[0].astype(np.float64)  # 6,000 rows
    ours = estimate_bandwidth(X, n_samples=500, random_state=7)
    idx = np.random.default_rng(7).choice(len(X), 500, replace=False)
    assert ours == pytest.approx(sk_estimate_bandwidth(X[idx]), rel=1e-10)
    # and it is close to the full-data value
    assert ours == pytest.approx(sk_estimate_bandwidth(X[::3]), rel=0.1)


def test_integer_weights_equal_repeated_rows(rng):
    X = rng.normal(size=(60, 3))
    w = rng.integers(0, 5, size=60)
    a = estimate_bandwidth(X, sample_weight=w, n_samples=None)
    b = estimate_bandwidth(np.repeat(X, w, axis=0), n_samples=None)
    assert a == pytest.approx(b, rel=1e-12)


def test_degenerate_data():
    assert estimate_bandwidth([[1.0, 2.0]]) == 0.0
    X = [[0.0], [0.0], [0.0], [3.0], [3.0], [3.0]]
    assert estimate_bandwidth(X) == 0.0
    assert mean_gap_to_distinct(X) == pytest.approx(3.0)
    assert mean_gap_to_distinct([[1.0], [1.0]]) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"quantile": 0.0}, "quantile must be in"),
        ({"quantile": 1.5}, "quantile"),
        ({"n_samples": 0}, "n_samples"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        estimate_bandwidth([[0.0], [1.0]], **kwargs)
