"""KMeans against scikit-learn (same seeds, same answers), its own test cases, invariants, errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.cluster import KMeans as SKKMeans
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from shiftkit import KMeans, KMeansStep, k_means
from shiftkit._ops import row_min


@parametrize_with_checks(
    [KMeans(n_clusters=3, n_init=2, random_state=0)],
    # as for scikit-learn's KMeans: weighted and repeated rows draw different initial centers
    expected_failed_checks=lambda est: {
        "check_sample_weight_equivalence_on_dense_data": "the initialisation draws rows by weight",
        "check_sample_weight_equivalence_on_sparse_data": "the initialisation draws rows by weight",
    },
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("algorithm", ["lloyd", "hamerly"])
def test_same_answers_as_scikit_learn(seed, init, weighted, algorithm):
    """float64, the same random_state: scikit-learn's initial rows, iterations, labels and centers."""
    X, _ = make_blobs(1500, centers=5, n_features=3, cluster_std=1.5, random_state=seed)
    w = np.random.default_rng(seed).uniform(0.1, 3.0, len(X)) if weighted else None
    ours = KMeans(5, init=init, random_state=seed, dtype=None, algorithm=algorithm).fit(X, sample_weight=w)
    ref = SKKMeans(5, init=init, random_state=seed).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=0, atol=1e-10)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-12)
    assert ours.n_iter_ == ref.n_iter_
    np.testing.assert_array_equal(ours.predict(X[:100] + 0.3), ref.predict(X[:100] + 0.3))
    np.testing.assert_allclose(ours.transform(X[:50]), ref.transform(X[:50]), rtol=1e-10)
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("seed", range(3))
def test_hamerly_bounds_change_nothing(dtype, seed):
    """The bounds only spare distances: the same labels, centers and iterations as plain Lloyd."""
    X, _ = make_blobs(6000, centers=40, n_features=6, cluster_std=2.5, random_state=seed)
    X = np.vstack([X, np.random.default_rng(seed).uniform(-15, 15, (600, 6))])
    C0 = X[np.random.default_rng(seed).choice(len(X), 40, replace=False)]
    w = np.random.default_rng(seed).uniform(0.5, 2.0, len(X))
    a = KMeans(40, init=C0, algorithm="lloyd", dtype=dtype, tol=0).fit(X, sample_weight=w)
    b = KMeans(40, init=C0, algorithm="hamerly", dtype=dtype, tol=0).fit(X, sample_weight=w)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.n_iter_ == b.n_iter_ and a.inertia_ == b.inertia_


def test_float32_matches_scikit_learn_where_ties_allow():
    X, _ = make_blobs(20_000, centers=20, n_features=8, random_state=3)
    X = X.astype(np.float32)
    C0 = X[np.random.default_rng(0).choice(len(X), 20, replace=False)]
    ours = KMeans(20, init=C0, max_iter=50).fit(X)
    ref = SKKMeans(20, init=C0, n_init=1, max_iter=50).fit(X)
    assert (ours.labels_ == ref.labels_).mean() > 0.9999
    assert ours.inertia_ <= ref.inertia_ * (1 + 1e-5)
    assert ours.cluster_centers_.dtype == np.float32


# scikit-learn's own cases (sklearn/cluster/tests/test_k_means.py), with its expected values.


def test_kmeans_results():
    X = np.array([[0, 0], [0.5, 0], [0.5, 1], [1, 1]], dtype=np.float64)
    km = KMeans(2, init=np.array([[0, 0], [1, 1]], dtype=np.float64), n_init=1).fit(
        X, sample_weight=[3, 1, 1, 3]
    )
    np.testing.assert_array_equal(km.labels_, [0, 0, 1, 1])
    assert km.inertia_ == pytest.approx(0.375)
    np.testing.assert_allclose(km.cluster_centers_, [[0.125, 0], [0.875, 1]])
    assert km.n_iter_ == 2


def test_kmeans_relocated_clusters():
    X = np.array([[0, 0], [0.5, 0], [0.5, 1], [1, 1]], dtype=np.float64)
    km = KMeans(2, init=np.array([[0.5, 0.5], [3, 3]]), n_init=1).fit(X)
    np.testing.assert_array_equal(km.labels_, [0, 0, 1, 1])
    assert km.inertia_ == pytest.approx(0.25)
    np.testing.assert_allclose(km.cluster_centers_, [[0.25, 0], [0.75, 1]])
    assert km.n_iter_ == 3


