import numpy as np
import pytest
from sklearn.cluster import estimate_bandwidth as sk_estimate_bandwidth
from sklearn.neighbors import NearestNeighbors

from shiftkit import estimate_bandwidth
from shiftkit.bandwidth import local_bandwidth, mean_gap_to_distinct
from shiftkit.datasets import make_lesson_blobs


@pytest.mark.parametrize("quantile", [0.05, 0.3, 0.7, 1.0])
def test_equals_sklearn_on_the_whole_data(quantile, lesson_blobs):
    X = lesson_blobs[0].astype(np.float64)[::2]
    ours = estimate_bandwidth(X, quantile=quantile, n_samples=None)
    assert ours == pytest.approx(sk_estimate_bandwidth(X, quantile=quantile), rel=1e-10)


def test_subsample_is_sklearn_on_that_subsample():
    X = make_lesson_blobs(n_samples=1000, random_state=3)[0].astype(np.float64)  # 6,000 rows
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


# -- the rules of select_bandwidth and the automatic default ------------------

from sklearn import datasets as skd  # noqa: E402

from shiftkit import BANDWIDTH_RULES, MeanShift, get_kernel, select_bandwidth  # noqa: E402
from shiftkit.bandwidth import scott_bandwidth, silverman_bandwidth  # noqa: E402


def test_scott_and_silverman_formulas(rng):
    X = rng.normal(size=(400, 3)) * [1.0, 2.0, 3.0]
    sigma = np.sqrt(X.var(axis=0).mean())
    assert scott_bandwidth(X) == pytest.approx(sigma * 400 ** (-1 / 7))
    assert silverman_bandwidth(X) == pytest.approx(sigma * (4 / 5) ** (1 / 7) * 400 ** (-1 / 7))
    assert scott_bandwidth(X, n_samples=100) == pytest.approx(sigma * 100 ** (-1 / 7))  # n capped


@pytest.mark.parametrize("rule", sorted(BANDWIDTH_RULES))
def test_every_rule_honours_integer_weights_as_repetition(rule, rng):
    X = rng.normal(size=(80, 2)) + rng.integers(0, 3, size=(80, 1)) * 6
    w = rng.integers(0, 4, size=80)
    a = select_bandwidth(X, rule, sample_weight=w)
    b = select_bandwidth(np.repeat(X, w, axis=0), rule)
    assert a > 0
    assert a == pytest.approx(b, rel=1e-9)


def test_auto_is_the_local_scale(lesson_blobs):
    X = lesson_blobs[0]
    tenth = NearestNeighbors(n_neighbors=11).fit(X).kneighbors(X)[0][:, 10].mean()
    assert select_bandwidth(X) == pytest.approx(tenth, rel=1e-6)
    assert select_bandwidth(X, "sklearn") == pytest.approx(estimate_bandwidth(X))


def test_local_bandwidth_shrinks_at_the_density_rate_beyond_its_reference_size(rng):
    X = rng.normal(size=(4000, 2))
    full = local_bandwidth(X, reference_size=4000)
    part = local_bandwidth(X, reference_size=1000, random_state=1)
    tenth = NearestNeighbors(n_neighbors=11).fit(X).kneighbors(X)[0][:, 10].mean()
    assert full == pytest.approx(tenth, rel=1e-6)
    # a fixed neighbor count would shrink by 4^(1/2) = 2; the density rate by 4^(1/6) = 1.26
    assert part < full * 4 ** (1 / 2) / 4 ** (1 / 6) * 1.15
    assert part > full * 4 ** (1 / 2) / 4 ** (1 / 6) * 0.85


def test_local_bandwidth_of_repeated_values_is_the_gap_to_distinct_ones():
    X = np.repeat([[0.0], [1.0], [3.0]], 10, axis=0)
    assert local_bandwidth(X, n_neighbors=5) == pytest.approx(mean_gap_to_distinct(X))
    assert local_bandwidth(np.ones((5, 2))) == 0.0


def test_compact_kernels_get_the_radius_of_the_same_spread(lesson_blobs):
    X = lesson_blobs[0]
    assert get_kernel("flat").gaussian_equivalent_radius(2) == pytest.approx(2.0)
    assert select_bandwidth(X, kernel="epanechnikov") == pytest.approx(6**0.5 * select_bandwidth(X))
    ms = MeanShift(kernel="flat").fit(X)
    assert ms.bandwidth_ == pytest.approx(2 * select_bandwidth(X))
    with pytest.raises(ValueError, match="unknown kernel"):
        select_bandwidth(X, kernel="cosine")


def test_unknown_rule():
    with pytest.raises(ValueError, match="unknown bandwidth rule 'magic'"):
        select_bandwidth([[0.0], [1.0]], "magic")


def _blobs_at(centers, n_per, std=1.0, seed=0):
    """Blobs around given centers: separation under our control, so the true count is well defined."""
    centers = np.asarray(centers, dtype=float)
    counts = [n_per] * len(centers) if np.isscalar(n_per) else n_per
    return skd.make_blobs(n_samples=counts, centers=centers, cluster_std=std, random_state=seed)


