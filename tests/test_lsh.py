"""LSHIndex: the neighbor protocol, recall against exact search on low-rank data, its knobs, its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shiftkit.neighbors import ExactIndex, LSHIndex


def _low_rank(n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(30, 4))
    Z = centers[rng.integers(0, 30, n)] + rng.normal(size=(n, 4))
    M = rng.normal(size=(4, 48)) / 2
    return torch.from_numpy((Z @ M + 0.01 * rng.normal(size=(n, 48))).astype(np.float32))


def _recall(found: torch.Tensor, truth: torch.Tensor) -> float:
    return float(
        np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found.tolist(), truth.tolist(), strict=True)])
    )


def test_recall_on_low_rank_data_and_exact_distances():
    data = _low_rank(20_300)
    X, Q = data[:20_000], data[20_000:]  # queries held out, drawn like the data
    lsh = LSHIndex().fit(X)
    dist, idx = lsh.kneighbors(Q, 10)
    _, truth = ExactIndex().fit(X).kneighbors(Q, 10)
    assert _recall(idx, truth) >= 0.95
    # the distances reported are the exact distances of the rows reported, nearest first
    ref = (X[idx] - Q[:, None, :]).square().sum(-1).sqrt()
    torch.testing.assert_close(dist, ref, rtol=1e-5, atol=1e-5)
    assert bool((dist.diff(dim=1) >= 0).all())


def test_more_tables_and_probes_raise_recall():
    data = _low_rank(20_300, seed=2)
    X, Q = data[:20_000], data[20_000:]
    _, truth = ExactIndex().fit(X).kneighbors(Q, 10)
    low = _recall(LSHIndex(n_tables=2, n_probes=1, bucket_size=16).fit(X).kneighbors(Q, 10)[1], truth)
    high = _recall(LSHIndex(n_tables=16, n_probes=8).fit(X).kneighbors(Q, 10)[1], truth)
    assert high > low + 0.1


def test_fitted_rows_exclude_themselves_and_radius_is_a_subset_of_exact():
    X = _low_rank(5_000)
    lsh = LSHIndex(n_tables=8, n_probes=4, bucket_size=16).fit(X)
    _, idx = lsh.kneighbors(None, 5)
    assert not bool((idx == torch.arange(len(X))[:, None]).any())
    radius = 1.0
    approx = lsh.radius_neighbors(X[:200], radius)
    exact = ExactIndex().fit(X).radius_neighbors(X[:200], radius)
    for i in range(200):
        a = set(approx.indices[approx.offsets[i] : approx.offsets[i + 1]].tolist())
        e = set(exact.indices[exact.offsets[i] : exact.offsets[i + 1]].tolist())
        assert a <= e  # approximate: may miss, never invents
    found = approx.offsets[-1].item() / max(1, exact.offsets[-1].item())
    assert found > 0.9
    d = approx.distances
    assert bool((d <= radius).all())


def test_same_seed_same_index():
    X = _low_rank(3_000)
    a = LSHIndex(random_state=3).fit(X).kneighbors(X[:50], 5)[1]
    b = LSHIndex(random_state=3).fit(X).kneighbors(X[:50], 5)[1]
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"n_tables": 0}, "n_tables must be an integer >= 1"),
        ({"n_probes": 1.5}, "n_probes must be an integer >= 1"),
        ({"bucket_width": -1.0}, "bucket_width must be > 0"),
        ({"rerank": 0}, "rerank must be an integer >= 1"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        LSHIndex(**params)


def test_too_many_neighbors():
    with pytest.raises(ValueError, match="only 9 data rows"):
        LSHIndex().fit(_low_rank(10)).kneighbors(None, 10)


def test_mean_shift_knn_engine_over_an_lsh_index():
    from shiftkit import MeanShift

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=6, size=(5, 4))
    X = (centers[rng.integers(0, 5, 6000)] + rng.normal(size=(6000, 4))) @ rng.normal(size=(4, 32)) / 2
    seeds = X[:150]
    exact = MeanShift(bandwidth=6.0, kernel="flat", algorithm="standard", seeds=seeds).fit(X)
    lsh = MeanShift(
        bandwidth=6.0, kernel="flat", algorithm="standard", seeds=seeds, neighbor_index=LSHIndex()
    ).fit(X)
    assert lsh.engine_ == "knn"
    assert len(lsh.cluster_centers_) == len(exact.cluster_centers_)
    np.testing.assert_allclose(
        np.sort(lsh.cluster_centers_, 0), np.sort(exact.cluster_centers_, 0), atol=0.05
    )
    with pytest.raises(ValueError, match="serves the standard algorithm"):
        MeanShift(bandwidth=6.0, algorithm="blurring", neighbor_index=LSHIndex()).fit(X[:500])
    with pytest.raises(ValueError, match="neighbor_index is for the knn engine"):
        MeanShift(bandwidth=6.0, engine="dense", algorithm="standard", neighbor_index=LSHIndex()).fit(X[:500])


def test_lsh_index_refuses_what_it_cannot_index_in_one_line():
    # issue 21, item 22: a ZeroDivisionError on an empty fit, AttributeError on numpy, torch.cat() on no query
    import numpy as np
    import pytest
    import torch

    from shiftkit.neighbors import LSHIndex

    with pytest.raises(ValueError, match="at least one row"):
        LSHIndex().fit(torch.zeros(0, 2))
    with pytest.raises(TypeError, match="takes a torch tensor"):
        LSHIndex().fit(np.zeros((5, 2)))
    dist, idx = LSHIndex().fit(torch.randn(50, 2)).kneighbors(torch.zeros(0, 2), 3)
    assert dist.shape == idx.shape == (0, 3)
