import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from shiftkit.datasets import make_lesson_blobs


@pytest.fixture(scope="session")
def lesson_blobs():
    """The lesson's data: 6 clusters of 250 points in 2-D."""
    return make_lesson_blobs()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three small blobs of 40 points in 2-D and their labels."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    return np.asarray([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])[y] + 0.7 * rng.standard_normal((120, 2)), y
