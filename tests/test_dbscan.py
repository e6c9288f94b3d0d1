"""DBSCAN against scikit-learn: the same core points, clusters and (with our border rule) labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cluster import DBSCAN as SKDBSCAN
from sklearn.datasets import make_blobs
from sklearn.utils.estimator_checks import parametrize_with_checks

from shiftkit import DBSCAN, dbscan
from shiftkit.cluster._dbscan._estimator import _reach, _side


@parametrize_with_checks([DBSCAN()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(seed: int, d: int = 2) -> np.ndarray:
    X, _ = make_blobs(2000, centers=6, n_features=d, random_state=seed)
    return np.vstack([X, np.random.default_rng(seed).uniform(-12, 12, (300, d))])


def _assert_same(ours: DBSCAN, ref: SKDBSCAN) -> None:
    np.testing.assert_array_equal(ours.core_sample_indices_, ref.core_sample_indices_)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)  # borders too: the smallest-label rule
    np.testing.assert_array_equal(ours.components_, ref.components_)


@pytest.mark.parametrize("algorithm", ["grid", "brute"])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", range(2))
def test_same_as_scikit_learn(algorithm, d, seed):
    X = _data(seed, d)
    for eps, min_samples in [(0.3, 5), (0.8, 12), (2.0, 40)]:
        ours = DBSCAN(eps=eps, min_samples=min_samples, algorithm=algorithm).fit(X)
        assert ours.algorithm_ == algorithm
        _assert_same(ours, SKDBSCAN(eps=eps, min_samples=min_samples).fit(X))


def test_high_dimension_takes_the_brute_path():
    X = _data(0, 6)
    ours = DBSCAN(eps=1.5, min_samples=6).fit(X)
    assert ours.algorithm_ == "brute"
    _assert_same(ours, SKDBSCAN(eps=1.5, min_samples=6).fit(X))


@pytest.mark.parametrize("algorithm", ["grid", "brute"])
def test_sample_weight(algorithm):
    X = _data(3)
    w = np.random.default_rng(3).uniform(0, 3, len(X))
    w[:50] = 0
    w[60] = 100  # core by itself
    ours = DBSCAN(eps=0.3, min_samples=8, algorithm=algorithm).fit(X, sample_weight=w)
    _assert_same(ours, SKDBSCAN(eps=0.3, min_samples=8).fit(X, sample_weight=w))
    assert 60 in ours.core_sample_indices_


def test_lattice_points_at_exactly_eps_count():
    # integer lattice: every neighbor at exactly eps = 1; (0, 0)..(4, 0) chain with 3 points each in reach
    X = np.array([[i, j] for i in range(6) for j in range(3)] + [[20, 20], [21, 20]], dtype=np.float64)
    for alg in ("grid", "brute"):
        _assert_same(
            DBSCAN(eps=1.0, min_samples=4, algorithm=alg).fit(X), SKDBSCAN(eps=1.0, min_samples=4).fit(X)
        )


def test_border_point_joins_the_smaller_cluster_number():
    # one core on each side (at -1 and 1) of a border point b at 0, within eps of both
    X = np.array([[-1.0], [-1.1], [-1.2], [0.0], [1.0], [1.1], [1.2]])
    ours = DBSCAN(eps=1.0, min_samples=4).fit(X)
    ref = SKDBSCAN(eps=1.0, min_samples=4).fit(X)
    np.testing.assert_array_equal(ours.core_sample_indices_, [0, 4])
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_array_equal(ours.labels_, [0, 0, 0, 0, 1, 1, 1])
    # in the other order the first core point is on the right: b joins that cluster, numbered 0
    ours2 = DBSCAN(eps=1.0, min_samples=4).fit(X[::-1])
    np.testing.assert_array_equal(ours2.labels_, SKDBSCAN(eps=1.0, min_samples=4).fit(X[::-1]).labels_)
    np.testing.assert_array_equal(ours2.labels_, [0, 0, 0, 0, 1, 1, 1])


def test_permuting_the_input_permutes_the_partition():
    X = _data(5)
    perm = np.random.default_rng(0).permutation(len(X))
    a = DBSCAN(eps=0.5, min_samples=10).fit(X)
    b = DBSCAN(eps=0.5, min_samples=10).fit(X[perm])
    core_a = np.zeros(len(X), bool)
    core_a[a.core_sample_indices_] = True
    core_b = np.zeros(len(X), bool)
    core_b[b.core_sample_indices_] = True
    np.testing.assert_array_equal(core_a[perm], core_b)
    # the same partition of the core points, up to the numbering
    la, lb = a.labels_[perm][core_b], b.labels_[core_b]
    pairs = set(zip(la.tolist(), lb.tolist(), strict=True))
    assert len(pairs) == len(set(la.tolist())) == len(set(lb.tolist()))


@pytest.mark.parametrize(("scale", "offset"), [(1e-30, 0.0), (1e30, 0.0), (1.0, 1e9), (2.0**-40, 1e-6)])
def test_same_result_wherever_the_data_sit(scale, offset):
    X = np.round(_data(1) * 8) / 8  # on a binary lattice: scaling by powers of two and shifting are exact
    ref = DBSCAN(eps=0.5, min_samples=6).fit(X)
    scale2 = 2.0 ** round(np.log2(scale))
    moved = DBSCAN(eps=0.5 * scale2, min_samples=6).fit(X * scale2 + offset)
    np.testing.assert_array_equal(ref.labels_, moved.labels_)


def test_gpu_style_path_on_tensors():
    X = _data(2)
    ours = DBSCAN(eps=0.4, min_samples=8, algorithm="brute", memory_budget=1 << 20).fit(torch.as_tensor(X))
    _assert_same(ours, SKDBSCAN(eps=0.4, min_samples=8).fit(X))


def test_dbscan_function():
    X = _data(0)
    core, labels = dbscan(X, eps=0.4, min_samples=8)
    ref = SKDBSCAN(eps=0.4, min_samples=8).fit(X)
    np.testing.assert_array_equal(core, ref.core_sample_indices_)
    np.testing.assert_array_equal(labels, ref.labels_)


def test_reach_covers_every_cell_within_eps():
    # brute force over a fine sampling: two points within eps lie in cells whose offset is in the reach
    rng = np.random.default_rng(0)
    for d in (1, 2, 3):
        side = _side(1.0, d)
        reach = {tuple(o) for o in _reach(d)}
        p = rng.uniform(0, 1, (200_000, d)) * side
        q = p + rng.normal(size=(200_000, d)) * 0.6
        p[:1000, 0] = side * (1 - 1e-7)  # at the far edge of the cell, and a point exactly eps further:
        q[:1000] = p[:1000] + np.eye(d)[0] * 1.0  # two cells on in 1-D (cells are a little under eps)
        close = np.linalg.norm(p - q, axis=1) <= 1.0
        offsets = np.floor(q[close] / side).astype(int)
        assert {tuple(o) for o in offsets} <= reach


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"eps": 0}, ValueError, "eps must be > 0"),
        ({"eps": "a"}, TypeError, "eps must be a real number"),
        ({"min_samples": 0}, ValueError, "min_samples must be a number > 0"),
        ({"metric": "cosine"}, ValueError, "metric must be one of"),
        ({"algorithm": "kd_tree"}, ValueError, "algorithm must be one of"),
    ],
)
def test_bad_parameters(params, error, match):
    with pytest.raises(error, match=match):
        DBSCAN(**params).fit(_data(0))


def test_bad_input_and_grid_limits():
    with pytest.raises(ValueError, match="NaN"):
        DBSCAN().fit(np.array([[0.0, np.nan], [1, 1]]))
    with pytest.raises(ValueError, match="at most 3 features"):
        DBSCAN(algorithm="grid").fit(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        DBSCAN().fit(np.zeros((5, 2)), sample_weight=np.ones(4))


@pytest.mark.parametrize("algorithm", ["grid", "brute"])
def test_distances_at_eps_are_decided_as_scikit_learn_trees_decide_them(algorithm):
    # issue 21, item 4: |x|^2 - 2x.y + |y|^2 lost the point itself under a small eps, and ties at exactly
    # eps on decimal data went three ways (grid, brute, scikit-learn); 17 and 42 of these 120 differed
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    small = "auto" if algorithm == "grid" else algorithm  # the grid refuses so small an eps (too many cells)
    assert (DBSCAN(eps=1e-9, min_samples=1, algorithm=small).fit(X).labels_ >= 0).all()
    twice = np.repeat(rng.normal(size=(100, 3)) * 100, 2, axis=0)
    assert (DBSCAN(eps=1e-6, min_samples=2, algorithm=small).fit(twice).labels_ >= 0).all()
    for case in range(120):
        r = np.random.default_rng(case)
        X = np.round(r.integers(0, 12, size=(int(r.integers(8, 40)), 1 + case % 3)) * 0.1, 1)
        eps, min_samples = float(np.round(r.integers(1, 4) * 0.1, 1)), int(r.integers(2, 5))
        ref = SKDBSCAN(eps=eps, min_samples=min_samples, algorithm="kd_tree").fit(X)
        _assert_same(DBSCAN(eps=eps, min_samples=min_samples, algorithm=algorithm).fit(X), ref)


def test_the_index_given_is_the_one_used():
    # issue 21, item 5: fit sent everything but 'grid' to brute force, and exact results hid it
    from shiftkit.neighbors import ExactIndex

    fitted_on: list[int] = []
    queried: list[int] = []

    class Recording(ExactIndex):
        def fit(self, X):
            fitted_on.append(X.shape[0])
            return super().fit(X)

        def radius_neighbors(self, Y, radius):
            queried.append(Y.shape[0])
            return super().radius_neighbors(Y, radius)

    X, _ = make_blobs(400, centers=3, n_features=2, random_state=0)
    ref = SKDBSCAN(eps=0.8, min_samples=5).fit(X)
    given = Recording()
    for algorithm in ("index", "auto"):  # 'auto' uses an index given
        fitted_on.clear(), queried.clear()
        db = DBSCAN(eps=0.8, min_samples=5, algorithm=algorithm, neighbor_index=given).fit(X)
        assert db.algorithm_ == "index"
        assert fitted_on == [400] and sum(queried) >= 400
        _assert_same(db, ref)
    assert not hasattr(given, "X_")  # the parameter itself stays unfitted


@pytest.mark.slow
def test_index_path_exact_and_lsh():
    from shiftkit.neighbors import ExactIndex, LSHIndex

    X, _ = make_blobs(3000, centers=5, n_features=16, random_state=0)
    for eps in (3.0, 4.0):
        ref = SKDBSCAN(eps=eps, min_samples=10).fit(X)
        _assert_same(
            DBSCAN(eps=eps, min_samples=10, algorithm="index", neighbor_index=ExactIndex()).fit(X), ref
        )
        lsh = DBSCAN(eps=eps, min_samples=10, algorithm="index", neighbor_index=LSHIndex()).fit(X)
        assert lsh.algorithm_ == "index"
        # approximate: a missed neighbor can only take core status away, never give it
        assert set(lsh.core_sample_indices_) <= set(ref.core_sample_indices_)
        assert len(lsh.core_sample_indices_) >= 0.95 * len(ref.core_sample_indices_)
    with pytest.raises(ValueError, match="neighbor_index must be None or a neighbor index"):
        DBSCAN(algorithm="index", neighbor_index="lsh").fit(X)


@pytest.mark.parametrize(("eps", "min_samples"), [(0.3, 5), (0.2, 3), (0.5, 10)])
def test_precomputed_negative_weights_and_sparse_features_as_scikit_learn(eps, min_samples):
    # issue 21, item 24: metric='precomputed' (dense, and sparse radius graphs of a larger radius), negative
    # sample weights (they take from their neighbors' counts) and sparse features, as scikit-learn gives them
    import scipy.sparse as sp
    from sklearn.metrics import pairwise_distances
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    X = np.concatenate(
        [rng.normal(c, 0.3, (60, 2)) for c in ((0, 0), (2, 2), (0, 2))] + [rng.uniform(-1, 3, (30, 2))]
    )
    D = pairwise_distances(X)
    G = NearestNeighbors(radius=eps + 0.2).fit(X).radius_neighbors_graph(X, mode="distance")
    weights = rng.uniform(-1, 3, len(X))
    sparse_X = sp.csr_matrix(np.where(np.abs(X) < 0.3, 0, X))
    cases = [
        (dict(metric="precomputed"), D, None),
        (dict(metric="precomputed"), G, None),
        (dict(metric="precomputed"), D, weights),
        ({}, X, weights),
        ({}, sparse_X, None),
    ]
    for params, data, w in cases:
        ours = DBSCAN(eps, min_samples=min_samples, **params).fit(data, sample_weight=w)
        theirs = SKDBSCAN(eps=eps, min_samples=min_samples, **params).fit(data, sample_weight=w)
        np.testing.assert_array_equal(ours.labels_, theirs.labels_)
        np.testing.assert_array_equal(ours.core_sample_indices_, theirs.core_sample_indices_)
        assert sp.issparse(ours.components_) == sp.issparse(theirs.components_)
        dense = [c.toarray() if sp.issparse(c) else c for c in (ours.components_, theirs.components_)]
        np.testing.assert_array_equal(*dense)
    G_before = G.copy()
    DBSCAN(eps, metric="precomputed").fit(G)
    assert (G != G_before).nnz == 0 and G.nnz == G_before.nnz  # the caller's matrix is not touched
    with pytest.raises(ValueError, match="square matrix of distances"):
        DBSCAN(metric="precomputed").fit(D[:, :5])
    with pytest.raises(ValueError, match="non-negative"):
        DBSCAN(metric="precomputed").fit(-D)


def test_negative_weights_take_brute_force_and_the_grid_says_so():
    X = np.random.default_rng(0).normal(size=(80, 2))
    w = np.ones(80)
    w[::7] = -1.0
    fitted = DBSCAN(0.5).fit(X, sample_weight=w)
    assert fitted.algorithm_ == "brute"
    np.testing.assert_array_equal(fitted.labels_, SKDBSCAN(eps=0.5).fit(X, sample_weight=w).labels_)
    assert DBSCAN(0.5).fit(X).algorithm_ == "grid"
    with pytest.raises(ValueError, match="algorithm='grid' needs sample weights of at least 0"):
        DBSCAN(0.5, algorithm="grid").fit(X, sample_weight=w)
