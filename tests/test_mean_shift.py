import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import MeanShift as SkMeanShift
from sklearn.cluster import estimate_bandwidth as sk_estimate_bandwidth
from sklearn.datasets import load_digits, make_blobs
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import shiftkit.cluster._mean_shift._loops as loops_module
from shiftkit import MeanShift, QuickShift, mean_shift, select_bandwidth, select_engine, shift
from shiftkit.datasets import make_lesson_blobs
from shiftkit.kernels import KERNELS


@parametrize_with_checks(
    [MeanShift(), MeanShift(kernel="flat", algorithm="standard")],
    # the default bandwidth reads weights as shares of the rows (all equal weights change nothing, and
    # weights summing to 1 are not one row): 9 rows weighted 1 to 4 are 9 rows to it, their 27 copies
    # 27 (with a bandwidth given, weights are copies: test_sample_weight_equals_repetition)
    expected_failed_checks=lambda est: (
        {"check_sample_weight_equivalence_on_dense_data": "the default bandwidth reads weights as shares"}
        if est.get_params() == MeanShift().get_params()
        else {}
    ),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _digits_4d(n=None):
    X = PCA(n_components=4, random_state=0).fit_transform(load_digits().data)
    return X if n is None else X[:n]


def _small_blobs():
    return make_lesson_blobs(n_samples=80)[0].astype(np.float64)


@pytest.mark.parametrize(
    ("data", "bin_seeding"),
    [
        (lambda: make_lesson_blobs()[0].astype(np.float64), True),
        (_small_blobs, False),
        (_digits_4d, True),
        (lambda: _digits_4d(400), False),
    ],
    ids=["blobs-bins", "blobs-small", "digits-bins", "digits-400"],
)
def test_flat_standard_agrees_with_sklearn(data, bin_seeding):
    X = data()
    bandwidth = 2.5 if X.shape[1] == 2 else sk_estimate_bandwidth(X, quantile=0.1)
    sk = SkMeanShift(bandwidth=bandwidth, bin_seeding=bin_seeding).fit(X)
    ours = MeanShift(
        bandwidth=bandwidth,
        kernel="flat",
        algorithm="standard",
        bin_seeding=bin_seeding,
        assign_labels="nearest",
        dtype="float64",
    ).fit(X)
    assert len(sk.cluster_centers_) > 1
    assert ours.cluster_centers_.shape == sk.cluster_centers_.shape
    np.testing.assert_allclose(ours.cluster_centers_, sk.cluster_centers_, rtol=0, atol=1e-3 * bandwidth)
    np.testing.assert_array_equal(ours.labels_, sk.labels_)
    # the default labels (the mode each point reached) use the same centers
    mode_labels = MeanShift(
        bandwidth=bandwidth, kernel="flat", algorithm="standard", bin_seeding=bin_seeding, dtype="float64"
    ).fit(X)
    np.testing.assert_allclose(mode_labels.cluster_centers_, sk.cluster_centers_, atol=1e-3 * bandwidth)


def test_lesson_gaussian_blurring_finds_the_six_clusters(lesson_blobs):
    X, y, centers = lesson_blobs
    ms = MeanShift(bandwidth=2.5).fit(X)
    assert ms.cluster_centers_.shape == (6, 2)
    assert adjusted_rand_score(y, ms.labels_) >= 0.99
    # every true center has a found center within one bandwidth
    gaps = np.linalg.norm(centers[:, None] - ms.cluster_centers_[None], axis=-1).min(1)
    assert (gaps < 2.5).all()
    assert ms.engine_ == select_engine(torch.from_numpy(X), torch.from_numpy(X), 2.5, KERNELS["gaussian"])
    assert 1 < ms.n_iter_ < 20
    assert ms.labels_.dtype == np.int64 and ms.cluster_centers_.dtype == np.float32


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("algorithm", ["blurring", "standard"])
def test_every_kernel_and_algorithm_clusters_separated_blobs(kernel, algorithm):
    X, y, _ = make_lesson_blobs(n_clusters=4, n_samples=60, low=-60, high=60, variance=1.0, random_state=3)
    ms = MeanShift(bandwidth=4.0, kernel=kernel, algorithm=algorithm).fit(X)
    assert adjusted_rand_score(y, ms.labels_) == 1.0
    assert len(ms.cluster_centers_) == 4
    assert (np.diff(ms.cluster_densities_) <= 0).all()


def _same_partition(a, b):
    assert adjusted_rand_score(a, b) == 1.0


def _sorted_rows(C):
    """Centers in a canonical order, for comparing runs whose density ties break differently."""
    C = np.asarray(C, dtype=np.float64)
    return C[np.lexsort(C.T[::-1])]


@pytest.mark.parametrize("algorithm", ["blurring", "standard"])
def test_permuting_rows_permutes_labels(lesson_blobs, algorithm):
    X, _, _ = lesson_blobs
    perm = np.random.default_rng(1).permutation(len(X))
    a = MeanShift(bandwidth=2.5, algorithm=algorithm, dtype="float64").fit(X)
    b = MeanShift(bandwidth=2.5, algorithm=algorithm, dtype="float64").fit(X[perm])
    _same_partition(a.labels_[perm], b.labels_)
    np.testing.assert_allclose(_sorted_rows(a.cluster_centers_), _sorted_rows(b.cluster_centers_), atol=1e-6)


@pytest.mark.parametrize("kernel", ["gaussian", "flat"])
def test_translation_and_scaling_invariance(lesson_blobs, kernel):
    X, _, _ = lesson_blobs
    X = X.astype(np.float64)
    base = MeanShift(bandwidth=2.5, kernel=kernel, dtype="float64").fit(X)
    shifted = MeanShift(bandwidth=2.5, kernel=kernel, dtype="float64").fit(X + np.array([1e4, -3e3]))
    _same_partition(base.labels_, shifted.labels_)
    np.testing.assert_allclose(
        _sorted_rows(shifted.cluster_centers_ - [1e4, -3e3]), _sorted_rows(base.cluster_centers_), atol=1e-6
    )
    scaled = MeanShift(bandwidth=2.5 * 7.0, kernel=kernel, dtype="float64").fit(X * 7.0)
    _same_partition(base.labels_, scaled.labels_)
    np.testing.assert_allclose(
        _sorted_rows(scaled.cluster_centers_ / 7.0), _sorted_rows(base.cluster_centers_), atol=1e-6
    )


def test_float32_far_from_origin_matches_float64(lesson_blobs):
    X, y, _ = lesson_blobs
    far = X.astype(np.float64) + 1e6  # float32 spacing at 1e6 is 0.06: centering keeps it exact
    a = MeanShift(bandwidth=2.5, dtype="float32").fit(far)
    b = MeanShift(bandwidth=2.5, dtype="float64").fit(far)
    _same_partition(a.labels_, b.labels_)
    assert adjusted_rand_score(y, a.labels_) >= 0.99
    np.testing.assert_allclose(_sorted_rows(a.cluster_centers_), _sorted_rows(b.cluster_centers_), atol=0.2)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_tiny_bandwidth_gives_singletons_not_nan(kernel):
    X = np.random.default_rng(0).normal(size=(40, 2)) * 100
    ms = MeanShift(bandwidth=1e-3, kernel=kernel).fit(X)
    assert np.isfinite(ms.cluster_centers_).all()
    assert len(ms.cluster_centers_) == 40
    np.testing.assert_allclose(np.sort(ms.cluster_centers_, axis=0), np.sort(X, axis=0), atol=1e-3)


def test_dtype_float32_and_float64_agree(lesson_blobs):
    X, _, _ = lesson_blobs
    a = MeanShift(bandwidth=2.5, dtype="float32").fit(X)
    b = MeanShift(bandwidth=2.5, dtype=np.float64).fit(X)
    assert b.cluster_centers_.dtype == np.float64
    _same_partition(a.labels_, b.labels_)
    np.testing.assert_allclose(_sorted_rows(a.cluster_centers_), _sorted_rows(b.cluster_centers_), atol=1e-3)


def test_standard_mode_stops_paying_for_converged_seeds(lesson_blobs, monkeypatch):
    sizes = []
    real = loops_module.steps_over

    def spy(*args, **kwargs):
        step = real(*args, **kwargs)

        def counted(Y):
            sizes.append(Y.shape[0])
            return step(Y)

        return counted

    monkeypatch.setattr(loops_module, "steps_over", spy)
    X, _, _ = lesson_blobs
    ms = MeanShift(bandwidth=2.5, algorithm="standard").fit(X)
    assert sizes[0] == len(X)
    assert all(b <= a for a, b in itertools.pairwise(sizes))
    assert sizes[-1] < len(X) // 10
    assert ms.n_iter_ == len(sizes)


def test_sample_weight_equals_repetition(lesson_blobs):
    X, _, _ = lesson_blobs
    X = X[::5].astype(np.float64)
    w = np.random.default_rng(0).integers(0, 4, size=len(X))
    bandwidth = select_bandwidth(X, "quantile", sample_weight=w)
    for algorithm in ("blurring", "standard"):
        a = MeanShift(bandwidth=bandwidth, algorithm=algorithm, dtype="float64").fit(X, sample_weight=w)
        b = MeanShift(bandwidth=bandwidth, algorithm=algorithm, dtype="float64").fit(np.repeat(X, w, axis=0))
        assert a.bandwidth_ == pytest.approx(b.bandwidth_)
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-6)
        np.testing.assert_allclose(a.cluster_densities_, b.cluster_densities_, rtol=1e-6)
        np.testing.assert_array_equal(a.labels_[w > 0].repeat(w[w > 0]), b.labels_)