def test_empty_cluster_relocated_to_the_far_point():
    X = np.array([[-1.0], [1.0]])
    km = KMeans(2, init=np.array([[-1.0], [-1.0]]), n_init=1).fit(X, sample_weight=[1.9, 0.1])
    assert len(set(km.labels_)) == 2
    np.testing.assert_allclose(km.cluster_centers_, [[-1], [1]])


def test_init_at_the_fitted_centers_stops_at_once():
    X, _ = make_blobs(500, centers=3, random_state=0)
    km1 = KMeans(3, random_state=0).fit(X)
    km2 = KMeans(3, init=km1.cluster_centers_, n_init=1).fit(X)
    np.testing.assert_allclose(km1.cluster_centers_, km2.cluster_centers_, atol=1e-6)
    assert km2.n_iter_ == 1


def test_unit_and_scaled_weights_change_nothing():
    X, _ = make_blobs(800, centers=4, random_state=1)
    a = KMeans(4, random_state=0, dtype=None).fit(X)
    b = KMeans(4, random_state=0, dtype=None).fit(X, sample_weight=np.ones(len(X)))
    c = KMeans(4, init=a.cluster_centers_, dtype=None).fit(X, sample_weight=np.full(len(X), 7.5))
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, c.cluster_centers_, atol=1e-12)
    assert c.inertia_ == pytest.approx(7.5 * a.inertia_)


def test_fewer_distinct_points_than_clusters_warns():
    X = np.array([[0.0, 0.0]] * 5 + [[1.0, 1.0]] * 5)
    with pytest.warns(ConvergenceWarning, match="Number of distinct clusters"):
        KMeans(3, random_state=0).fit(X)


def test_explicit_init_with_n_init_warns_and_runs_once():
    X, _ = make_blobs(100, centers=2, random_state=0)
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        KMeans(2, init=X[:2], n_init=3).fit(X)


# invariants


def test_permuting_the_input_permutes_the_labels():
    X, _ = make_blobs(2000, centers=6, n_features=4, random_state=2)
    C0 = X[:6]
    perm = np.random.default_rng(0).permutation(len(X))
    a = KMeans(6, init=C0).fit(X)
    b = KMeans(6, init=C0).fit(X[perm])
    np.testing.assert_array_equal(a.labels_[perm], b.labels_)


@pytest.mark.parametrize(
    ("scale", "offset"), [(1e-30, 0.0), (1e30, 0.0), (1.0, 1e9), (1e-3, 1e6), (3.7e12, -2e20)]
)
def test_same_partition_wherever_the_data_sit(scale, offset):
    X, _y = make_blobs(1500, centers=5, n_features=3, random_state=4)
    C0 = X[np.random.default_rng(1).choice(len(X), 5, replace=False)]
    ref = KMeans(5, init=C0).fit(X)
    moved = KMeans(5, init=C0 * scale + offset).fit(X * scale + offset)
    np.testing.assert_array_equal(ref.labels_, moved.labels_)
    np.testing.assert_allclose((moved.cluster_centers_ - offset) / scale, ref.cluster_centers_, atol=1e-5)
    assert moved.inertia_ == pytest.approx(ref.inertia_ * scale**2, rel=1e-5)


def test_float32_data_far_from_the_origin():
    X, y = make_blobs(3000, centers=4, cluster_std=0.5, random_state=0)
    # float32 resolves 1e-3 at 1e4, enough for the data; |x|^2 ~ 1e8 against squared distances ~ 1e-3 is
    # not: without centering the expansion |x|^2 - 2 x.c + |c|^2 keeps no digit of them
    X32 = (0.01 * X + 1e4).astype(np.float32)
    km = KMeans(4, random_state=0, n_init=3).fit(X32)
    assert adjusted_rand_score(y, km.labels_) > 0.95


def test_row_min_compiled_matches_torch_with_ties():
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        D = torch.randint(0, 5, (3000, 37), generator=g).to(dtype)  # many ties
        v, i = torch.empty(3000, dtype=dtype), torch.empty(3000, dtype=torch.long)
        row_min(D, v, i)
        ref = torch.min(D, 1)
        torch.testing.assert_close(v, ref.values)
        torch.testing.assert_close(i, ref.indices)
        assert bool((D.argmin(1) == i).all())  # the first index of the minimum


