"""The merge tree of basins through saddles, and the choice of its level."""

import numpy as np
import pytest
import torch

from shiftkit.cluster._saddle_kernels import merge_pass, union_by_saddles
from shiftkit.cluster._saddles import (
    LEVELS,
    _longest_lived,
    choose_level,
    hill_climb,
    merge_at_level,
    merge_through_saddles,
    mode_tree,
)
from shiftkit.neighbors import knn_graph


def _line(density):
    """Points on a line, one apart, each the mutual neighbor of the next: a 1-D landscape."""
    n = len(density)
    X = torch.arange(n, dtype=torch.float64)[:, None]
    return X, torch.log(torch.as_tensor(density, dtype=torch.float64)), knn_graph(X, 2)


def test_union_by_saddles_follows_the_elder_rule():
    # basins 0 (peak 5), 1 (peak 3), 2 (peak 4); edges 1-2 at level 2.5, then 0-1 at level 1
    peak = np.array([5.0, 3.0, 4.0])
    saddle, elder = union_by_saddles(np.array([1, 0]), np.array([2, 1]), np.array([2.5, 1.0]), peak, 3)
    assert elder.tolist() == [-1, 2, 0]  # 1 dies into 2 (the higher); then 2's component dies into 0
    assert saddle.tolist() == [-np.inf, 2.5, 1.0]


def test_a_basin_dies_into_the_basin_it_touches_not_its_components_top():
    # basins 0 (peak 10) and 1 (peak 9) meet at level 5; basin 2 (peak 3) touches only basin 1, at level 2
    peak = np.array([10.0, 9.0, 3.0])
    saddle, elder = union_by_saddles(np.array([0, 1]), np.array([1, 2]), np.array([5.0, 2.0]), peak, 3)
    assert elder.tolist() == [-1, 0, 1]  # the top of 2's component at level 2 is 0; it touches 1
    # where 0 and 1 stay apart, 2 (shallow) merges into 1's cluster
    order = np.lexsort((peak, -saddle))
    target, merged = merge_pass(order, peak - saddle, elder, np.ones(3), 2.0, np.zeros(3))
    assert target.tolist() == [0, 1, 1] and merged.tolist() == [1.0, 2.0, 0.0]


def test_the_far_tail_of_the_lower_of_two_gaussians_stays_with_it():
    """Two Gaussians 3.5 standard deviations apart in one feature (1,024 rows each): the far tail of the
    one with the lower peak is a basin that meets the rest below the saddle between the two, where their
    component's top is the other's mode; it was labelled with that other cluster (71 rows beyond the
    lower one's, ARI 0.73). Sorted by the feature, the labels now change once."""
    from shiftkit import QuickShift

    rng = np.random.default_rng(1040)
    x = np.concatenate([rng.normal(500, 40 / np.sqrt(2), 1024), rng.normal(600, 40 / np.sqrt(2), 1024)])
    labels = QuickShift().fit(((x - x.mean()) / x.std())[:, None]).labels_
    runs = np.count_nonzero(np.diff(labels[np.argsort(x)]))
    assert len(np.unique(labels)) == 2 and runs == 1


def test_a_weak_cluster_follows_the_chain_of_weak_clusters_to_its_end():
    """A uniform sample of 1,000 points in one feature: five clusters at the level chosen, four within
    the noise of their saddles. A weak one joins the cluster its elder (the basin it touches) is in,
    which can be weak itself and lower, so the merges are followed to their end: one cluster. Taken
    highest peak first, one step each, a weak cluster stopped at a weak one merged after it (2
    clusters)."""
    from shiftkit import QuickShift

    X = np.random.default_rng(0).uniform(size=1000)
    assert len(np.unique(QuickShift().fit(X[:, None]).labels_)) == 1


def test_merge_pass_merges_the_shallow_and_the_small_into_their_elders():
    elder = np.array([-1, 0, 0, 2])
    height = np.array([np.inf, 0.1, 2.0, 3.0])  # peak - saddle
    size = np.array([10.0, 5.0, 5.0, 1.0])
    order = np.array([3, 1, 2, 0])  # highest saddle first
    target, merged = merge_pass(order, height, elder, size, 0.5, np.full(4, 2.0))
    assert target.tolist() == [0, 0, 2, 2]  # 1 is shallow, 3 is small
    assert merged.tolist() == [15.0, 0.0, 6.0, 0.0]


def test_a_1d_landscape_of_two_hills_gives_two_basins_and_their_saddle():
    density = [1, 2, 4, 8, 4, 2, 3, 6, 3, 1]  # peaks 8 (at 3) and 6 (at 7); saddle 2 (at 5)
    X, f, graph = _line(density)
    mode = hill_climb(f, graph)
    assert set(mode.tolist()) == {3, 7}
    tree, _basin = mode_tree(mode, f, graph, X)
    assert sorted(np.exp(tree.peak).round(6).tolist()) == [6.0, 8.0]
    low = int(np.argmin(tree.peak))
    assert np.exp(tree.saddle[low]) == pytest.approx(2.0)
    assert tree.prominence[low] == pytest.approx(1 - 2 / 6)
    # a level above the lower hill's prominence merges it; below keeps both
    assert len(np.unique(merge_at_level(tree, 0.7, 0)[0])) == 1
    assert len(np.unique(merge_at_level(tree, 0.6, 0)[0])) == 2


def test_merge_through_saddles_labels_points_by_their_hill():
    X, f, graph = _line([1, 2, 4, 8, 4, 2, 3, 6, 3, 1])
    merged = merge_through_saddles(hill_climb(f, graph), f, graph, X, prominence=0.5, min_cluster_size=0)
    assert merged.labels.tolist() == [0] * 5 + [1] * 5 or merged.labels.tolist() == [0] * 6 + [1] * 4
    assert merged.peak_points.tolist() == [3, 7]
    assert merged.counts.tolist() == [2]


def test_the_longest_run_wins_and_ties_go_to_fewer_clusters():
    assert _longest_lived(np.array([9, 9, 9, 5, 5, 5, 5, 2, 2])) == 4
    # equal lifetimes (the ends count half a step): the later, fewer clusters
    assert _longest_lived(np.array([7, 7, 7, 3, 3, 3, 1])) == 4
    assert _longest_lived(np.array([1, 1, 1])) is None


def test_choose_level_sweeps_lower_levels_only_when_the_main_sweep_sees_one_cluster():
    X, f, graph = _line([1, 2, 4, 8, 4, 2, 3, 6, 3, 1])
    tree, _ = mode_tree(hill_climb(f, graph), f, graph, X)
    level, levels, counts = choose_level(tree, 0)
    assert len(levels) == len(LEVELS) and counts.max() == 2
    # a barely separate second hill: only the low levels see it
    X, f, graph = _line([1, 2, 4, 8, 7.6, 7.9, 3, 1])  # prominence 1 - 7.6 / 7.9 = 0.04
    tree, _ = mode_tree(hill_climb(f, graph), f, graph, X)
    level, levels, counts = choose_level(tree, 0)
    assert len(levels) > len(LEVELS) and level < LEVELS[0]