def test_predict_is_the_nearest_center(lesson_blobs):
    X, _, _ = lesson_blobs
    ms = MeanShift(bandwidth=2.5).fit(X)
    Q = np.random.default_rng(0).uniform(-40, 40, size=(300, 2))
    expected = np.linalg.norm(Q[:, None] - ms.cluster_centers_[None], axis=-1).argmin(1)
    np.testing.assert_array_equal(ms.predict(Q), expected)
    np.testing.assert_array_equal(ms.predict(X), ms.labels_)


def test_function_form_matches_estimator(lesson_blobs):
    X, _, _ = lesson_blobs
    centers, labels = mean_shift(X, bandwidth=2.5, kernel="epanechnikov")
    ms = MeanShift(bandwidth=2.5, kernel="epanechnikov").fit(X)
    np.testing.assert_array_equal(centers, ms.cluster_centers_)
    np.testing.assert_array_equal(labels, ms.labels_)


def test_cluster_all_false_marks_far_points_as_noise():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [10.0, 10.0]])
    seeds = [[0.05, 0.05]]
    ms = MeanShift(bandwidth=1.0, kernel="flat", algorithm="standard", seeds=seeds, cluster_all=False).fit(X)
    np.testing.assert_array_equal(ms.labels_, [0, 0, 0, 0, -1])
    ms.set_params(cluster_all=True).fit(X)
    np.testing.assert_array_equal(ms.labels_, [0, 0, 0, 0, 0])