def test_offsets_accumulate_like_index_add():
    g = torch.Generator().manual_seed(1)
    X, C = torch.randn(5000, 6, generator=g), torch.randn(9, 6, generator=g)
    w = torch.rand(5000, generator=g)
    D = torch.addmm(C.square().sum(1), X, C.T, alpha=-2)
    v, i = torch.empty(5000), torch.empty(5000, dtype=torch.long)
    sums = torch.zeros(9, 6, dtype=torch.float64)
    row_min(D, v, i, offsets_of=(X, C, w), sums=sums)
    ref = torch.zeros(9, 6, dtype=torch.float64).index_add_(0, i, ((X - C[i]) * w[:, None]).double())
    torch.testing.assert_close(sums, ref, rtol=1e-6, atol=1e-9)


# options


def test_kmeans_parallel_init_is_as_good_as_kmeans_plusplus():
    X, y = make_blobs(5000, centers=12, n_features=5, random_state=7)
    pp = KMeans(12, random_state=0).fit(X)
    par = KMeans(12, init="k-means||", random_state=0).fit(X)
    assert par.cluster_centers_.shape == (12, 5)
    assert par.inertia_ <= 1.05 * pp.inertia_
    assert adjusted_rand_score(y, par.labels_) > 0.95


def test_cosine_is_spherical_kmeans():
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(4, 16))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    y = rng.integers(0, 4, 2000)
    X = (directions[y] + 0.15 * rng.normal(size=(2000, 16))) * rng.uniform(0.5, 20, (2000, 1))
    km = KMeans(4, metric="cosine", random_state=0).fit(X)
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_, axis=1), 1.0, atol=1e-6)
    assert adjusted_rand_score(y, km.labels_) == 1.0
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_array_equal(km.predict(X), np.argmax(U @ km.cluster_centers_.T, axis=1))
    with pytest.raises(ValueError, match="nonzero rows"):
        km.fit(np.vstack([X, np.zeros(16)]))


def test_history_callback_and_verbose(capsys):
    X, _ = make_blobs(600, centers=3, random_state=0)
    steps: list[KMeansStep] = []
    km = KMeans(3, random_state=0, record_history=True, callback=steps.append, verbose=True).fit(X)
    assert len(km.history_) == km.n_iter_ + 1 and len(km.labels_history_) == km.n_iter_
    np.testing.assert_allclose(km.history_[-1], km.cluster_centers_, atol=1e-6)
    assert [s.iteration for s in steps] == list(range(1, km.n_iter_ + 1))
    assert all(a.inertia >= b.inertia - 1e-6 for a, b in itertools.pairwise(steps))  # Lloyd never goes up
    assert "inertia" in capsys.readouterr().err
    km.set_params(record_history=False, callback=None, verbose=False).fit(X)
    assert not hasattr(km, "history_")


def test_k_means_function():
    X, _ = make_blobs(300, centers=3, random_state=0)
    _centers, labels, inertia, n_iter = k_means(X, 3, random_state=0, return_n_iter=True)
    km = KMeans(3, random_state=0).fit(X)
    np.testing.assert_array_equal(labels, km.labels_)
    assert inertia == pytest.approx(km.inertia_) and n_iter == km.n_iter_


def test_n_init_keeps_the_lowest_inertia():
    X, _ = make_blobs(1000, centers=8, random_state=5)
    # the runs draw from one generator in turn: the first of five is the single run with the same seed
    first = KMeans(8, init="random", n_init=1, random_state=0).fit(X)
    runs: dict[int, float] = {}
    best = KMeans(
        8, init="random", n_init=5, random_state=0, callback=lambda st: runs.__setitem__(st.run, st.inertia)
    ).fit(X)
    assert sorted(runs) == [0, 1, 2, 3, 4]
    assert best.inertia_ <= first.inertia_ + 1e-9 * first.inertia_
    assert best.inertia_ <= min(runs.values()) * (1 + 1e-9)


