import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs as sk_make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from shiftkit import MeanShift, QuickShift, quick_shift

BATTERY = Path(__file__).resolve().parents[2] / "shared" / "data" / "clustering-dev"


@parametrize_with_checks([QuickShift()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_lesson_blobs(lesson_blobs):
    X, y, centers = lesson_blobs
    qs = QuickShift().fit(X)
    assert qs.cluster_centers_.shape == (6, 2)
    assert adjusted_rand_score(y, qs.labels_) > 0.99
    # the centers are data points (to float32 rounding), the densest of each cluster, near the true centers
    assert (np.linalg.norm(X[:, None] - qs.cluster_centers_[None], axis=-1).min(0) < 1e-5).all()
    assert (np.linalg.norm(centers[:, None] - qs.cluster_centers_[None], axis=-1).min(1) < 1.5).all()
    assert (np.diff(qs.cluster_densities_) <= 0).all()
    np.testing.assert_allclose(qs.density_[qs.labels_ == 0].max(), qs.cluster_densities_[0])
    assert qs.n_clusters_by_level_.shape == qs.levels_.shape
    _centers, labels = quick_shift(X)
    np.testing.assert_array_equal(labels, qs.labels_)


def test_twenty_blobs_found_exactly():
    X, y, C = sk_make_blobs(
        10_000, centers=20, cluster_std=1.0, center_box=(-60, 60), random_state=3, return_centers=True
    )
    best = adjusted_rand_score(y, ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1))  # the true centers: 0.988
    for est in (QuickShift(), MeanShift()):
        est.fit(X)
        assert len(est.cluster_centers_) == 20
        assert adjusted_rand_score(y, est.labels_) > best - 0.01


@pytest.mark.parametrize("estimator", [QuickShift, MeanShift], ids=["QuickShift", "MeanShift"])
def test_two_1d_blobs_twenty_sd_apart_are_two_clusters(estimator):
    for seed, n in [(0, 200), (1, 2_000), (2, 20_000)]:
        rng = np.random.default_rng(seed)
        X = np.concatenate([rng.normal(0, 1, n // 2), rng.normal(20, 1, n // 2)])[:, None]
        est = estimator().fit(X)
        assert len(est.cluster_centers_) == 2
        assert adjusted_rand_score(np.repeat([0, 1], n // 2), est.labels_) == 1.0


def test_invariant_to_permutation_scale_and_offset(lesson_blobs):
    X = lesson_blobs[0].astype(np.float64)[::3]
    ref = QuickShift().fit(X).labels_
    perm = np.random.default_rng(0).permutation(len(X))
    assert adjusted_rand_score(ref[perm], QuickShift().fit(X[perm]).labels_) == 1.0
    for scale, offset in [(1e-30, 0.0), (1e30, 0.0), (1.0, 1e9), (1e-3, -1e6)]:
        labels = QuickShift().fit(X * scale + offset).labels_
        assert adjusted_rand_score(ref, labels) == 1.0, (scale, offset)


def test_identical_rows_share_a_label_in_any_row_order():
    # issue 21, item 1: three points of 30 copies each split 9 copies of (0, 10) off, predict disagreed on
    # 10% of the rows, and the labels moved with the row order
    X = np.repeat([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], 30, axis=0)
    perm = np.random.default_rng(0).permutation(len(X))
    for data in (X, X[perm]):
        qs = QuickShift().fit(data)
        for point in X[::30]:
            assert len(set(qs.labels_[(data == point).all(1)])) == 1
        np.testing.assert_array_equal(qs.predict(data), qs.labels_)


def test_rounded_data_cluster_as_the_unrounded(lesson_blobs):
    # the lesson's blobs rounded to integers: 1,500 rows, 511 distinct (7 clusters before, order-dependent)
    X = np.round(lesson_blobs[0].astype(np.float64))
    y = lesson_blobs[1]
    qs = QuickShift().fit(X)
    assert len(qs.cluster_centers_) == 6 and adjusted_rand_score(y, qs.labels_) > 0.99
    distinct, inverse = np.unique(X, axis=0, return_inverse=True)
    assert len(distinct) < 0.5 * len(X)
    assert all(len(set(qs.labels_[inverse.ravel() == i])) == 1 for i in range(len(distinct)))
    perm = np.random.default_rng(1).permutation(len(X))
    permuted = QuickShift().fit(X[perm])
    # the same partition, and the same numbering (the clusters are numbered by their modes' density)
    np.testing.assert_array_equal(permuted.labels_, qs.labels_[perm])
    np.testing.assert_array_equal(permuted.predict(X), qs.labels_)


def test_fixed_prominence_and_min_cluster_size(lesson_blobs):
    X = lesson_blobs[0]
    strict = QuickShift(prominence=0.95).fit(X)
    assert strict.prominence_ == 0.95 and strict.levels_.tolist() == [0.95]
    assert len(strict.cluster_centers_) <= len(QuickShift(prominence=0.05).fit(X).cluster_centers_)
    # a cluster must hold 300 of the 1,500 points: the six blobs of 250 merge into fewer
    big = QuickShift(min_cluster_size=300).fit(X)
    assert np.bincount(big.labels_).min() >= 300 and len(big.cluster_centers_) < 6


def test_predict_gives_each_training_point_its_own_label(lesson_blobs):
    X, _, _ = lesson_blobs
    qs = QuickShift().fit(X)
    np.testing.assert_array_equal(qs.predict(X), qs.labels_)
    # a new point next to a training point of a cluster's core joins that cluster
    core = int(np.argmax(qs.density_))
    assert qs.predict(X[core : core + 1] + 1e-3)[0] == qs.labels_[core]


def test_degenerate_inputs():
    assert QuickShift().fit([[1.0, 2.0]]).labels_.tolist() == [0]
    same = QuickShift().fit(np.ones((30, 2)))
    assert same.labels_.tolist() == [0] * 30 and same.cluster_centers_.tolist() == [[1.0, 1.0]]
    two = QuickShift().fit([[0.0], [10.0]])
    assert len(two.labels_) == 2


def test_tensor_input_stays_float32_and_matches_numpy(lesson_blobs):
    X = lesson_blobs[0]
    a = QuickShift().fit(torch.from_numpy(X))
    b = QuickShift().fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    assert a.cluster_centers_.dtype == np.float32


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_neighbors": 1}, "n_neighbors must be None or an integer >= 2"),
        ({"n_neighbors": True}, "n_neighbors must be None or an integer >= 2"),
        ({"bandwidth": -1.0}, "bandwidth must be > 0"),
        ({"prominence": 1.0}, r"prominence must be None or a number in \(0, 1\)"),
        ({"min_cluster_size": 1.5}, "min_cluster_size must be None or a fraction"),
        ({"min_cluster_size": -1}, "min_cluster_size must be None or a fraction"),
        ({"memory_budget": 0}, "memory_budget must be a positive number of bytes"),
        ({"dtype": "float16"}, "dtype must be 'float32' or 'float64'"),
    ],
)
def test_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        QuickShift(**params).fit([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])


def _battery_set(name):
    X = np.loadtxt(BATTERY / f"{name}.data.gz", ndmin=2)
    with gzip.open(BATTERY / f"{name}.labels0.gz") as f:
        y = np.loadtxt(f, dtype=int)
    return (X - X.mean(0)) / X.std(0).mean(), y


@pytest.mark.skipif(not BATTERY.is_dir(), reason="the development battery is not beside the project")
@pytest.mark.parametrize("name", ["graves/ring", "wut/x1", "other/chameleon_t4_8k", "sipu/a2"])
def test_a_quick_subset_of_the_battery(name):
    X, y = _battery_set(name)
    labels = QuickShift().fit(X).labels_
    assert adjusted_rand_score(y[y > 0], labels[y > 0]) > 0.9


@pytest.mark.parametrize("estimator", [MeanShift, QuickShift])
def test_defaults_find_small_clusters_in_small_data(estimator):
    """Three clusters of six points: ten or twenty neighbors reach across every gap (found 1 cluster)."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.3, (6, 2)) for c in ([0, 0], [6, 0], [0, 6])])
    y = np.repeat([0, 1, 2], 6)
    assert adjusted_rand_score(y, estimator().fit(X).labels_) == 1.0


def test_neighbor_counts_shrink_only_on_small_data():
    from shiftkit.bandwidth import local_bandwidth
    from shiftkit.neighbors import neighbors_for

    X = np.random.default_rng(1).normal(size=(200, 3))
    rows = torch.as_tensor(X)
    assert [neighbors_for(rows[:n], 20, least=5) for n in (18, 60, 150, 200)] == [5, 6, 15, 20]
    assert [neighbors_for(rows[:n], 10) for n in (5, 18, 99, 100)] == [2, 2, 9, 10]
    assert neighbors_for(rows[:60].repeat(3, 1), 20, least=5) == 6  # repeated rows count once
    assert local_bandwidth(X) == local_bandwidth(X, n_neighbors=10)
    assert local_bandwidth(X[:30]) == local_bandwidth(X[:30], n_neighbors=3)
    small = QuickShift().fit(X[:30])
    assert small.n_neighbors_ == 5 and QuickShift(n_neighbors=20).fit(X[:30]).n_neighbors_ == 20
    assert QuickShift().fit(X).n_neighbors_ == 20


def test_messages_for_a_float_count_and_a_meta_tensor():
    import torch

    with pytest.raises(ValueError, match=r"an int: 1\.0 is neither"):
        QuickShift(min_cluster_size=1.0).fit(np.random.default_rng(0).random((50, 2)))
    with pytest.raises(ValueError, match="X is a meta tensor"):
        QuickShift().fit(torch.zeros(10, 2, device="meta"))


def _blobs_on_background(seed=0):
    """Six blobs of 1,900 points and 600 points of uniform background (the background last)."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(-8, 8, (6, 2))
    X = np.concatenate([rng.normal(c, 0.6, (1900, 2)) for c in centers] + [rng.uniform(-12, 12, (600, 2))])
    return X, np.repeat(np.arange(6), 1900)


def test_cluster_all_false_marks_the_background_and_the_fringes_as_noise():
    # issue 22: 6,019 background points of a 200k cloud joined one blob's cluster and covered the picture
    X, y = _blobs_on_background()
    every = QuickShift().fit(X)
    assert (every.labels_ >= 0).all()
    noisy = QuickShift(cluster_all=False).fit(X)
    labels = noisy.labels_
    # about half the background (0.485; 0.507 while merged basins joined the highest cluster of their
    # component, not the one they touch): the rest lies around the lower-left blob, which meets no other
    # cluster above the background's density and keeps it
    assert (labels[-600:] == -1).mean() > 0.45
    assert (labels[:-600] == -1).mean() < 0.03  # little of the blobs
    assert adjusted_rand_score(y, labels[:-600]) > 0.97
    # the same clusters, less their noise: every clustered point keeps its cluster_all=True label
    kept = labels >= 0
    np.testing.assert_array_equal(labels[kept], every.labels_[kept])
    np.testing.assert_array_equal(noisy.predict(X), labels)
    # below its cluster's core: a point's density is below the highest saddle its cluster meets
    assert noisy.density_[labels == -1].max() < noisy.density_[noisy.labels_ >= 0].max()
    # order of the rows: the same noise, permuted
    perm = np.random.default_rng(1).permutation(len(X))
    np.testing.assert_array_equal(
        QuickShift(cluster_all=False).fit(X[perm]).labels_ == -1, labels[perm] == -1
    )
    with pytest.raises(ValueError, match="cluster_all must be True or False, got 'no'"):
        QuickShift(cluster_all="no").fit(X[:50])


@pytest.mark.slow
def test_cluster_all_false_in_a_graph_layout():
    """In a layout the clusters of digits meet at saddles: the fringes become noise, nothing else moves."""
    from sklearn.datasets import load_digits

    X = load_digits().data
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
    every = QuickShift().fit(X)
    noisy = QuickShift(cluster_all=False).fit(X)
    assert noisy.space_ == every.space_ == "graph-layout"
    labels = noisy.labels_
    assert 0 < (labels == -1).sum() < 0.1 * len(X) and (every.labels_ >= 0).all()
    kept = labels >= 0
    np.testing.assert_array_equal(labels[kept], every.labels_[kept])
    np.testing.assert_array_equal(noisy.predict(X), labels)


def test_callback_hears_each_stage_in_order():
    from sklearn.datasets import load_digits

    from shiftkit import QuickShiftStage

    heard: list[QuickShiftStage] = []
    X, _ = sk_make_blobs(n_samples=300, centers=3, n_features=2, random_state=0)
    QuickShift(callback=heard.append).fit(X)
    assert [(s.index, s.total) for s in heard] == [(1, 2), (2, 2)]
    assert heard[1].name.startswith("mode seeking (input)")
    heard.clear()
    labels = QuickShift(callback=heard.append).fit(load_digits().data[:400]).labels_
    assert [(s.index, s.total) for s in heard] == [(i, 5) if i > 1 else (1, 2) for i in range(1, 6)]
    assert [s.name for s in heard[1:]] == [
        "neighbor graph", "layout", "the rows not laid out", "mode seeking in the layout"
    ]  # fmt: skip
    np.testing.assert_array_equal(labels, QuickShift().fit(load_digits().data[:400]).labels_)


@pytest.mark.parametrize("d", [8, 16, 32])
def test_normal_data_in_many_features_are_one_cluster(d):
    """A Gaussian in 8 to 32 features (no direction stands out: the input space) is one cluster. The
    density dips by a few percent between its noise modes; the lower levels (prominence under 0.1) split
    it into 2 to 6 clusters when they were swept there too."""
    X = np.random.default_rng(0).normal(size=(10000, d))
    qs = QuickShift().fit(X)
    assert qs.labels_.max() == 0
    if qs.space_ == "input":  # (parallel analysis takes a noise axis for signal now and then)
        assert qs.prominence_ >= 0.1
    if d == 8:
        assert MeanShift().fit(X).labels_.max() == 0


@pytest.mark.parametrize("estimator", [QuickShift, MeanShift], ids=["QuickShift", "MeanShift"])
def test_structureless_samples_are_one_cluster(estimator):
    """A normal sample of 10,000 or 30,000 points in 2-D was split into 2 to 25 clusters, a uniform square
    of 1,000 into 2 to 6: the noise of the density between a peak and its saddle (0.1 to 1.8 standard
    errors) passed for a cluster. Two blobs apart stay two. (A uniform square of 3,000 points or more can
    still split: see `_saddles.SIGNIFICANCE`.)"""
    rng = np.random.default_rng(0)
    for X in (rng.normal(size=(10000, 2)), rng.normal(size=(30000, 2)), rng.uniform(size=(1000, 2))):
        assert estimator().fit(X).labels_.max() == 0
    two = np.concatenate([rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)) + np.array([6.0, 0.0])])
    assert adjusted_rand_score(np.repeat([0, 1], 5000), estimator().fit(two).labels_) > 0.95


@pytest.mark.parametrize("estimator", [QuickShift, MeanShift], ids=["QuickShift", "MeanShift"])
def test_structureless_samples_in_one_feature_are_one_cluster(estimator, monkeypatch):
    """In one feature the saddle between two peaks is the least density on the one path between them:
    a normal sample of 5,000 points fell into 2 or 3 clusters, a uniform one into 2 to 11, until the
    neighbor count grew with the rows (`bandwidth.LOCAL_1D_ROWS`) and the peaks had to rise by the noise
    of the most extreme of the windows (`_saddles.significance_for`). Three Gaussians apart stay three,
    and a cluster of 1/31 of the points 6 standard deviations off stays apart."""
    import shiftkit.bandwidth as bandwidth_module
    import shiftkit.cluster._saddles as saddles

    rng = np.random.default_rng(0)
    normal, uniform = rng.normal(size=(5000, 1)), rng.uniform(size=(5000, 1))
    for X in (normal, uniform, rng.normal(size=(20000, 1))):
        assert estimator().fit(X).labels_.max() == 0
    y = rng.integers(0, 3, 5000)
    three = (5.0 * y + rng.normal(size=5000))[:, None]
    assert adjusted_rand_score(y, estimator().fit(three).labels_) > 0.9
    small = rng.uniform(size=5000) < 1 / 31
    off = (rng.normal(size=5000) + 6.0 * small)[:, None]
    assert adjusted_rand_score(small, estimator().fit(off).labels_) > 0.9
    # without the two rules (a fixed 30 neighbors, two standard errors) the samples split: the test can fail
    monkeypatch.setattr(bandwidth_module, "LOCAL_1D_ROWS", 10**12)
    monkeypatch.setattr(saddles, "SIGNIFICANCE_1D", 0.0)
    assert estimator().fit(normal).labels_.max() > 0 and estimator().fit(uniform).labels_.max() > 0


def test_the_significance_in_one_feature_grows_with_the_windows():
    from shiftkit.cluster._saddles import SIGNIFICANCE, SIGNIFICANCE_1D, significance_for

    size, peak = np.array([3000.0, 2000.0]), np.log([50.0, 40.0])  # 5,000 points, 100 windows of 50
    assert significance_for(2, size, peak) == significance_for(5, size, peak) == SIGNIFICANCE
    assert significance_for(1, size, peak) == pytest.approx(SIGNIFICANCE_1D * np.sqrt(np.log(100.0)))
    assert significance_for(1, size, np.log([2000.0, 40.0])) == SIGNIFICANCE  # 2.5 windows: the floor
    assert significance_for(1, size[:0], peak[:0]) == SIGNIFICANCE


def test_the_clusters_by_level_are_what_each_level_keeps():
    """The sweep reports the clusters each level keeps once those within the density's noise merge:
    a normal sample is one cluster at every level (the counts before the test were 5, 4, 3, ...), and a
    level given as ``prominence`` gives the count reported for it."""
    X = np.random.default_rng(0).normal(size=(10000, 2))
    qs = QuickShift().fit(X)
    assert (qs.n_clusters_by_level_ == 1).all()
    blobs = sk_make_blobs(3000, centers=[[0, 0], [3, 0], [0, 3], [6, 6]], random_state=0)[0]
    swept = QuickShift().fit(blobs)
    at = int(np.flatnonzero(swept.levels_ == swept.prominence_)[0])
    assert swept.n_clusters_by_level_[at] == swept.labels_.max() + 1
    for i in (0, len(swept.levels_) // 2, len(swept.levels_) - 1):
        given = QuickShift(prominence=float(swept.levels_[i])).fit(blobs)
        assert given.labels_.max() + 1 == swept.n_clusters_by_level_[i] == given.n_clusters_by_level_[0]


def test_a_cluster_within_the_noise_of_the_density_merges():
    from shiftkit.cluster._saddles import SIGNIFICANCE, ModeTree, density_noise, merge_tree, significant
    from shiftkit.kernels import get_kernel

    assert SIGNIFICANCE == 2.0
    assert density_noise(get_kernel("gaussian"), 2) == 0.5 and density_noise(get_kernel("flat"), 3) == 1.0
    assert density_noise(get_kernel("gaussian"), 2, np.array([1.0, 3.0])) == 0.5 * 10 / 4  # sum w^2 / sum w
    assert density_noise(get_kernel("gaussian"), 2, sums=(4.0, 10.0)) == 0.5 * 10 / 4  # the sums (Dask's)
    # a count of 100 at the peak, 90 or 50 at the saddle: 10 / sqrt(0.5 * 190) = 1.03 and 50 / sqrt(75) = 5.8
    # standard errors; basin 3 joins across a gap (no saddle), basin 0 is the highest
    tree = ModeTree(
        peak=np.log([200.0, 100.0, 100.0, 30.0]),
        saddle=np.array([-np.inf, np.log(90.0), np.log(50.0), -np.inf]),
        elder=np.array([-1, 0, 0, 0]), size=np.array([500.0, 300.0, 300.0, 50.0]), peak_point=np.arange(4),
        noise=0.5,
    )  # fmt: skip
    np.testing.assert_array_equal(significant(tree, [0, 1, 2, 3]), [True, False, True, True])
    merged = merge_tree(tree, prominence=0.05, min_cluster_size=10)
    assert merged.cluster_of_basin[1] == merged.cluster_of_basin[0] and len(merged.tops) == 3
    no_test = merge_tree(replace(tree, noise=0.0), prominence=0.05, min_cluster_size=10)
    assert len(no_test.tops) == 4 and significant(replace(tree, noise=0.0), [1]).all()


def test_the_lower_levels_are_swept_in_few_features_only():
    from shiftkit.cluster._saddles import LEVELS, LOW_LEVELS, ModeTree, choose_level

    # two basins that meet at a saddle 5% below the lower peak: a cluster apart only at levels under 0.05
    tree = ModeTree(
        peak=np.log([100.0, 80.0]), saddle=np.array([-np.inf, np.log(76.0)]), elder=np.array([-1, 0]),
        size=np.array([500.0, 400.0]), peak_point=np.array([0, 1]),
    )  # fmt: skip
    level, levels, counts = choose_level(tree, 10.0)
    assert level < 0.1 and len(levels) == len(LOW_LEVELS) + len(LEVELS) and counts.max() == 2
    level, levels, counts = choose_level(tree, 10.0, low_levels=False)
    assert level == LEVELS[0] and len(levels) == len(LEVELS) and (counts == 1).all()


@pytest.mark.parametrize("estimator", [QuickShift, MeanShift], ids=["QuickShift", "MeanShift"])
def test_exact_ties_are_broken_the_same_way_at_every_scale(estimator):
    """Moons mirrored through the origin (every row's negative is a row): densities tie exactly, and the
    rounding at each scale broke the ties its own way (QuickShift at 1e30: ARI -0.10 against the unscaled
    labels; MeanShift at 1e-30 and 1e30). The default's rows are snapped to a grid in units of their own
    spread first (`shiftkit.cluster._base.Frame.snapped`)."""
    from sklearn.datasets import make_moons

    X, _ = make_moons(400, noise=0.06, random_state=0)
    X = np.vstack([X, -X])
    ref = estimator().fit(X)
    for scale in (1e-30, 3.0, 1e30):
        fitted = estimator().fit(X * scale)
        np.testing.assert_array_equal(fitted.labels_, ref.labels_)
        assert fitted.bandwidth_ / scale == pytest.approx(ref.bandwidth_, rel=1e-12)
        np.testing.assert_allclose(
            fitted.cluster_centers_ / scale, ref.cluster_centers_, rtol=1e-9, atol=1e-12
        )
        np.testing.assert_array_equal(fitted.predict(X * scale), ref.predict(X))


def test_the_principal_axes_of_a_lattice_do_not_turn_with_the_scale():
    """Two 5-D integer lattices 6 apart (principal axes: four tied variances). Their axes came out rotated
    otherwise at each scale and QuickShift's partition with them (ARI 0.11 to 0.47 against the unscaled
    labels). Now the axes come from the rows snapped to their own spread, and the rows are projected
    snapped (`PrincipalAxes.snap`): the same coordinates, bit for bit, and the same partition at every
    scale (with the axes alone snapped QuickShift's still moved: ARI 0.998, the projections' exact ties
    broken by each scale's rounding)."""
    g = np.stack(np.meshgrid(*[np.arange(4.0)] * 5), -1).reshape(-1, 5)
    X = np.vstack([g, g + 6])
    ms, qs = MeanShift().fit(X), QuickShift().fit(X)
    assert ms.space_ == qs.space_ == "principal-axes"
    for scale in (1e-30, 3.0, 1e30):
        np.testing.assert_array_equal(MeanShift().fit(X * scale).labels_, ms.labels_)
        scaled = QuickShift().fit(X * scale)
        np.testing.assert_array_equal(scaled.labels_, qs.labels_)
        assert scaled.bandwidth_ / scale == pytest.approx(qs.bandwidth_, rel=1e-12)
        np.testing.assert_allclose(scaled.embedding_ / scale, qs.embedding_, rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(scaled.predict(X * scale), qs.labels_)


def _sliced_blobs(n=1000, seed=0):
    """Three blobs in two features, the second rounded to whole numbers: the rows on slices."""
    X, y = sk_make_blobs(n, centers=[[-6, 0], [6, 0], [0, 8]], random_state=seed)
    X[:, 0] = np.round(X[:, 0] * 2**20) / 2**20  # exact when moved by 1e9
    X[:, 1] = np.round(X[:, 1])
    return X, y


@pytest.mark.parametrize("estimator", [QuickShift, MeanShift])
def test_a_column_rounded_beside_a_continuous_one_does_not_cut_the_clusters_into_slices(estimator):
    """Inside a slice a row's nearest rows are in its own slice, and the neighbor graph joined the slices
    only at their ends: 14 clusters (ARI 0.35) for both estimators. Spread over their cells
    (`Frame.spread`): the three blobs, at every scale and place, in any row order."""
    X, y = _sliced_blobs()
    fitted = estimator().fit(X)
    assert len(fitted.cluster_centers_) == 3
    assert adjusted_rand_score(y, fitted.labels_) == 1.0
    assert fitted.space_reason_.endswith("; column 1 rounded to a grid, spread over its cells")
    if estimator is QuickShift:  # the rows given again move as they did: their own labels
        np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    for Z in (X * 1e-30, X * 3.0, X + 1e9):
        assert adjusted_rand_score(fitted.labels_, estimator().fit(Z).labels_) == 1.0
    P = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(estimator().fit(X[P]).labels_, fitted.labels_[P])


@pytest.mark.parametrize("estimator", [QuickShift, MeanShift])
def test_rounded_columns_do_not_mislead_the_columns_look(estimator):
    """Eight features rounded to 2 (make_blobs, sd 1, centers in a box of 30): a rounded column's
    histogram has a dip between every two values, and the density on the principal axes took one in:
    15 clusters (QuickShift, ARI 0.61) and 7 (MeanShift, 0.87). Spread: the five blobs, and predict
    gives the rows their labels."""
    X, y = sk_make_blobs(2000, n_features=8, centers=5, center_box=(-15, 15), random_state=1)
    X = np.round(X / 2) * 2
    fitted = estimator().fit(X)
    assert fitted.space_ == "principal-axes"
    assert len(fitted.cluster_centers_) == 5
    assert adjusted_rand_score(y, fitted.labels_) == 1.0
    if estimator is QuickShift:
        np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)


def test_a_graph_layout_takes_the_rows_as_given(monkeypatch):
    """Digits' pixels are whole numbers, each column a grid; spread, the layout's clusters lost 0.06 ARI
    (mean of six seeds): where the modes are sought in a layout the rows are not spread (a probe), and
    where they are sought in a density they are."""
    from sklearn.datasets import load_digits

    from shiftkit._rows import RoundedColumns

    calls = []
    original = RoundedColumns.spread_

    def probe(self, T):
        calls.append(T.shape)
        return original(self, T)

    monkeypatch.setattr(RoundedColumns, "spread_", probe)
    X = load_digits().data
    X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    assert RoundedColumns.fit(X) is not None
    assert QuickShift().fit(X).space_ == "graph-layout"
    assert calls == []
    QuickShift().fit(_sliced_blobs()[0])
    assert calls
