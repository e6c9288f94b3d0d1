import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from shiftkit.datasets import make_blobs


@pytest.fixture(scope="session")
def lesson_blobs():
    """The lesson's data: 6 clusters of 250 points in 2-D."""
    return make_blobs()


@pytest.fixture
def rng():
    return np.random.default_rng(0)
