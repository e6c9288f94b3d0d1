import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from shiftkit import MeanShift, QuickShift
from shiftkit.neighbors import (
    ExactIndex,
    FaissIndex,
    GridIndex,
    TreeIndex,
    faiss_available,
    knn_graph,
    make_index,
    partitioned_kneighbors,
)
from shiftkit.neighbors._graph import mutual_mask

INDEXES = {
    "grid": lambda: GridIndex(n_neighbors=8),
    "exact": lambda: ExactIndex(memory_budget=2**16),  # small budget: many chunks
    "tree": TreeIndex,
    "faiss": FaissIndex,
}


def _data(d, rng, n=700):
    X = rng.normal(size=(n, d)) * np.array([1.0, 50.0, 0.02])[:d]
    X[:20] = X[20:40]  # exact duplicates
    X[40:60, 0] = np.round(X[40:60, 0], 1)  # ties on one axis
    return X


@pytest.mark.parametrize("name", sorted(INDEXES))
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 7, 30])
def test_kneighbors_agree_with_sklearn(name, d, k, rng):
    if name == "faiss" and not faiss_available():
        pytest.skip("faiss not installed")
    X = _data(d, rng)
    index = INDEXES[name]().fit(torch.from_numpy(X))
    # the fitted rows, each one's own entry left out
    dist, idx = index.kneighbors(None, k)
    ref_dist, _ = NearestNeighbors(n_neighbors=k).fit(X).kneighbors()
    tol = 1e-3 if name == "faiss" else 1e-9  # faiss works in float32
    np.testing.assert_allclose(dist.numpy(), ref_dist, rtol=tol, atol=tol)
    assert (idx.numpy() != np.arange(len(X))[:, None]).all()
    # new queries, some far outside the data
    Y = rng.normal(size=(50, d)) * 30
    dist, idx = index.kneighbors(torch.from_numpy(Y), k)
    ref_dist, _ref_idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(Y)
    np.testing.assert_allclose(dist.numpy(), ref_dist, rtol=tol, atol=tol)
    # the indices point at rows at those distances (ties may order differently)
    np.testing.assert_allclose(
        np.linalg.norm(X[idx.numpy()] - Y[:, None], axis=-1), ref_dist, rtol=tol, atol=tol
    )


def test_grid_index_of_one_repeated_point_and_too_many_neighbors():
    X = torch.ones(10, 2, dtype=torch.float64)
    dist, idx = GridIndex().fit(X).kneighbors(None, 9)
    assert (dist == 0).all() and sorted(idx[0].tolist()) == list(range(1, 10))
    with pytest.raises(ValueError, match="only 9 data rows"):
        GridIndex().fit(X).kneighbors(None, 10)
    with pytest.raises(ValueError, match="n_neighbors must be >= 1"):
        ExactIndex().fit(X).kneighbors(X, 0)
    with pytest.raises(ValueError, match="at most 3 features"):
        GridIndex().fit(torch.zeros(5, 4))


def test_make_index_chooses_the_grid_in_low_dimension_and_brute_force_above(rng):
    assert isinstance(make_index(torch.from_numpy(rng.normal(size=(100, 2)))), GridIndex)
    assert isinstance(make_index(torch.from_numpy(rng.normal(size=(100, 8)))), ExactIndex)
    # cells too many to number: scikit-learn's trees instead
    X = rng.normal(size=(100, 3))
    X[0] = 1e300
    assert isinstance(make_index(torch.from_numpy(X)), TreeIndex)


def test_mutual_mask_compiled_and_torch_agree_with_the_definition(rng):
    idx = torch.from_numpy(NearestNeighbors(n_neighbors=6).fit(rng.normal(size=(300, 2))).kneighbors()[1])
    expected = np.array([[i in set(idx[j].tolist()) for j in row.tolist()] for i, row in enumerate(idx)])
    np.testing.assert_array_equal(mutual_mask(idx).numpy(), expected)
    # the device path (torch, chunked), run on the CPU through a tiny budget
    n, k = idx.shape
    out = torch.empty((n, k), dtype=torch.bool)
    for start in range(0, n, 7):
        block = idx[start : start + 7]
        own = torch.arange(start, start + block.shape[0])
        out[start : start + 7] = (idx[block] == own[:, None, None]).any(-1)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_knn_graph_is_symmetric_where_mutual(rng):
    X = torch.from_numpy(rng.normal(size=(400, 2)))
    graph = knn_graph(X, 10)
    assert graph.indices.shape == (400, 10) and graph.n_neighbors == 10
    edges = {(i, int(j)) for i in range(400) for j, m in zip(graph.indices[i], graph.mutual[i]) if m}
    assert all((j, i) in edges for i, j in edges)
    assert (graph.distances[:, 1:] >= graph.distances[:, :-1]).all()