def test_bin_seeding_with_min_bin_freq_leaves_sparse_points_to_the_nearest_center():
    X = np.vstack([np.zeros((5, 2)), np.full((5, 2), 10.0), [[30.0, 30.0]]])
    ms = MeanShift(bandwidth=1.0, kernel="flat", algorithm="standard", bin_seeding=True, min_bin_freq=2)
    ms.fit(X)
    assert len(ms.cluster_centers_) == 2
    assert ms.labels_[-1] == ms.labels_[5]
    ms.set_params(cluster_all=False).fit(X)
    assert ms.labels_[-1] == -1


def test_torch_input_and_dataframe_column_names(lesson_blobs):
    pd = pytest.importorskip("pandas")
    X, _, _ = lesson_blobs
    a = MeanShift(bandwidth=2.5).fit(torch.from_numpy(X))
    assert not hasattr(a, "feature_names_in_")
    b = MeanShift(bandwidth=2.5).fit(pd.DataFrame(X, columns=["u", "v"]))
    assert list(b.feature_names_in_) == ["u", "v"]
    np.testing.assert_array_equal(a.labels_, b.labels_)


def test_not_converging_warns():
    X = make_lesson_blobs(n_samples=50)[0]
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        MeanShift(bandwidth=2.5, max_iter=1).fit(X)


def test_small_memory_budget_gives_the_same_result(lesson_blobs):
    X, _, _ = lesson_blobs
    a = MeanShift(bandwidth=2.5, kernel="triangular", dtype="float64").fit(X)
    b = MeanShift(bandwidth=2.5, kernel="triangular", dtype="float64", memory_budget=2**14).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)


@pytest.mark.parametrize(
    ("X", "params", "error", "match"),
    [
        ([[0.0, np.nan], [1.0, 1.0]], {}, ValueError, r"Input X contains NaN \(first at row 0, column 1\)"),
        ([[0.0, np.inf], [1.0, 1.0]], {}, ValueError, "Input X contains infinity"),
        (np.empty((0, 2)), {}, ValueError, "0 sample"),
        (np.empty((3, 0)), {}, ValueError, "0 feature"),
        ([1.0, 2.0, 3.0], {}, ValueError, "Expected a 2-dimensional container|Reshape your data"),
        ([["a", "b"], ["c", "d"]], {}, ValueError, "could not convert string to float"),
        (
            [[1.0], [2.0]],
            {"bandwidth": 1e-300},
            ValueError,
            "bandwidth=1e-300 is below what float32 resolves",
        ),
        ([[1.0], [2.0]], {"bandwidth": 0}, ValueError, "bandwidth must be > 0 and finite, got 0"),
        ([[1.0], [2.0]], {"bandwidth": -2.5}, ValueError, "bandwidth must be > 0"),
        ([[1.0], [2.0]], {"bandwidth": "wide"}, ValueError, "unknown bandwidth rule 'wide'"),
        ([[1.0], [2.0]], {"bandwidth": [1.0]}, TypeError, "bandwidth must be a real number"),
        ([[1.0], [2.0]], {"kernel": "cosine"}, ValueError, "unknown kernel 'cosine'"),
        ([[1.0], [2.0]], {"algorithm": "fast"}, ValueError, "algorithm must be one of"),
        (
            [[1.0], [2.0]],
            {"seeds": [[1.0]], "algorithm": "blurring"},
            ValueError,
            "algorithm='standard' only",
        ),
        (
            [[1.0], [2.0]],
            {"algorithm": "standard", "seeds": [[1.0, 2.0]]},
            ValueError,
            "seeds have 2 features",
        ),
        ([[1.0], [2.0]], {"engine": "attention", "kernel": "flat"}, ValueError, "needs the Gaussian"),
        ([[1.0], [2.0]], {"max_iter": 0}, ValueError, "max_iter must be a positive integer"),
        ([[1.0], [2.0]], {"tol": -1}, ValueError, "tol must be"),
        ([[1.0], [2.0]], {"dtype": "int8"}, ValueError, "dtype must be 'float32' or 'float64'"),
        ([[1.0], [2.0]], {"assign_labels": "x"}, ValueError, "assign_labels must be one of"),
        (
            [[0.0], [10.0]],
            {"bandwidth": 1.0, "algorithm": "standard", "kernel": "flat", "seeds": [[5.0]]},
            ValueError,
            "No point was within bandwidth=1 of any seed",
        ),
        (
            [[0.0], [10.0]],
            {"bandwidth": 1.0, "algorithm": "standard", "bin_seeding": True, "min_bin_freq": 5},
            ValueError,
            "no grid cell holds min_bin_freq=5 points",
        ),
    ],
)
def test_bad_input_errors(X, params, error, match):
    with pytest.raises(error, match=match):
        MeanShift(**params).fit(X)


