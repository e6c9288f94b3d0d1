import numpy as np
import pytest
import torch
from torch.distributions.multivariate_normal import MultivariateNormal

from shiftkit.datasets import make_lesson_blobs


def test_reproduces_the_lesson_notebook_exactly():
    state = torch.get_rng_state()
    try:
        torch.manual_seed(42)
        centroids = torch.rand(6, 2) * 70 - 35
        X = torch.cat(
            [MultivariateNormal(c, torch.diag(torch.tensor([5.0, 5.0]))).sample((250,)) for c in centroids]
        )
    finally:
        torch.set_rng_state(state)
    X2, y, c2 = make_lesson_blobs()
    np.testing.assert_array_equal(X2, X.numpy())
    np.testing.assert_array_equal(c2, centroids.numpy())
    np.testing.assert_array_equal(y, np.repeat(np.arange(6), 250))


def test_global_random_state_untouched():
    before = torch.get_rng_state()
    make_lesson_blobs()
    assert torch.equal(before, torch.get_rng_state())


def test_any_dimension_and_spread():
    X, y, c = make_lesson_blobs(n_clusters=3, n_samples=400, n_features=5, variance=2.0, random_state=1)
    assert X.shape == (1200, 5) and c.shape == (3, 5)
    assert (c >= -35).all() and (c <= 35).all()
    for k in range(3):
        np.testing.assert_allclose(X[y == k].var(0), 2.0, rtol=0.25)
        np.testing.assert_allclose(X[y == k].mean(0), c[k], atol=0.3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 0}, "n_clusters must be a positive integer"),
        ({"n_samples": 2.5}, "n_samples must be a positive integer"),
        ({"low": 1.0, "high": 1.0}, "high must be greater than low"),
        ({"variance": -1.0}, "variance must be >= 0"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_lesson_blobs(**kwargs)
