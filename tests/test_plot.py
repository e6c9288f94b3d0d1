import matplotlib.pyplot as plt
import numpy as np
import pytest

from shiftkit import MeanShift
from shiftkit.plot import plot_data, plot_density, plot_kernel, to_2d


def _pixels(ax):
    ax.figure.canvas.draw()
    return np.asarray(ax.figure.canvas.buffer_rgba())[..., :3]


def test_plot_data_draws_points_and_center_markers(lesson_blobs):
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


# -- animation ---------------------------------------------------------------

pytestmark_unsaved = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


@pytest.fixture(scope="module")
def fitted_with_history():
    from shiftkit import MeanShift
    from shiftkit.datasets import make_lesson_blobs

    X, _, _ = make_lesson_blobs(n_samples=80)
    return MeanShift(bandwidth=2.5, record_history=True).fit(X)


def _frame_pixels(anim, i):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    anim._func(i)
    canvas = FigureCanvasAgg(anim._fig)  # the figure is closed: draw it on a fresh Agg canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3]


@pytestmark_unsaved
def test_one_frame_per_step_plus_the_start(fitted_with_history):
    from shiftkit.plot import animate

    ms = fitted_with_history
    anim = animate(ms)
    assert len(ms.history_) == ms.n_iter_ + 1
    assert anim._save_count == ms.n_iter_ + 1
    first = _frame_pixels(anim, 0)
    last = _frame_pixels(anim, ms.n_iter_)
    for px in (first, last):
        assert px.std() > 5  # not blank
    assert np.abs(first.astype(int) - last.astype(int)).sum() > 0  # the points moved
    # each frame clears the axes: one scatter of the moving points, not one per frame so far
    assert len(anim._fig.axes[0].collections) == 1


def test_gif_has_every_frame(fitted_with_history, tmp_path):
    from PIL import Image

    from shiftkit.plot import animate, save_animation

    ms = fitted_with_history
    path = save_animation(animate(ms), tmp_path / "ms.gif")
    with Image.open(path) as im:
        assert im.n_frames == ms.n_iter_ + 1
        im.seek(im.n_frames - 1)
        assert np.asarray(im.convert("L")).std() > 5
    assert [p.name for p in tmp_path.iterdir()] == ["ms.gif"]  # no temporary left behind


@pytestmark_unsaved
def test_html_holds_every_frame(fitted_with_history, tmp_path):
    from shiftkit.plot import animate, save_animation

    ms = fitted_with_history
    html = save_animation(animate(ms), tmp_path / "ms.html").read_text()
    assert html.count("frames[") - html.count("frames[i]") >= ms.n_iter_ + 1
    assert "<script" in html and "data:image/png;base64" in html
    # self-contained: nothing from a CDN (Font Awesome left the buttons blank offline), every button labelled
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert 'class="fa' not in html and html.count("<button") == 9 and "&#9654;" in html
    assert animate(ms)._repr_html_().count("data:image/png;base64") == ms.n_iter_ + 1


def test_mp4_and_its_missing_extra(fitted_with_history, tmp_path, monkeypatch):
    from shiftkit.plot import animate, save_animation

    pytest.importorskip("imageio_ffmpeg")
    anim = animate(fitted_with_history)
    path = save_animation(anim, tmp_path / "ms.mp4")
    assert path.stat().st_size > 1000 and path.read_bytes()[4:8] == b"ftyp"
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    with pytest.raises(ImportError, match=r"pip install 'shiftkit\[video\]'"):
        save_animation(anim, tmp_path / "again.mp4")
    assert not (tmp_path / "again.mp4").exists()


@pytestmark_unsaved
def test_animation_errors(lesson_blobs, tmp_path):
    from shiftkit import MeanShift
    from shiftkit.plot import animate, save_animation

    X, _, _ = lesson_blobs
    with pytest.raises(ValueError, match="record_history=True"):
        animate(MeanShift(bandwidth=2.5).fit(X))
    with pytest.raises(ValueError, match="nothing to animate"):
        animate([])
    anim = animate([X, X * 0.5])
    with pytest.raises(ValueError, match=r"use \.gif, \.mp4 or \.html"):
        save_animation(anim, tmp_path / "a.avi")


@pytestmark_unsaved
def test_standard_mode_animates_seeds_over_grey_data(lesson_blobs):
    from shiftkit import MeanShift
    from shiftkit.plot import animate

    X, _, _ = lesson_blobs
    ms = MeanShift(bandwidth=2.5, algorithm="standard", bin_seeding=True, record_history=True).fit(X)
    anim = animate(ms, X=X)
    _frame_pixels(anim, 1)
    ax = anim._fig.axes[0]
    assert len(ax.collections) == 2 and len(ax.collections[0].get_offsets()) == len(X)
    assert len(ax.collections[1].get_offsets()) == len(ms.history_[0])


def test_kmeans_animates_recoloured_points_and_moving_centers(lesson_blobs):
    from shiftkit import KMeans
    from shiftkit.plot import animate

    X, _, _ = lesson_blobs
    km = KMeans(6, random_state=1, record_history=True).fit(X)
    anim = animate(km, X=X)
    assert anim._save_count == len(km.history_) == km.n_iter_ + 1
    _frame_pixels(anim, 0)
    ax = anim._fig.axes[0]
    assert ax.get_title() == "initial centers"
    np.testing.assert_allclose(ax.lines[0].get_xydata(), km.history_[0])  # the centers, as crosses
    _frame_pixels(anim, km.n_iter_)
    assert ax.get_title() == f"iteration {km.n_iter_}"
    np.testing.assert_allclose(ax.lines[0].get_xydata(), km.cluster_centers_, atol=1e-5)
    with pytest.raises(ValueError, match="needs the data"):
        animate(km)


def test_save_animation_checks_fps(tmp_path, blobs):
    from shiftkit.plot import animate, save_animation

    X, _ = blobs
    anim = animate(MeanShift(bandwidth=1.0, record_history=True).fit(X))
    for fps in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="fps must be a number of frames per second"):
            save_animation(anim, tmp_path / "a.gif", fps=fps)
    assert not list(tmp_path.iterdir())
    save_animation(anim, tmp_path / "a.gif", fps=2.5)
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]


def test_no_cluster_is_drawn_in_a_grey_like_the_noise():
    # tab10's eighth colour is grey: cluster 7 looked like noise
    import matplotlib.colors as mcolors

    X = np.column_stack([np.arange(40.0), np.zeros(40)])
    for k in (9, 18):
        labels = np.arange(40) % k
        labels[-3:] = -1
        ax = plot_data(X, labels)
        colours = np.concatenate([c.get_facecolors() for c in ax.collections])
        noise_grey = mcolors.to_rgba("lightgrey")
        rgb = colours[:, :3]
        greyish = np.ptp(rgb, axis=1) < 0.05  # r = g = b
        assert (colours[greyish] == noise_grey).all(), k
        plt.close(ax.figure)