def test_non_numeric_dataframe_column_is_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": [1.0, 2.0], "city": ["Oslo", "Lima"]})
    with pytest.raises(TypeError, match=r"X has non-numeric columns: \['city'\]"):
        MeanShift(bandwidth=1.0).fit(df)


def test_sample_weight_errors():
    X = [[0.0], [1.0], [2.0]]
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(3,\)"):
        MeanShift(bandwidth=1.0).fit(X, sample_weight=[1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        MeanShift(bandwidth=1.0).fit(X, sample_weight=[1, -1, 1])
    with pytest.raises(ValueError, match="zero everywhere"):
        MeanShift(bandwidth=1.0).fit(X, sample_weight=[0, 0, 0])


def test_predict_checks_features(lesson_blobs):
    X, _, _ = lesson_blobs
    ms = MeanShift(bandwidth=2.5).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but MeanShift is expecting 2 features"):
        ms.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="X has 3 features, but MeanShift is expecting 2 features"):
        ms.predict(torch.zeros(2, 3))


def test_fit_does_not_change_parameters_or_input(lesson_blobs):
    X, _, _ = lesson_blobs
    X_copy = X.copy()
    ms = MeanShift(bandwidth=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ms.fit(X)
    assert ms.bandwidth is None and ms.bandwidth_ > 0
    np.testing.assert_array_equal(X, X_copy)


@pytest.mark.parametrize("algorithm", ["blurring", "standard"])
def test_history_and_callback_do_not_change_the_result(lesson_blobs, algorithm, capsys):
    X, _, _ = lesson_blobs
    plain = MeanShift(bandwidth=2.5, algorithm=algorithm).fit(X)
    steps = []
    watched = MeanShift(
        bandwidth=2.5, algorithm=algorithm, record_history=True, callback=steps.append, verbose=True
    ).fit(X)
    np.testing.assert_array_equal(plain.labels_, watched.labels_)
    np.testing.assert_array_equal(plain.cluster_centers_, watched.cluster_centers_)
    assert len(watched.history_) == watched.n_iter_ + 1 == len(steps) + 1
    np.testing.assert_allclose(watched.history_[0], X, atol=1e-5)  # frame 0: before any step
    assert [s.iteration for s in steps] == list(range(1, watched.n_iter_ + 1))
    np.testing.assert_array_equal(steps[-1].positions, watched.history_[-1])
    assert steps[0].n_moving == len(X)
    # the last step: every point converged, or (blurring) the clusters collapsed, moving only as one body
    assert steps[-1].n_moving == 0 or (algorithm == "blurring" and steps[-1].n_moving < len(X) // 5)
    assert steps[0].largest_move > steps[-1].largest_move
    err = capsys.readouterr().err
    assert err.count("MeanShift step") == watched.n_iter_
    assert not hasattr(plain, "history_")


def test_quiet_unless_verbose(lesson_blobs, capsys):
    MeanShift(bandwidth=2.5).fit(lesson_blobs[0])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_binned_algorithm_finds_the_lesson_clusters(lesson_blobs):
    X, y, _ = lesson_blobs
    ms = MeanShift(bandwidth=2.5, algorithm="binned").fit(X)
    exact = MeanShift(bandwidth=2.5, algorithm="standard").fit(X)
    assert len(ms.cluster_centers_) == 6
    assert adjusted_rand_score(y, ms.labels_) >= 0.99
    _same_partition(ms.labels_, exact.labels_)
    np.testing.assert_allclose(
        _sorted_rows(ms.cluster_centers_), _sorted_rows(exact.cluster_centers_), atol=0.25
    )


def test_the_pre_release_names_are_gone(lesson_blobs):
    X = lesson_blobs[0]
    with pytest.raises(ValueError, match="algorithm must be one of"):
        MeanShift(bandwidth=2.5, algorithm="grid").fit(X)
    with pytest.raises(ValueError, match="unknown bandwidth rule 'knn'"):
        MeanShift(bandwidth="knn").fit(X)


def test_binned_algorithm_history_and_weights(lesson_blobs):
    X, _, _ = lesson_blobs
    ms = MeanShift(bandwidth=2.5, algorithm="binned", record_history=True).fit(X)
    # the moving points are the seeds: the occupied cells of side bandwidth
    n_cells = len(np.unique(np.round(X.astype(np.float64) / 2.5), axis=0))
    assert len(ms.history_) == ms.n_iter_ + 1 and ms.history_[-1].shape == (n_cells, 2)
    w = np.random.default_rng(0).integers(0, 3, size=len(X))
    a = MeanShift(bandwidth=2.5, algorithm="binned", dtype="float64").fit(X, sample_weight=w)
    b = MeanShift(bandwidth=2.5, algorithm="binned", dtype="float64").fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(_sorted_rows(a.cluster_centers_), _sorted_rows(b.cluster_centers_), atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        {"algorithm": "binned"},
        {"algorithm": "standard", "bin_seeding": True, "kernel": "flat"},
    ],
    ids=["binned", "standard-bins-flat"],
)
def test_a_run_whose_n_by_n_matrix_could_not_fit_completes(params):
    # 300,000 points: an n x n float32 matrix would take 360 GB; this machine has 24.
    X, y, _ = make_lesson_blobs(n_clusters=10, n_samples=30_000, low=-150, high=150, random_state=2)
    ms = MeanShift(bandwidth=2.5, memory_budget=32 * 2**20, **params).fit(X)
    assert adjusted_rand_score(y, ms.labels_) > 0.95


# -- the default: the local bandwidth, modes merged through saddles -------------------------


def test_default_merges_modes_through_saddles(lesson_blobs):
    X, y, _ = lesson_blobs
    ms = MeanShift().fit(X)
    assert ms.merge_ == "saddles" and ms.algorithm_ == "standard"
    assert len(ms.cluster_centers_) == 6 and adjusted_rand_score(y, ms.labels_) > 0.99
    assert 0 < ms.prominence_ < 1 and ms.n_clusters_by_level_.shape == ms.levels_.shape
    # without the saddles the small bandwidth leaves many modes
    radius = MeanShift(merge="radius").fit(X)
    assert radius.merge_ == "radius" and len(radius.cluster_centers_) > 6
    assert not hasattr(radius, "prominence_")
    # a numeric bandwidth keeps scikit-learn's radius merging unless told otherwise
    assert MeanShift(bandwidth=ms.bandwidth_).fit(X).merge_ == "radius"
    merged = MeanShift(bandwidth=ms.bandwidth_, merge="saddles", prominence=0.5).fit(X)
    assert merged.merge_ == "saddles" and merged.prominence_ == 0.5


def test_default_centers_are_modes_of_the_density(lesson_blobs):
    X = lesson_blobs[0].astype(np.float64)
    ms = MeanShift(dtype="float64", tol=1e-6).fit(X)
    # a mode is a fixed point of one mean-shift step
    stepped, _ = shift(ms.cluster_centers_, X, ms.bandwidth_, "gaussian", dtype="float64")
    np.testing.assert_allclose(stepped.numpy(), ms.cluster_centers_, atol=1e-4 * ms.bandwidth_)


def test_auto_algorithm_bins_large_low_dimensional_data_with_a_wide_bandwidth():
    X, y, _ = make_lesson_blobs(n_samples=10_000)  # the lesson's six blobs, 60,000 points
    ms = MeanShift(bandwidth=2.5).fit(X)
    assert ms.algorithm_ == "binned" and adjusted_rand_score(y, ms.labels_) > 0.99
    assert MeanShift(bandwidth=2.5).fit(X[:5000]).algorithm_ == "blurring"
    assert MeanShift(bandwidth=2.5, bin_seeding=True).fit(X[:5000]).algorithm_ == "standard"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"merge": "nearest"}, "merge must be one of"),
        ({"prominence": 0.0}, r"prominence must be None or a number in \(0, 1\)"),
        ({"prominence": True}, r"prominence must be None or a number in \(0, 1\)"),
        ({"min_cluster_size": 2.5}, "min_cluster_size must be None or a fraction"),
    ],
)
def test_bad_merge_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        MeanShift(**params).fit([[0.0], [1.0], [5.0]])