_circle = [[20 * np.cos(t), 20 * np.sin(t)] for t in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
_high_d = {d: np.random.default_rng(d).uniform(-10, 10, size=(5, d)) for d in (5, 10, 20)}

AUTO_CASES = [  # (name, X, y, true number of clusters)
    ("lesson blobs", *make_lesson_blobs()[:2], 6),
    ("3 blobs, 300 points", *_blobs_at([[0, 0], [10, 0], [0, 10]], 100), 3),
    ("3 blobs, 30,000 points", *_blobs_at([[0, 0], [10, 0], [0, 10]], 10_000), 3),
    ("8 blobs on a circle", *_blobs_at(_circle, 300), 8),
    ("sizes 1000 and 60", *_blobs_at([[0, 0], [12, 0]], [1000, 60]), 2),
    ("5 blobs in 5-D", *_blobs_at(_high_d[5], 300), 5),
    ("5 blobs in 10-D", *_blobs_at(_high_d[10], 300), 5),
    ("5 blobs in 20-D", *_blobs_at(_high_d[20], 300), 5),
]


@pytest.mark.parametrize(("name", "X", "y", "k"), AUTO_CASES, ids=[c[0] for c in AUTO_CASES])
def test_automatic_bandwidth_finds_the_right_number_of_clusters(name, X, y, k):
    from sklearn.metrics import adjusted_rand_score

    ms = MeanShift().fit(X)
    assert len(ms.cluster_centers_) == k
    assert adjusted_rand_score(y, ms.labels_) > 0.98


def test_local_bandwidth_searches_within_the_callers_budget(monkeypatch):
    # issue 21, item 23: QuickShift's layout took 270 MB with a 16 MiB budget: the local scale's neighbor
    # search used the index's own 256 MiB
    import shiftkit.bandwidth as bw

    asked = []
    real = bw.make_index

    def probe(X, **kwargs):
        asked.append(kwargs.get("memory_budget"))
        return real(X, **kwargs)

    monkeypatch.setattr(bw, "make_index", probe)
    X = np.random.default_rng(0).normal(size=(500, 6))
    assert bw.local_bandwidth(X, memory_budget=2**20) == bw.local_bandwidth(X)
    assert asked == [2**20, bw._MEMORY_BUDGET]
    from shiftkit import QuickShift

    asked.clear()
    QuickShift(memory_budget=3 * 2**20, space="graph-layout").fit(X)
    assert asked and set(asked) == {3 * 2**20}


def test_the_local_scale_in_one_feature_counts_more_neighbors_as_rows_grow():
    """One feature: `LOCAL_NEIGHBORS_1D` neighbors up to `LOCAL_1D_ROWS` rows, then n^(4/5) times more
    (the window of a density-estimation rule); more features: `LOCAL_NEIGHBORS` whatever the rows."""
    from shiftkit.bandwidth import LOCAL_1D_ROWS, LOCAL_NEIGHBORS, LOCAL_NEIGHBORS_1D, local_bandwidth

    rng = np.random.default_rng(0)
    small, large = rng.normal(size=(LOCAL_1D_ROWS, 1)), rng.normal(size=(5000, 1))
    assert local_bandwidth(small) == local_bandwidth(small, n_neighbors=LOCAL_NEIGHBORS_1D)
    grown = round(LOCAL_NEIGHBORS_1D * 5**0.8)  # 108
    assert local_bandwidth(large) == local_bandwidth(large, n_neighbors=grown)
    assert local_bandwidth(large) > 3 * local_bandwidth(large, n_neighbors=LOCAL_NEIGHBORS_1D)
    wide = rng.normal(size=(5000, 2))
    assert local_bandwidth(wide) == local_bandwidth(wide, n_neighbors=LOCAL_NEIGHBORS)


def test_far_out_distances_are_left_out_of_the_local_scale():
    """50 rows 1,000 times the spread away from 5,000 points: their distances to their neighbors made
    the mean (a bandwidth 25 times the data's, and MeanShift joined four blobs into two); beyond the
    far-out fence they are left out, and the scale is the data's."""
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score

    import shiftkit.bandwidth as bandwidth_module
    from shiftkit import MeanShift

    X, y = make_blobs(n_samples=5000, centers=4, n_features=2, cluster_std=1.0, random_state=10)
    far = np.vstack([X, np.random.default_rng(24).uniform(-1000, 1000, size=(50, 2))])
    clean = local_bandwidth(X)
    assert local_bandwidth(far) == pytest.approx(clean, rel=0.01)
    fitted = MeanShift().fit(far)
    assert adjusted_rand_score(y, fitted.labels_[:5000]) > 0.99
    # without the fence: the outliers' distances make the scale
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bandwidth_module, "FAR_OUT_IQR", np.inf)
        assert local_bandwidth(far) > 10 * clean
        assert local_bandwidth(X) == clean  # nothing of the clean sample was far out
