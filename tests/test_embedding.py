import re
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from shiftkit.embedding import graph_layout, layout_graph, membership_graph, principal_axes
from shiftkit.embedding._layout import knn_of_distinct
from shiftkit.embedding._spectral import spectral_start


def test_parallel_analysis_counts_the_signal_axes():
    rng = np.random.default_rng(0)
    signal = np.repeat([[5.0, 5.0], [5.0, -5.0], [-5.0, 5.0], [-5.0, -5.0]], 200, axis=0)  # in a plane
    X = np.concatenate([signal, np.zeros((800, 8))], 1) + rng.normal(size=(800, 10))
    X = X @ np.linalg.qr(rng.normal(size=(10, 10)))[0]  # the plane is no pair of features
    axes = principal_axes(X)
    assert axes.n_signal == 2
    np.testing.assert_allclose(axes.axes.T @ axes.axes, np.eye(10), atol=1e-10)
    assert (np.diff(axes.variances) <= 1e-12).all()
    Z = axes.project(torch.as_tensor(X), 3).numpy()
    np.testing.assert_allclose(Z, (X - X.mean(0)) @ axes.axes[:, :3], atol=1e-10)
    assert principal_axes(rng.normal(size=(800, 10))).n_signal == 0  # pure noise: nothing stands out


def test_principal_axes_do_not_depend_on_the_sign_convention_of_the_solver():
    X = np.random.default_rng(2).normal(size=(300, 5)) * [5, 4, 3, 2, 1]
    a, b = principal_axes(X), principal_axes(-X + 7)
    np.testing.assert_allclose(np.abs(a.axes), np.abs(b.axes), atol=1e-8)
    assert (a.axes[np.abs(a.axes).argmax(0), range(5)] > 0).all()  # the largest loading positive


@pytest.mark.slow
def test_membership_matches_umap():
    umap_ = pytest.importorskip("umap.umap_")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    distances, indices = knn_of_distinct(torch.as_tensor(X), 14, 2**26)
    # umap counts each point among its own neighbors, at distance 0
    knn_d = np.concatenate([np.zeros((300, 1)), distances], 1).astype(np.float32)
    knn_i = np.concatenate([np.arange(300)[:, None], indices], 1)
    reference, _, _ = umap_.fuzzy_simplicial_set(
        X, 15, 0, "euclidean", knn_indices=knn_i, knn_dists=knn_d, set_op_mix_ratio=0.5
    )
    W = membership_graph(distances, indices)
    assert (W != W.T).nnz == 0
    np.testing.assert_allclose(W.toarray(), reference.toarray(), atol=2e-5)


def _two_cliques(n: int) -> sp.csr_matrix:
    A = np.zeros((2 * n, 2 * n))
    A[:n, :n] = A[n:, n:] = 1.0
    np.fill_diagonal(A, 0.0)
    A[0, n] = A[n, 0] = 0.01  # a weak bridge
    return sp.csr_matrix(A)


def test_spectral_start_separates_weakly_joined_groups_and_spans_ten():
    W = _two_cliques(20)
    start = spectral_start(W, 2, np.zeros((40, 3)))
    assert start.min() == 0.0 and np.isclose(start.max(0), 10.0).all()
    first = start[:, 0]
    assert first[:20].max() < first[20:].min() or first[20:].max() < first[:20].min()
    np.testing.assert_array_equal(start, spectral_start(W, 2, np.zeros((40, 3))))


def test_spectral_start_gives_up_on_a_crowded_spectrum_early(monkeypatch):
    """Many clusters that barely touch crowd the Laplacian's eigenvalues near 0 and eigsh never
    converges: the start falls back to the principal coordinates after `EIGSH_MAX_RESTARTS` restarts, not
    5 n (887,439 products, 114 s, for 300 clusters of 30,000 embeddings). The graph is the layout's
    own: 100 clusters of 10,000 embeddings, 4,000 rows laid out (its largest component needed 55,274
    products before it gave up)."""
    import scipy.sparse.linalg as sla

    from shiftkit import QuickShift
    from shiftkit.datasets import make_embedding_mixture
    from shiftkit.embedding import _spectral

    calls = []
    eigsh = sla.eigsh

    def counting(L, k, **kw):
        products = [0]

        def matvec(v):
            products[0] += 1
            return L @ v

        try:
            return eigsh(sla.LinearOperator(L.shape, matvec=matvec, dtype=L.dtype), k, **kw)
        except sla.ArpackNoConvergence:
            calls.append(("gave up", products[0], kw["ncv"]))
            raise
        finally:
            if not calls or calls[-1][1] != products[0]:
                calls.append(("converged", products[0], kw["ncv"]))

    monkeypatch.setattr(sla, "eigsh", counting)
    X, y = make_embedding_mixture(10_000, n_clusters=100, random_state=0)
    labels = QuickShift().fit(X).labels_
    gave_up = [c for c in calls if c[0] == "gave up"]
    assert gave_up, calls  # the crowded component was met
    for _, products, ncv in gave_up:  # a restart takes at most ncv products
        assert products <= (_spectral.EIGSH_MAX_RESTARTS + 1) * ncv <= 5_000
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, labels) > 0.9  # 0.944: 83 clusters (the least cluster, 50 rows, merges)