# -- the frame (centered and scaled in float64 before any cast) --------------------------------


def test_float32_far_from_the_origin(blobs):
    X, y = blobs
    far = 0.01 * X + 1e6
    ms = MeanShift(bandwidth=0.01).fit(far)  # float32 computation
    assert len(ms.cluster_centers_) == 3
    assert adjusted_rand_score(y, ms.labels_) == 1.0
    np.testing.assert_allclose(
        ms.cluster_centers_, 0.01 * MeanShift(bandwidth=1.0).fit(X).cluster_centers_ + 1e6
    )
    assert len(MeanShift().fit(0.1 * X + 1e7).cluster_centers_) == 3


@pytest.mark.parametrize("scale", [1e-30, 1e-10, 1.0, 1e10, 1e30])
@pytest.mark.parametrize("offset", [0.0, 1e3, 1e9])
def test_invariant_to_scale_and_offset(blobs, scale, offset):
    """The same partition wherever float64 represents the data: scales 1e-30..1e30, offsets up to 1e9."""
    X, y = blobs
    Z = (X + offset) * scale
    for est in (MeanShift(bandwidth=1.0 * scale), MeanShift(), QuickShift()):
        labels = est.fit(Z).labels_
        assert adjusted_rand_score(y, labels) == 1.0, (type(est).__name__, est.get_params()["bandwidth"])
    ms = MeanShift(bandwidth=1.0 * scale).fit(Z)
    assert ms.bandwidth_ == 1.0 * scale
    np.testing.assert_allclose(
        ms.cluster_centers_ / scale - offset,
        MeanShift(bandwidth=1.0).fit(X).cluster_centers_,
        atol=1e-5 * max(1, offset),
    )


def test_large_magnitudes_and_bandwidths(blobs):
    X, _ = blobs
    assert len(MeanShift(bandwidth=1e20).fit(X * 1e20).cluster_centers_) == 3
    assert len(MeanShift(bandwidth=4e154).fit(X * 4e154).cluster_centers_) == 3
    assert (
        len(MeanShift(bandwidth=1e200).fit(X).cluster_centers_) == 1
    )  # no OverflowError from bandwidth ** 2
    ms = MeanShift().fit(X * 1e299)
    assert np.isfinite(ms.bandwidth_) and len(ms.cluster_centers_) == 3
    assert len(MeanShift(bandwidth=1e-30).fit(X * 1e-30).cluster_centers_) == 3