@pytest.mark.parametrize("offset", [1e2, 1e3, 1e4])
def test_exact_index_on_float32_far_from_the_origin(offset):
    # issue 21, item 7: ranked by the float32 expansion, 35% of neighbors were wrong at 100, 98% at 1e3
    X = (offset + np.random.RandomState(0).rand(500, 2)).astype(np.float32)
    dist, idx = ExactIndex().fit(torch.from_numpy(X)).kneighbors(None, 5)
    X64 = X.astype(np.float64)
    D = ((X64[:, None, :] - X64[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    ref = np.argsort(D, axis=1, kind="stable")[:, :5]  # ties to the lower index, as scikit-learn's brute
    np.testing.assert_array_equal(idx.numpy(), ref)
    np.testing.assert_allclose(dist.numpy(), np.sqrt(np.take_along_axis(D, ref, 1)), rtol=1e-6)
    queries = torch.from_numpy(X[:7] + np.float32(0.01))
    _, found = ExactIndex().fit(torch.from_numpy(X)).kneighbors(queries, 3)
    Dq = ((queries.numpy().astype(np.float64)[:, None, :] - X64[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(found.numpy(), np.argsort(Dq, axis=1, kind="stable")[:, :3])


@pytest.mark.parametrize("radius", [1e3, 1e30, np.inf])
def test_a_radius_wider_than_the_data_finds_every_row(radius):
    # issue 21, item 7: GridIndex found 0 neighbors with r = 1e30 or inf and ran over 60 s with r = 1e3;
    # LSHIndex with r = inf gave neighbors to the wrong queries
    from shiftkit.neighbors import LSHIndex

    X = torch.from_numpy(np.random.default_rng(0).normal(size=(300, 2)))
    for index in (GridIndex(), ExactIndex(), LSHIndex()):
        everyone = index.fit(X).radius_neighbors(X[:5], radius)
        assert everyone.offsets.tolist() == [0, 300, 600, 900, 1200, 1500], type(index).__name__
        for q in range(5):
            rows = everyone.indices[everyone.offsets[q] : everyone.offsets[q + 1]]
            assert sorted(rows.tolist()) == list(range(300))
            d = everyone.distances[everyone.offsets[q] : everyone.offsets[q + 1]]
            assert bool((d[1:] >= d[:-1]).all()) and float(d[0]) == 0.0  # nearest first: the query itself
        others = index.radius_neighbors(None, radius)
        assert int(others.offsets[-1]) == 300 * 299  # each row's neighbors leave the row itself out


def test_grid_neighbors_on_degenerate_data_and_far_outliers():
    """Two points, a line in the plane, far outliers: the grid k-NN once spent minutes in its rings."""
    rng = np.random.default_rng(0)
    assert QuickShift().fit([[1.0, 2.0], [1.0, 3.0]]).labels_.tolist() == [0, 0]
    line = np.c_[rng.normal(size=3000), np.zeros(3000)]
    far = np.vstack([rng.normal(size=(3000, 2)), [[1e4, 1e4], [1e4 + 1, 1e4], [1e4, 1e4 + 1]]])
    from shiftkit.neighbors import ExactIndex, GridIndex

    for X in (line, far):
        X_t = torch.as_tensor(X)
        grid = GridIndex(n_neighbors=20).fit(X_t).kneighbors(None, 20)[0]
        exact = ExactIndex().fit(X_t).kneighbors(None, 20)[0]
        np.testing.assert_allclose(grid.numpy(), exact.numpy(), rtol=1e-9)


# -- cell coordinates beyond int64 -------------------------------------------------------------


def test_cells_refuse_coordinates_beyond_int64():
    from shiftkit.neighbors.cells import Cells

    X = torch.tensor([[0.0], [1e19], [1e19 + 1e4]], dtype=torch.float64)
    with pytest.raises(ValueError, match="overflow 64-bit integers"):
        Cells(X, 1.0)
    with pytest.raises(ValueError, match=r"bandwidth=1 is below what float64 resolves.*larger bandwidth$"):
        MeanShift(algorithm="binned", bandwidth=1.0, dtype="float64").fit(X.numpy())
    # where the cells fit, distinct points stay apart
    ms = MeanShift(algorithm="binned", bandwidth=1.0, dtype="float64").fit([[0.0], [1e12], [1e12 + 1e4]])
    assert len(ms.cluster_centers_) == 3


def _blobs(rng, n, d=8, centers=12):
    C = rng.normal(scale=6.0, size=(centers, d))
    return torch.as_tensor(C[rng.integers(0, centers, n)] + rng.normal(size=(n, d)), dtype=torch.float32)


def test_partitioned_search_finds_nearly_all_the_exact_neighbors(rng):
    X, Y = _blobs(rng, 4000), _blobs(rng, 1500)
    k = 10
    d_exact, i_exact = ExactIndex().fit(X).kneighbors(Y, k)
    d, i = partitioned_kneighbors(X, Y, k, cell_size=64, n_probe=16)
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(i.numpy(), i_exact.numpy())])
    assert recall > 0.95  # 0.96 on these blobs; 0.9999 on the embedding mixture (bench_highdim.py)
    # the distances are those of the rows found, nearest first, and none beats the exact search
    torch.testing.assert_close(d, (X[i] - Y[:, None, :]).square().sum(-1).sqrt(), rtol=1e-5, atol=1e-5)
    assert bool((d[:, 1:] >= d[:, :-1]).all())
    assert bool((d >= d_exact - 1e-5).all())
    # fewer probes search fewer cells: the recall falls, so the cells are what is searched
    _, few = partitioned_kneighbors(X, Y, k, cell_size=64, n_probe=1)
    assert np.mean([len(set(a) & set(b)) / k for a, b in zip(few.numpy(), i_exact.numpy())]) < recall


def test_partitioned_search_is_exact_with_few_cells_and_checks_k(rng):
    X, Y = _blobs(rng, 500), _blobs(rng, 50)
    d, i = partitioned_kneighbors(X, Y, 5, cell_size=64, n_probe=16)  # 7 cells <= 16 probes
    d_exact, i_exact = ExactIndex().fit(X).kneighbors(Y, 5)
    torch.testing.assert_close(i, i_exact)
    torch.testing.assert_close(d, d_exact)
    with pytest.raises(ValueError, match="k must be between 1 and the number of rows"):
        partitioned_kneighbors(X, Y, 501)


@pytest.mark.parametrize("d", [1, 2])
def test_grid_neighbors_of_far_outliers_agree_with_sklearn(d, rng):
    """Rows 1,000 times the data's spread away: their rings of cells run far before they meet a
    neighbor (in one feature the cells walked grow as the square of the rings), and the search scans
    every row instead; the answer is the exact one."""
    X = np.vstack([rng.normal(size=(3000, d)), rng.uniform(-1000, 1000, size=(30, d))])
    dist, idx = GridIndex().fit(torch.from_numpy(X)).kneighbors(None, 10)
    ref_dist, _ = NearestNeighbors(n_neighbors=10).fit(X).kneighbors()
    np.testing.assert_allclose(dist.numpy(), ref_dist, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        np.linalg.norm(X[idx.numpy()] - X[:, None], axis=-1), ref_dist, rtol=1e-9, atol=1e-9
    )


def test_a_query_scans_the_rows_once_the_cells_walked_outnumber_them():
    """In one feature each ring walks its whole cube: after 200 rings 40,000 cells (more than the 20,000
    allowed and the 3,000 rows), though no ring alone holds more than 401."""
    from shiftkit.neighbors._grid_kernels import scan_instead

    walked = sum(2 * r + 1 for r in range(200))
    assert walked == 40_000 and scan_instead(200, 1, walked, 3000)
    assert not scan_instead(100, 1, sum(2 * r + 1 for r in range(100)), 3000)  # 10,000 cells walked
    assert not scan_instead(100, 1, 40_000, 50_000)  # fewer cells walked than rows to scan
    assert scan_instead(71, 2, 0, 10**6)  # a ring of 143^2 cells alone