def test_spectral_start_places_components_by_their_data():
    W = sp.block_diag([_two_cliques(10)[:10, :10]] * 3).tocsr()  # three cliques, no edges between
    coordinates = np.repeat([[0.0], [1.0], [10.0]], 10, axis=0)
    start = spectral_start(W, 1, coordinates)
    means = [start[i : i + 10, 0].mean() for i in (0, 10, 20)]
    assert abs(means[0] - means[1]) < abs(means[1] - means[2])  # near in the data: near at the start


def test_layout_is_deterministic_and_keeps_clusters_apart():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(150, 10)), rng.normal(size=(150, 10)) + 8.0])
    distances, indices = knn_of_distinct(torch.as_tensor(X, dtype=torch.float32), 14, 2**26)
    W = membership_graph(distances, indices)
    Y = layout_graph(W, X, n_components=2, n_epochs=200)
    np.testing.assert_array_equal(Y, layout_graph(W, X, n_components=2, n_epochs=200))
    a, b = Y[:150], Y[150:]
    within = max(np.linalg.norm(a - a.mean(0), axis=1).mean(), np.linalg.norm(b - b.mean(0), axis=1).mean())
    assert np.linalg.norm(a.mean(0) - b.mean(0)) > 4 * within
    assert not np.array_equal(Y, layout_graph(W, X, n_components=2, n_epochs=200, seed=1))


def test_layouts_side_by_side_are_the_layouts_of_their_seeds_in_any_threads():
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(150, 10)), rng.normal(size=(150, 10)) + 8.0])
    distances, indices = knn_of_distinct(torch.as_tensor(X, dtype=torch.float32), 14, 2**26)
    W = membership_graph(distances, indices)
    runs = layout_graph(W, X, n_components=2, n_epochs=100, seed=3, runs=3, threads=3)
    assert runs.shape == (300, 6)
    for r in range(3):  # each from the same start (not from the run before), with its own seed
        np.testing.assert_array_equal(
            runs[:, 2 * r : 2 * r + 2], layout_graph(W, X, n_components=2, n_epochs=100, seed=3 + r)
        )
    np.testing.assert_array_equal(
        runs, layout_graph(W, X, n_components=2, n_epochs=100, seed=3, runs=3, threads=1)
    )


def test_graph_layout_is_equivariant_to_row_order_and_gives_equal_rows_equal_places():
    rng = np.random.default_rng(5)
    X = np.concatenate([rng.normal(size=(100, 8)), rng.normal(size=(100, 8)) + 6.0])
    X = np.concatenate([X, X[:10]])  # ten rows twice
    Y = graph_layout(X, n_epochs=100)
    np.testing.assert_array_equal(Y[200:], Y[:10])
    perm = rng.permutation(len(X))
    np.testing.assert_array_equal(graph_layout(X[perm], n_epochs=100), Y[perm])


def test_graph_layout_checks_its_input():
    with pytest.raises(ValueError, match="NaN"):
        graph_layout(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        graph_layout(np.zeros((5, 2)), n_components=0)
    np.testing.assert_array_equal(graph_layout(np.ones((4, 3))), np.zeros((4, 2)))  # one distinct row


def _two_blobs_graph(n: int = 150) -> tuple[sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(n, 10)), rng.normal(size=(n, 10)) + 8.0])
    distances, indices = knn_of_distinct(torch.as_tensor(X, dtype=torch.float32), 14, 2**26)
    return membership_graph(distances, indices), X


def test_the_layouts_epochs_called_in_parts_move_the_rows_as_one_call():
    from shiftkit.embedding import _sgd_kernels as k

    W, _ = _two_blobs_graph()
    edges = W.tocoo()
    head, tail = edges.row.astype(np.int64), edges.col.astype(np.int64)
    per_sample = edges.data.max() / edges.data
    start = np.random.default_rng(0).normal(size=(300, 2))
    whole = start.copy()
    k.optimize_epochs(whole, head, tail, per_sample, *k.layout_state(per_sample, 7), 0, 50, 50)
    parts = start.copy()
    state = k.layout_state(per_sample, 7)
    for first, last in ((0, 3), (3, 4), (4, 30), (30, 50)):
        k.optimize_epochs(parts, head, tail, per_sample, *state, first, last, 50)
    np.testing.assert_array_equal(parts, whole)
    assert not np.array_equal(whole, start)