@pytest.mark.parametrize("name", ["QuickShift", "MeanShift", "KMeans", "DBSCAN"])
def test_values_up_to_the_largest_float64(blobs, name):
    # issue 21, item 16: values >= 2^1023 gave a bare OverflowError (2.0 ** 1024 in the frame), KMeans
    # from ~1e155 (scale ** 2), and X - origin overflowed for data spanning +-1.7e308
    from shiftkit import DBSCAN, KMeans

    X, _ = blobs
    X = X - X.mean(0)
    unit = 1.7e308 / np.abs(X).max()  # the largest coordinate 1.7e308, the smallest -1.7e308 or near
    make = {
        "QuickShift": lambda s: QuickShift(),
        "MeanShift": lambda s: MeanShift(),
        "KMeans": lambda s: KMeans(3, random_state=0),
        "DBSCAN": lambda s: DBSCAN(eps=0.5 * s),
    }[name]
    reference = make(1.0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        huge = make(unit).fit(X * unit)
    assert adjusted_rand_score(reference.labels_, huge.labels_) == 1.0
    if hasattr(huge, "cluster_centers_"):
        assert np.isfinite(huge.cluster_centers_).all()
        centers = huge.cluster_centers_ / unit
        np.testing.assert_allclose(centers, reference.cluster_centers_, rtol=1e-6, atol=1e-9)


def test_predict_far_away_goes_the_right_way(blobs):
    X, _ = blobs
    ms = MeanShift(bandwidth=1.0).fit(X)
    for q in ([1e30, 1e30], [-1e30, 1e30], [1e300, 1e300], [-1e300, 1e300], [0.0, -1e200]):
        direction = np.asarray(q) / np.abs(q).max()
        expected = int(np.argmax(ms.cluster_centers_ @ direction))  # farthest along the query's direction
        assert ms.predict([q])[0] == expected


def test_bandwidth_below_resolution_is_an_error_not_a_wrong_answer(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match=r"below what float32 resolves.*dtype='float64'"):
        MeanShift(bandwidth=1e-6).fit(X + 1e6)
    assert len(MeanShift(bandwidth=1e-6, dtype="float64").fit(X * 1e-6 + 1.0).cluster_centers_) == 3


# -- exact ties, as scikit-learn counts them ---------------------------------------------------


def test_exact_ties_as_scikit_learn():
    X = np.array([[-2], [-2], [-2], [2], [3], [1], [-3]], dtype=np.float64)
    ours = MeanShift(
        bandwidth=1, kernel="flat", algorithm="standard", assign_labels="nearest", dtype="float64"
    )
    np.testing.assert_array_equal(np.sort(ours.fit(X).cluster_centers_.ravel()), [-2.25, 2.0])


@pytest.mark.slow
def test_lattice_ties_as_scikit_learn():
    """Small-integer data, integer bandwidths: points at exactly the bandwidth count as in scikit-learn."""
    rng = np.random.default_rng(0)
    for case in range(300):
        d = 1 + case % 2
        X = rng.integers(-4, 5, size=(int(rng.integers(4, 12)), d)).astype(np.float64)
        h = float(rng.integers(1, 4))
        ours = MeanShift(
            bandwidth=h, kernel="flat", algorithm="standard", assign_labels="nearest", dtype="float64"
        ).fit(X)
        theirs = SkMeanShift(bandwidth=h).fit(X)
        np.testing.assert_allclose(
            ours.cluster_centers_,
            theirs.cluster_centers_,
            rtol=1e-12,
            atol=1e-12,
            err_msg=f"{X.tolist()}, {h}",
        )
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)


# -- weights at the ends of float32 ------------------------------------------------------------


@pytest.mark.parametrize("weight", [1e-50, 1e-45, 1e38, 1e300])
def test_weights_are_relative(blobs, weight):
    X, _ = blobs
    ref = MeanShift(bandwidth=1.0).fit(X)
    ms = MeanShift(bandwidth=1.0).fit(X, sample_weight=np.full(len(X), weight))
    np.testing.assert_array_equal(ms.labels_, ref.labels_)
    np.testing.assert_allclose(ms.cluster_centers_, ref.cluster_centers_, atol=1e-5)
    np.testing.assert_allclose(ms.cluster_densities_, ref.cluster_densities_ * weight, rtol=1e-4)


# -- constant data, few distinct values, dtypes ------------------------------------------------


def test_constant_data_is_one_cluster_in_no_step():
    for X in ([[3.3, -1.0]] * 5, [[1e9, 2.0]], [[0.1]] * 7):
        ms = MeanShift().fit(X)
        np.testing.assert_array_equal(ms.cluster_centers_, [X[0]])
        assert ms.n_iter_ == 0 and (ms.labels_ == 0).all()
        np.testing.assert_array_equal(ms.predict([[5.0] * len(X[0])]), [0])


def test_a_few_distinct_values_with_the_scikit_learn_rule():
    X = np.array([1, 1, 1, 2, 2, 2, 3, 3], dtype=np.float64).reshape(-1, 1)
    for kernel in ("flat", "gaussian"):
        ms = MeanShift(bandwidth="sklearn", kernel=kernel, algorithm="standard", merge="radius").fit(X)
        # flat: exactly the values; Gaussian (a quarter of the gap): within its neighbors' pull, e^-8
        np.testing.assert_allclose(np.sort(ms.cluster_centers_.ravel()), [1, 2, 3], atol=1e-3)
        assert adjusted_rand_score([0, 0, 0, 1, 1, 1, 2, 2], ms.labels_) == 1.0


