"""Clusters cut apart in the data's neighbor graph: shiftkit.cluster._cuts, and the layouts that use it."""

import numpy as np
import pytest

import shiftkit.cluster._cuts as cuts
import shiftkit.cluster._saddles as _saddles
from shiftkit import MeanShift, QuickShift
from shiftkit.cluster._cuts import CutGraph, DataGraph, cut_ratios, merge_uncut


def _graph(sizes: list[int], share: dict[tuple[int, int], int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Groups of ``sizes`` points; each point of group g lists ``share[g, h]`` points of group h among its
    ``k`` neighbors, its own group's for the rest. Returns the group of each point and the neighbors."""
    group = np.repeat(np.arange(len(sizes)), sizes)
    members = [np.flatnonzero(group == g) for g in range(len(sizes))]
    neighbors = np.empty((len(group), k), dtype=np.int64)
    for i, g in enumerate(group):
        listed = [members[h][:count] for (f, h), count in share.items() if f == g]
        own = members[g][members[g] != i]
        listed.append(own[: k - sum(len(a) for a in listed)])
        neighbors[i] = np.concatenate(listed)
    return group, neighbors


def test_the_cut_ratio_is_the_edges_between_over_the_smaller_sides_edges():
    group, neighbors = _graph([20, 40], {(0, 1): 1, (1, 0): 1}, k=5)
    # 20 + 40 edges between the two, over the smaller one's 20 points x 5 edges
    np.testing.assert_allclose(cut_ratios(group, neighbors, 2), [[0.0, 0.6], [0.6, 0.0]])


def test_a_cluster_of_no_more_points_than_neighbors_is_not_measured():
    group, neighbors = _graph([5, 40], {(0, 1): 1, (1, 0): 1}, k=5)  # five points: four others at most
    assert (cut_ratios(group, neighbors, 2) == 0).all()


def test_clusters_not_cut_apart_merge_into_the_highest_peak():
    # basins 0 and 1 are one cluster (top 1), basin 2 another (top 2), basin 3 a third; 20 points each
    target = np.array([1, 1, 2, 3])
    peak = np.array([0.0, 5.0, 7.0, 1.0])
    basin = np.repeat([0, 1, 2, 3], 20)
    cluster = np.array([0, 0, 1, 2])[basin]  # the graph's groups: the clusters' points
    apart_graph = _graph([40, 20, 20], {}, k=5)[1]
    np.testing.assert_array_equal(merge_uncut(target, peak, DataGraph(basin, CutGraph(apart_graph))), target)
    # the first two share 2 of 5 edges each way (a ratio of 1.2): one cluster, topped by basin 2's peak
    _, shared = _graph([40, 20, 20], {(0, 1): 2, (1, 0): 2}, k=5)
    assert cut_ratios(cluster, shared, 3)[0, 1] > cuts.CUT_FRACTION
    np.testing.assert_array_equal(merge_uncut(target, peak, DataGraph(basin, CutGraph(shared))), [2, 2, 2, 3])
    # a chain: the third shares with the second only, and still joins the first through it
    _, chain = _graph([40, 20, 20], {(0, 1): 2, (1, 0): 2, (1, 2): 2, (2, 1): 2}, k=5)
    assert cut_ratios(cluster, chain, 3)[0, 2] == 0
    np.testing.assert_array_equal(merge_uncut(target, peak, DataGraph(basin, CutGraph(chain))), [2, 2, 2, 2])


def test_clusters_merged_are_measured_again_against_the_rest():
    """A and B share 3 and 2 of 10 edges (0.5: they merge); each shares 1 of 10 with C both ways (0.2:
    not merged in one pass), but A and B together share 0.4 of C's edges: one cluster in the end."""
    sizes = [40, 40, 40]
    share = {(0, 1): 3, (1, 0): 2, (0, 2): 1, (2, 0): 1, (1, 2): 1, (2, 1): 1}
    basin, neighbors = _graph(sizes, share, k=10)
    ratios = cut_ratios(basin, neighbors, 3)
    np.testing.assert_allclose([ratios[0, 1], ratios[0, 2], ratios[1, 2]], [0.5, 0.2, 0.2])
    merged_ab = np.where(basin == 2, 1, 0)
    assert cut_ratios(merged_ab, neighbors, 2)[0, 1] == pytest.approx(0.4)
    target, peak = np.array([0, 1, 2]), np.array([3.0, 2.0, 1.0])
    graph = DataGraph(basin, CutGraph(neighbors))
    np.testing.assert_array_equal(merge_uncut(target, peak, graph), [0, 0, 0])
    assert len(np.unique(cuts._merge_once(target, peak, graph))) == 2  # one pass


def test_clusters_joined_in_the_sample_graph_are_not_cut_apart():
    """Two groups of 40 points apart in the graph of every point (1 of 10 edges each way: 0.2), but the first
    30 of each, the sample, share 4 of 10 edges in the sample's own graph (0.8): one cluster."""
    basin, neighbors = _graph([40, 40], {(0, 1): 1, (1, 0): 1}, k=10)
    order = np.r_[0:30, 40:70, 30:40, 70:80]  # the sample first, as the laid-out rows are
    rank = np.argsort(order)
    basin, neighbors = basin[order], rank[neighbors[order]]
    sample_group, sample = _graph([30, 30], {(0, 1): 4, (1, 0): 4}, k=10)
    assert (basin[:60] == sample_group).all()
    target, peak = np.array([0, 1]), np.array([2.0, 1.0])
    assert cut_ratios(basin, neighbors, 2)[0, 1] == pytest.approx(0.2)
    np.testing.assert_array_equal(merge_uncut(target, peak, DataGraph(basin, CutGraph(neighbors))), [0, 1])
    with_sample = DataGraph(basin, CutGraph(neighbors, sample))
    np.testing.assert_array_equal(merge_uncut(target, peak, with_sample), [0, 0])


def test_a_large_layout_is_cut_apart_in_the_graph_of_a_sample(monkeypatch):
    """20,000 rows of a cloud with no clusters (Student's t, 32 correlated features), laid out on all of
    them (a least cluster of 40 rows asked): the whole graph keeps four torn pieces apart, the graph of
    the first 4,000 laid-out rows does not."""
    from shiftkit.cluster import _spaces

    rng = np.random.default_rng(0)
    A = rng.normal(size=(32, 32)) * np.geomspace(10.0, 0.1, 32)[:, None]
    X = rng.standard_t(3, size=(20_000, 32)) @ A
    X = (X - X.mean(0)) / X.std(0)
    sampled = []
    real = _spaces.knn_of_distinct
    monkeypatch.setattr(_spaces, "knn_of_distinct", lambda G, *a: sampled.append(G.shape[0]) or real(G, *a))
    qs = QuickShift(min_cluster_size=40).fit(X)
    assert len(qs.embedding_rows_) == 10_000 and sampled == [10_000, cuts.CUT_SAMPLE_ROWS]
    assert len(np.unique(qs.labels_)) == 1
    monkeypatch.setattr(_spaces, "CUT_SAMPLE_ROWS", 10**9)  # no sample: the whole graph only
    monkeypatch.setattr(_saddles, "_one_if_it_outlives", lambda levels, counts, level: level)  # nor one's run
    assert len(np.unique(QuickShift(min_cluster_size=40).fit(X).labels_)) > 1


def _correlated_cloud(n: int, d: int, seed: int) -> np.ndarray:
    """One Gaussian of correlated, z-scored features: no clusters, many principal axes above chance."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * np.geomspace(3.0, 0.3, d)[:, None]
    X = rng.normal(size=(n, d)) @ A
    return (X - X.mean(0)) / X.std(0)


@pytest.mark.parametrize("estimator", [QuickShift, MeanShift], ids=["QuickShift", "MeanShift"])
def test_a_cloud_torn_by_the_layout_is_one_cluster(estimator, monkeypatch):
    X = _correlated_cloud(1000, 64, seed=0)
    est = estimator().fit(X)
    assert est.space_ == "graph-layout"
    assert len(np.unique(est.labels_)) == 1
    monkeypatch.setattr(cuts, "CUT_FRACTION", np.inf)  # no cut test: the layout's pieces are clusters
    monkeypatch.setattr(
        _saddles, "_one_if_it_outlives", lambda levels, counts, level: level
    )  # (nor one's run)
    assert len(np.unique(estimator().fit(X).labels_)) > 1


def test_the_clusters_by_level_in_a_layout_are_what_each_level_keeps():
    X = _correlated_cloud(1000, 64, seed=0)
    est = QuickShift().fit(X)
    for i in (0, len(est.levels_) // 2):
        kept = QuickShift(prominence=float(est.levels_[i])).fit(X).labels_
        assert len(np.unique(kept)) == est.n_clusters_by_level_[i]


def test_most_joined_is_the_largest_ratio_and_refuses_what_it_cannot_measure():
    group, neighbors = _graph([20, 40, 30], {(0, 1): 1, (1, 0): 1, (2, 1): 2}, k=5)
    ratios = cut_ratios(group, neighbors, 3)
    assert cuts.most_joined(group, neighbors) == pytest.approx(ratios.max())
    assert ratios.max() > 0 and ratios[0, 2] == 0
    assert cuts.most_joined(np.zeros(40, dtype=np.int64), neighbors[:40] % 40) == 0.0  # one cluster
    small, near = _graph([5, 40], {(0, 1): 1, (1, 0): 1}, k=5)  # five points: not measured
    assert cuts.most_joined(small, near) == np.inf


def test_noise_points_are_in_no_cluster_when_the_cut_is_measured():
    """Two clusters that share no edge, and a group of noise points (-1, ``cluster_all=False``) between
    them that lists points of both: cut apart (0). Taken as a third cluster (the rival layout's tie check
    did so), the noise points' edges joined it to both."""
    group, neighbors = _graph([30, 30, 20], {(2, 0): 2, (2, 1): 2, (0, 2): 1, (1, 2): 1}, k=5)
    labels = np.where(group == 2, -1, group)
    assert cuts.most_joined(labels, neighbors) == 0.0
    assert cuts.most_joined(group, neighbors) > 0.1  # the noise as a cluster of its own
    few = labels.copy()
    few[5:30] = -1  # a cluster of five points besides its noise: not measured
    assert cuts.most_joined(few, neighbors) == np.inf


def test_one_cluster_is_the_answer_where_it_outlives_every_split():
    from shiftkit.cluster._saddles import _one_if_it_outlives

    levels = np.geomspace(0.1, 0.9, 40)
    torn = np.array([7] * 3 + [1] * 37)  # a uniform cloud of 2,000 rows in 32 features: 7 at the lowest
    assert _one_if_it_outlives(levels, torn, levels[1]) == levels[21]  # the middle of the run of one
    kept = np.array([2] * 8 + [1] * 32)  # uci/sonar
    assert _one_if_it_outlives(levels, kept, levels[3]) == levels[23]
    clusters = np.array([1] * 2 + [2] * 36 + [1] * 2)  # g2mg_32_30: the two clusters live longer
    assert _one_if_it_outlives(levels, clusters, levels[19]) == levels[19]
    tie = np.array([3] * 20 + [1] * 20)  # half a step at each end: 19.5 against 19.5, the split kept
    assert _one_if_it_outlives(levels, tie, levels[9]) == levels[9]
    assert _one_if_it_outlives(levels, np.array([4] * 40), levels[5]) == levels[5]


def _uniform_cloud(n: int, d: int, spectrum: tuple[float, float], seed: int) -> np.ndarray:
    """A uniform cloud in ``d`` correlated, z-scored features (bench_highdim --cuts's)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d)) * np.geomspace(*spectrum, d)[:, None]
    X = rng.uniform(size=(n, d)) @ A
    return (X - X.mean(0)) / X.std(0)


def test_uniform_clouds_the_layout_tears_at_a_few_levels_are_one_cluster(monkeypatch):
    """Uniform clouds of 2,000 rows in 20 and 32 features, torn into 3, 3, 2 and 7 pieces by the layouts
    (AMD EPYC; layouts differ by processor) at a few levels, one cluster at most of the others: one
    cluster each, by the run of one cluster."""
    chosen = []
    real = _saddles._one_if_it_outlives
    monkeypatch.setattr(
        _saddles,
        "_one_if_it_outlives",
        lambda lv, c, level: chosen.append(real(lv, c, level) != level) or real(lv, c, level),
    )
    for d, spectrum in ((20, (3.0, 0.3)), (32, (10.0, 0.1))):
        for seed in (0, 1):
            qs = QuickShift().fit(_uniform_cloud(2000, d, spectrum, seed))
            assert qs.space_ == "graph-layout" and len(np.unique(qs.labels_)) == 1
    assert sum(chosen) >= 2  # the rule decided at least two of them (all four on an AMD EPYC)