def test_a_ctrl_c_during_the_layouts_stops_their_threads_at_their_next_call(monkeypatch):
    """Three layouts in three threads; SIGINT reaches the thread waiting for them after the first call of the
    loop: its KeyboardInterrupt propagates, and the threads stop well before their 20 calls each."""
    import signal
    import threading

    from shiftkit.embedding import _layout, _sgd_kernels

    W, X = _two_blobs_graph()
    real, calls = _sgd_kernels.optimize_epochs, []

    def probe(*args):
        calls.append(args[-3])
        if len(calls) == 1:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # Ctrl-C, to the waiting thread
        time.sleep(0.05)  # shorter than a call on real data (10 of 200 epochs of 17,889 rows: about 0.14 s)
        real(*args)

    monkeypatch.setattr(_sgd_kernels, "optimize_epochs", probe)
    # Python's own Ctrl-C handler, as the CLI installs its own: a background job (`make test &`, CI) inherits
    # SIGINT ignored, and Python then installs none
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            layout_graph(W, X, n_components=2, n_epochs=200, runs=3, threads=3)
    finally:
        signal.signal(signal.SIGINT, previous)
    epochs_per_call = _layout.CHUNK_EPOCHS
    assert 200 // epochs_per_call == 20 and len(calls) < 3 * 20 // 2  # stopped, not run to the end
    calls.clear()
    monkeypatch.setattr(_sgd_kernels, "optimize_epochs", lambda *a: calls.append(a[-3]) or real(*a))
    layout_graph(W, X, n_components=2, n_epochs=200, runs=3, threads=3)
    assert len(calls) == 3 * 20  # uninterrupted: every call made


def test_layout_loop_is_compiled_without_reassociation():
    """The layout was one of two from run to run on the same graph, start and seed (digits: 13 or 14
    clusters): with fastmath=True LLVM reordered the sums over the coordinates by where the scratch
    arrays happened to be allocated. The compiled loop must carry no reassociation flag."""
    import numba

    from shiftkit.embedding import _sgd_kernels

    options = _sgd_kernels.optimize_epochs.targetoptions
    assert options["fastmath"] == _sgd_kernels._clip.targetoptions["fastmath"]
    # the cached machine code cannot be inspected: the same function compiled afresh with its options
    fresh = numba.njit(fastmath=options["fastmath"])(_sgd_kernels.optimize_epochs.py_func)
    head = np.arange(29, dtype=np.int64)
    per_sample = np.ones(29)
    fresh(np.ones((30, 5)), head, head + 1, per_sample, *_sgd_kernels.layout_state(per_sample, 0), 0, 3, 3)
    ir = "\n".join(fresh.inspect_llvm().values())
    flags = set(re.findall(r"\b(?:fadd|fsub|fmul|fdiv) ((?:[a-z]+ )*)", ir))
    assert any("contract" in f for f in flags)  # fastmath is on, reassociation off
    assert not any("reassoc" in f or "fast" in f for f in flags), flags


def test_snapped_axes_are_the_same_directions_at_every_scale_where_variances_tie():
    """Two 5-D integer lattices: four principal variances tie exactly, and the eigenvectors within them are
    any rotation of each other. From the rows as given each scale's rounding picked its own (the old axes
    fail the check); from the rows snapped (`shiftkit._rows.Snap`) the same bits."""
    g = np.stack(np.meshgrid(*[np.arange(4.0)] * 5), -1).reshape(-1, 5)
    A = np.vstack([g, g + 6])
    A = A - A.mean(0)
    ref = principal_axes(A, snapped=True)
    assert ref.n_signal == 1 and np.allclose(ref.variances, [46.25] + [1.25] * 4)
    for scale in (1e-30, 3.0, 1e30):
        scaled = principal_axes(A * scale, snapped=True)
        np.testing.assert_array_equal(scaled.axes, ref.axes)
        np.testing.assert_allclose(scaled.variances, ref.variances * scale**2, rtol=1e-12)
        np.testing.assert_allclose(scaled.mean, ref.mean * scale, atol=1e-12 * scale)
    assert any(
        not np.array_equal(principal_axes(A * s).axes, principal_axes(A).axes) for s in (1e-30, 3.0, 1e30)
    )