def test_output_dtype_follows_the_input(blobs):
    X, _ = blobs
    for dtype, tensor in ((np.float32, False), (np.float64, False), (np.float32, True)):
        data = torch.as_tensor(X.astype(dtype)) if tensor else X.astype(dtype)
        ms = MeanShift(bandwidth=1.0, dtype=None).fit(data)
        assert ms.cluster_centers_.dtype == dtype
    assert MeanShift(bandwidth=1.0, dtype=None).fit(X.astype(int)).cluster_centers_.dtype == np.float64
    # the computation's precision does not cut the results' below the input's
    assert MeanShift(bandwidth=1.0, dtype="float32").fit(X).cluster_centers_.dtype == np.float64
    assert (
        MeanShift(bandwidth=1.0, dtype="float64").fit(X.astype(np.float32)).cluster_centers_.dtype
        == np.float64
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MeanShift(bandwidth=1.0, dtype=None).fit(X.astype(np.float32))


# -- n_jobs, get_bin_seeds ---------------------------------------------------------------------


def test_n_jobs_sets_the_threads_for_the_fit_only(blobs):
    X, _ = blobs
    before = torch.get_num_threads()
    seen = []
    ms = MeanShift(bandwidth=1.0, n_jobs=1, callback=lambda step: seen.append(torch.get_num_threads()))
    ms.fit(X)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before
    np.testing.assert_array_equal(ms.labels_, MeanShift(bandwidth=1.0, n_jobs=-1).fit(X).labels_)
    with pytest.raises(ValueError, match="n_jobs must be None or a nonzero integer"):
        MeanShift(n_jobs=0).fit(X)


def test_get_bin_seeds_as_scikit_learn(blobs):
    from sklearn.cluster import get_bin_seeds as sk_get_bin_seeds

    from shiftkit import get_bin_seeds

    X, _ = blobs
    for size, freq in ((1.0, 1), (0.5, 3), (2.0, 5)):
        ours = get_bin_seeds(X, size, freq)
        theirs = sk_get_bin_seeds(X, size, freq)
        assert sorted(map(tuple, ours.round(6))) == sorted(map(tuple, theirs.astype(np.float64).round(6)))
    assert get_bin_seeds(X, 0) is X


# -- the memory budget is an upper bound -------------------------------------------------------

_PEAK_SCRIPT = """
import numpy as np, warnings
warnings.simplefilter("ignore")
from shiftkit import MeanShift

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

X = np.random.default_rng(0).normal(size=(6_000, 2)).astype(np.float32)
params = dict(bandwidth=0.5, algorithm="blurring", engine="dense", max_iter=1, kernel=KERNEL)
MeanShift(**params, memory_budget=2**20).fit(X[:500])  # imports and first allocations
base = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak
MeanShift(**params, memory_budget=BUDGET).fit(X)
print(status("VmHWM:") - base)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
@pytest.mark.parametrize("kernel", ["gaussian", "flat"])
def test_the_memory_budget_bounds_the_measured_peak(kernel):
    budget = 8 * 2**20
    script = _PEAK_SCRIPT.replace("KERNEL", repr(kernel)).replace("BUDGET", str(budget))
    grown = int(
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    )
    assert grown <= budget, f"peak RSS grew by {grown / 2**20:.1f} MiB over a budget of 8 MiB"


def test_constant_data_with_rows_of_weight_zero():
    X = [[0.0], [0.0], [1.0], [5.0]]
    ms = MeanShift(bandwidth=2.0, cluster_all=False).fit(X, sample_weight=[1, 1, 0, 0])
    np.testing.assert_array_equal(ms.labels_, [0, 0, 0, -1])  # the far row of weight 0 has no cluster
    np.testing.assert_array_equal(MeanShift(bandwidth=2.0).fit(X, sample_weight=[1, 1, 0, 0]).labels_, 0)


def test_copies_of_rows_share_their_cluster():
    # equal rows competed for places in other rows' neighbor lists: their graph climbs differed and one
    # of these 40 copies went to another cluster than its original; merged through saddles, the fit runs
    # on the distinct rows, so copies share their row's cluster by construction
    X, _ = make_blobs(400, centers=3, cluster_std=1.5, random_state=14)
    X = np.round(X, 2)
    copied = np.random.default_rng(14).choice(len(X), 40, replace=False)
    Z = np.vstack([X, X[copied]])
    bandwidth = MeanShift().fit(Z).bandwidth_
    for ms in (MeanShift(), MeanShift(bandwidth=bandwidth, merge="saddles"), MeanShift(algorithm="blurring")):
        labels = ms.fit(Z).labels_
        np.testing.assert_array_equal(labels[len(X) :], labels[copied])


def test_rows_rounded_to_a_grid_are_not_split_at_their_copies():
    """The default's saddles' graph is over the distinct rows, each weighted by its copies: over the rows
    as given, a value repeated more often than the graph has neighbors had only its own copies for
    neighbors and stayed apart, and five blobs rounded to integers (137 distinct rows of 1,500) fell into
    61 clusters (QuickShift() found the five). The same partition as QuickShift's."""
    X, y = make_blobs(1500, centers=[[-10, -10], [0, 0], [10, 10], [-10, 10], [10, -10]], random_state=0)
    X = np.round(X)
    ms = MeanShift().fit(X)
    assert len(ms.cluster_centers_) == 5
    assert adjusted_rand_score(y, ms.labels_) == 1.0
    np.testing.assert_array_equal(ms.labels_, QuickShift().fit(X).labels_)
    # the saddles' graph of a bandwidth given (60 clusters before) and of the blurring algorithm (61)
    for other in (MeanShift(bandwidth=1.0, merge="saddles"), MeanShift(algorithm="blurring")):
        with warnings.catch_warnings():
            # the default bandwidth (0.22) is below the grid's step; spread over their cells (`Frame.spread`)
            # some distinct rows come within it of a neighbor, and blurring creeps for its 300 steps
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = other.fit(X).labels_
        assert len(set(labels.tolist())) == 5
        assert adjusted_rand_score(y, labels) == 1.0


def test_the_default_bandwidth_reads_weights_as_shares_of_the_rows():
    """Weights all equal change nothing, and weights summing to 1 are not one row: in units of a power
    of two near the largest weight, weights of 3 gave these blobs another bandwidth than none (0.47
    against 0.56); read as counts, as select_bandwidth reads them, weights of 1/600 give a bandwidth 16
    times larger (one cluster)."""
    X, _ = make_blobs(600, centers=4, random_state=0)
    ref = MeanShift().fit(X)
    for weight in (1 / 600, 3.0, 1e-50, 1e30):
        ms = MeanShift().fit(X, sample_weight=np.full(len(X), weight))
        assert ms.bandwidth_ == ref.bandwidth_
        np.testing.assert_array_equal(ms.labels_, ref.labels_)
    assert select_bandwidth(X, sample_weight=np.full(len(X), 1 / 600)) > 10 * ref.bandwidth_


def test_the_saddles_alone_decide_the_partition():
    """Merging through saddles, each seed's graph basin is a basin of its own: MeanShift()'s partition is
    QuickShift()'s (a thin cluster beside a dense one: the old merge of seeds whose modes met within a
    bandwidth moved rows that QuickShift keeps, ARI 0.802 against QuickShift's 0.812)."""
    from shiftkit import QuickShift

    rng = np.random.default_rng(5)
    X = np.vstack([rng.normal(size=(800, 2)), rng.normal(size=(120, 2)) * [0.6, 0.12] + [0, 2.25]])
    ms, qs = MeanShift().fit(X), QuickShift().fit(X)
    np.testing.assert_array_equal(ms.labels_, qs.labels_)
    assert len(ms.cluster_centers_) == 2
    assert np.linalg.norm(ms.cluster_centers_[0] - ms.cluster_centers_[1]) > ms.bandwidth_


def test_a_center_whose_mode_lies_in_another_cluster_is_its_clusters_densest_row():
    from shiftkit.cluster._mean_shift._estimator import _saddle_centers

    X_c = torch.tensor([[0.0, 0.0], [0.2, 0.0], [1.0, 0.0], [1.2, 0.0], [3.0, 0.0], [3.2, 0.0]])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    modes = torch.tensor([[0.1, 0.0], [0.05, 0.0], [3.1, 0.0]])  # cluster 1's seed climbed into cluster 0
    density = torch.tensor([9.0, 8.0, 5.0])
    centers, heights = _saddle_centers(
        modes, density, labels, X_c, torch.tensor([1, 3, 4]), torch.tensor([8.5, 6.0, 4.5]), 1 << 20
    )
    np.testing.assert_array_equal(centers, torch.tensor([[0.1, 0.0], [1.2, 0.0], [3.1, 0.0]]))
    np.testing.assert_array_equal(heights, torch.tensor([9.0, 6.0, 5.0]))


def test_the_default_runs_on_the_rows_in_content_order(monkeypatch):
    """The density, its graph and its ties are computed over the rows in content order (`shiftkit._rows`),
    so that the order of the rows changes no sum and no tie: wut/mk2 of the development battery, permuted,
    scored ARI 0.972 against its own labels before. A probe records that the content order was taken;
    labels come back in the input's order, with weights too."""
    import shiftkit.cluster._mean_shift._estimator as estimator

    calls = []
    real = estimator.distinct_rows
    monkeypatch.setattr(estimator, "distinct_rows", lambda X: calls.append(X.shape) or real(X))
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) * 0.5 + [3.0, 0.0]])
    w = rng.integers(0, 3, size=len(X)).astype(float)
    perm = rng.permutation(len(X))
    ref, ref_w = MeanShift().fit(X).labels_, MeanShift().fit(X, sample_weight=w).labels_
    assert calls == [(500, 2), (500, 2)]
    np.testing.assert_array_equal(MeanShift().fit(X[perm]).labels_, ref[perm])
    np.testing.assert_array_equal(MeanShift().fit(X[perm], sample_weight=w[perm]).labels_, ref_w[perm])
    assert adjusted_rand_score(np.repeat([0, 1], [300, 200]), ref) > 0.85  # the two clusters
    calls.clear()
    MeanShift(bandwidth=0.5).fit(X)  # a bandwidth given: the rows as given
    assert calls == []