# errors


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_clusters": 0}, "n_clusters must be an integer >= 1"),
        ({"n_clusters": 2.5}, "n_clusters must be an integer >= 1"),
        ({"init": "kmeans"}, "init must be one of"),
        ({"n_init": 0}, "n_init must be 'auto' or an integer >= 1"),
        ({"max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"tol": -1}, "tol must be a number >= 0"),
        ({"metric": "manhattan"}, "metric must be one of"),
        ({"algorithm": "elkan"}, "algorithm must be one of"),
        ({"memory_budget": 0}, "memory_budget must be a positive number of bytes"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        KMeans(**{"n_clusters": 2, **params}).fit(np.random.default_rng(0).normal(size=(20, 2)))


def test_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="n_samples=20 should be >= n_clusters=21"):
        KMeans(21).fit(X)
    with pytest.raises(ValueError, match="NaN"):
        KMeans(2).fit(np.vstack([X, [np.nan, 0]]))
    with pytest.raises(ValueError, match="does not match the number of clusters"):
        KMeans(2, init=np.zeros((3, 2))).fit(X)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        KMeans(2).fit(X, sample_weight=-np.ones(20))
    with pytest.raises(ValueError, match="3 features"):
        KMeans(2).fit(X).predict(np.zeros((4, 3)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        KMeans(2, random_state=0).fit(torch.as_tensor(X))  # tensors, no warnings


def test_torch_paths_without_the_compiled_library(monkeypatch):
    """The pure-torch paths (GPU, or no compiler) give the compiled kernels' answers."""
    import shiftkit._ops as ops

    X, _ = make_blobs(3000, centers=12, n_features=5, random_state=3)
    C0 = X[:12]
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    _check_second_minimum(ops)  # compiled (when built)
    fits = [KMeans(12, init=C0, algorithm=a, dtype=None) for a in ("lloyd", "hamerly")]
    compiled = [km.fit(X, sample_weight=w) for km in fits]
    monkeypatch.setattr(ops, "_library", lambda: None)
    plain = [clone(km).fit(X, sample_weight=w) for km in fits]
    for a, b in zip(compiled, plain, strict=True):
        np.testing.assert_array_equal(a.labels_, b.labels_)
        np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, atol=1e-12)
    _check_second_minimum(ops)


def _check_second_minimum(ops):
    D = torch.tensor([[3.0, 1.0, 1.0, 5.0], [2.0, 7.0, 0.5, 0.5], [4.0, 2.0, 9.0, 3.0]])
    v, i, second = torch.empty(3), torch.empty(3, dtype=torch.long), torch.empty(3)
    ops.row_min(D, v, i, second=second)
    assert i.tolist() == [1, 2, 1] and second.tolist() == [1.0, 0.5, 3.0]  # on a tie, the minimum again


def test_weights_at_the_ends_of_float64_and_too_few_positive_rows():
    # issue 21, item 6: weights >= ~1e39 were cast to float32 (NaN centers and inertia), fewer rows of
    # positive weight than clusters gave NaN centers (0 / 0 for a cluster of weight 0)
    X = np.random.default_rng(0).normal(size=(50, 2))
    plain = KMeans(3, random_state=0).fit(X)
    for weight in (1e-300, 1e-45, 1e39, 1e300):
        weighted = KMeans(3, random_state=0).fit(X, sample_weight=np.full(50, weight))
        np.testing.assert_array_equal(weighted.labels_, plain.labels_)
        np.testing.assert_allclose(weighted.cluster_centers_, plain.cluster_centers_, rtol=1e-12)
        np.testing.assert_allclose(weighted.inertia_ / weight, plain.inertia_, rtol=1e-12)
    w = np.zeros(50)
    w[:2] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        few = KMeans(3, random_state=0).fit(X, sample_weight=w)
    assert np.isfinite(few.cluster_centers_).all() and few.inertia_ == 0.0


def test_predict_transform_and_score_read_the_centers_attribute():
    # issue 21, item 6: a reassigned cluster_centers_ was ignored (scikit-learn reads the attribute)
    X = np.random.default_rng(0).normal(size=(60, 2))
    km = KMeans(3, random_state=0).fit(X)
    np.testing.assert_array_equal(np.diag(km.transform(km.cluster_centers_)), 0.0)
    centers = np.array([[10.0, 10.0], [-10.0, -10.0], [0.0, 100.0]])
    km.cluster_centers_ = centers
    D = np.sqrt(((X[:, None, :] - centers[None]) ** 2).sum(-1))
    np.testing.assert_array_equal(km.predict(X), D.argmin(1))
    np.testing.assert_allclose(km.transform(X), D, rtol=1e-6)  # computed in float32, the default dtype
    np.testing.assert_allclose(km.score(X), -(D.min(1) ** 2).sum(), rtol=1e-6)
    km.cluster_centers_ = centers[:, :1]
    with pytest.raises(ValueError, match=r"cluster_centers_ must have shape \(k, 2\)"):
        km.predict(X)


def test_random_init_with_too_few_weighted_rows_says_so():
    X = np.random.default_rng(0).normal(size=(50, 2))
    w = np.r_[np.ones(2), np.zeros(48)]
    with pytest.raises(ValueError, match="only 2 rows have a positive weight"):
        KMeans(3, init="random").fit(X, sample_weight=w)


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e160, 1e300])
def test_cosine_at_the_ends_of_float64(scale):
    # issue 21, item 6: row norms above ~1e154 gave one cluster and a false "duplicate points" warning,
    # below ~1e-160 "X has a row of zeros"
    X = np.abs(np.random.default_rng(0).normal(size=(60, 3))) + 0.1
    ref = KMeans(3, metric="cosine", random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = KMeans(3, metric="cosine", random_state=0).fit(X * scale)
    np.testing.assert_array_equal(scaled.labels_, ref.labels_)
    np.testing.assert_allclose(scaled.cluster_centers_, ref.cluster_centers_, rtol=1e-6)
    np.testing.assert_array_equal(scaled.predict(X * scale), ref.labels_)


def test_sparse_rows_as_scikit_learn_without_making_them_dense(monkeypatch):
    # issue 21, item 24: sparse CSR input (TF-IDF) was refused; now the rows stay sparse and the fit is
    # scikit-learn's: the same labels, centers, inertia and iterations
    import scipy.sparse as sp
    from sklearn.cluster import KMeans as SkKMeans

    rng = np.random.default_rng(0)
    X = sp.random(600, 300, density=0.05, random_state=1, format="csr")
    X.data = rng.uniform(0, 1, X.nnz)
    before = X.copy()
    real_toarray = sp.csr_matrix.toarray

    def toarray(self, *args, **kwargs):  # a few rows (a center, k-means++'s candidates) may be; X never
        assert self.shape[0] <= 8, f"{self.shape[0]} rows made dense"
        return real_toarray(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", toarray)
    for seed in (0, 1):
        ours = KMeans(8, random_state=seed, n_init=1).fit(X)
        theirs = SkKMeans(8, random_state=seed, n_init=1).fit(X)
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)
        np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, atol=1e-12)
        assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-12) and ours.n_iter_ == theirs.n_iter_
    w = rng.uniform(0.5, 2, 600)
    ours = KMeans(5, random_state=0, n_init=3).fit(X, sample_weight=w)
    theirs = SkKMeans(5, random_state=0, n_init=3).fit(X, sample_weight=w)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    np.testing.assert_array_equal(ours.predict(X[:50]), theirs.predict(X[:50]))
    np.testing.assert_allclose(ours.transform(X[:5]), theirs.transform(X[:5]), atol=1e-12)
    assert ours.score(X) == pytest.approx(theirs.score(X), rel=1e-12)
    assert (X != before).nnz == 0  # the caller's matrix is left as it was
    monkeypatch.undo()
    # the dense path on the same rows gives the same fit; float32 rows give float32 centers
    dense = KMeans(8, random_state=0, n_init=1, dtype="float64").fit(X.toarray())
    np.testing.assert_array_equal(dense.labels_, KMeans(8, random_state=0, n_init=1).fit(X).labels_)
    assert KMeans(3, random_state=0).fit(X.astype(np.float32)).cluster_centers_.dtype == np.float32
    unit = KMeans(4, metric="cosine", random_state=0).fit(X)
    np.testing.assert_allclose(np.linalg.norm(unit.cluster_centers_, axis=1), 1.0)
    with pytest.raises(ValueError, match=r"init='k-means\|\|' works on dense rows"):
        KMeans(3, init="k-means||").fit(X)
    with pytest.raises(ValueError, match="NaN or infinity"):
        bad = X.copy()
        bad.data[0] = np.nan
        KMeans(3).fit(bad)
