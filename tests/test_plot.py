import matplotlib.pyplot as plt
import numpy as np
import pytest

from shiftkit.plot import plot_data, plot_density, plot_kernel, to_2d


def _pixels(ax):
    ax.figure.canvas.draw()
    return np.asarray(ax.figure.canvas.buffer_rgba())[..., :3]


def test_plot_data_draws_points_and_centroid_markers(lesson_blobs):
    X, y, c = lesson_blobs
    ax = plot_data(X, y, c)
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 1500
    markers = [ln for ln in ax.lines if ln.get_marker() == "x"]
    assert [ln.get_color() for ln in markers] == ["k", "m"]
    assert _pixels(ax).std() > 20
    plt.close(ax.figure)


def test_plot_data_uses_given_axes_and_noise(lesson_blobs):
    X, y, _ = lesson_blobs
    fig, ax = plt.subplots()
    labels = y.copy()
    labels[:10] = -1
    assert plot_data(X, labels, ax=ax) is ax
    assert len(ax.collections) == 2
    with pytest.raises(ValueError, match="labels must have shape"):
        plot_data(X, y[:5], ax=ax)
    plt.close(fig)


def test_to_2d_projects_high_dimension():
    X = np.random.default_rng(0).normal(size=(50, 5))
    P, C = to_2d(X, X[:3])
    assert P.shape == (50, 2) and C.shape == (3, 2)
    np.testing.assert_allclose(P[:3], C)
    assert to_2d(X[:, :1])[0].shape == (50, 2)


def test_plot_kernel_matches_the_profile():
    ax = plot_kernel("triangular", 2.5)
    x, w = ax.lines[0].get_data()
    np.testing.assert_allclose(w, np.clip(1 - x / 2.5, 0, None))
    plt.close(ax.figure)


def test_plot_density_marks_the_modes(lesson_blobs):
    X, _, c = lesson_blobs
    ax = plot_density(X, 2.5, resolution=40)
    modes = ax.lines[0].get_xydata()
    assert len(modes) == 6
    assert np.linalg.norm(c[:, None] - modes[None], axis=-1).min(1).max() < 1.5
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="needs 2-D data"):
        plot_density(np.zeros((4, 3)), 1.0)
