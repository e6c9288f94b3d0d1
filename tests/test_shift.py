"""Every engine of `shift` against the plain reference, on one table of cases."""

import math
import shutil

import numpy as np
import pytest
import torch

from shiftkit import ENGINES, select_engine, shift
from shiftkit._shift import _fused, _grid, shift_tensors
from shiftkit.kernels import KERNELS, Kernel, get_kernel
from shiftkit.neighbors import ExactIndex


def plain_shift(Y, X, bandwidth, kernel, weights=None):
    """The lesson's broadcast formula in float64, the whole matrix at once (small inputs only)."""
    Y, X = torch.as_tensor(Y, dtype=torch.float64), torch.as_tensor(X, dtype=torch.float64)
    D = ((Y[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    W = get_kernel(kernel)(D, bandwidth)
    if weights is not None:
        W = W * torch.as_tensor(weights, dtype=torch.float64)
    den = W.sum(1)
    return W @ X / den[:, None], den


# How each engine is checked against the plain reference: the kernels it must match exactly
# (to float rounding). A registered engine missing here fails `test_every_engine_is_in_the_table`.
EXACT_ON = {
    "dense": "every kernel",
    "attention": "the Gaussian",
    "fused": "every built-in kernel",
    "numba_cuda": "the compact built-in kernels (numba's simulator here)",
    "grid": "the compact kernels; the truncated Gaussian has its own test",
    "knn": "the compact kernels; the Gaussian truncated to the k nearest has its own test",
}


def test_every_engine_is_in_the_table():
    assert set(EXACT_ON) == set(ENGINES), "a new engine must join the table (EXACT_ON)"


def runs_exactly(engine, kernel, d=2):
    """Whether ``engine`` takes ``kernel`` on CPU tensors here and claims the reference's result."""
    e, k = ENGINES[engine], get_kernel(kernel)
    probe = torch.zeros(1, d)
    exact = e.exact(k) or (engine == "knn" and k.compact)  # faiss's flat index is exact below 50,000
    return e.supports(probe, probe, k) and exact


def engines_for(kernel, d=2):
    """The engines that run ``kernel`` exactly on CPU tensors here."""
    return [e for e in ENGINES if runs_exactly(e, kernel, d)]


@pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None,
    reason="no C++ compiler here: the install falls back to the torch engines, as the README says",
)
def test_the_fused_engine_is_built():
    # pip install compiles it wherever a compiler is; a silent fallback would hide a broken build
    assert _fused.available()
    assert "fused" in engines_for("gaussian")


CASES = [  # (n_queries, n_data, n_features)
    (1, 1, 1),
    (37, 53, 1),
    (100, 257, 2),
    (65, 130, 3),
    (129, 71, 8),
    (33, 200, 64),
]


ENGINE_CASES = [  # every registered engine, on the cases and kernels it runs exactly
    pytest.param(engine, kernel, m, n, d, id=f"{engine}-{kernel}-{m}x{n}x{d}")
    for engine in sorted(ENGINES)
    for kernel in sorted(KERNELS)
    for m, n, d in CASES
    if runs_exactly(engine, kernel, d)
]


@pytest.mark.parametrize(("engine", "kernel", "m", "n", "d"), ENGINE_CASES)
@pytest.mark.parametrize("weighted", [False, True])
def test_engines_match_plain_reference(engine, kernel, m, n, d, weighted, rng):
    X = rng.normal(size=(n, d)) * 3
    Y = X[rng.integers(0, n, size=m)] + rng.normal(size=(m, d)) * 0.5  # queries near the data
    h = 1.5 * math.sqrt(d)
    w = rng.uniform(0.2, 3.0, size=n) if weighted else None
    ref_y, ref_den = plain_shift(Y, X, h, kernel, w)
    found = ref_den > 0
    for dtype, rtol in (("float64", 1e-9), ("float32", 2e-4)):
        y_new, den = shift(Y, X, h, kernel, w, engine=engine, dtype=dtype, memory_budget=4096)
        assert y_new.dtype == getattr(torch, dtype)
        tol = rtol * 3 * math.sqrt(d)
        torch.testing.assert_close(y_new.double()[found], ref_y[found], rtol=rtol, atol=tol)
        torch.testing.assert_close(den.double(), ref_den, rtol=rtol * 10, atol=rtol)
        # a query without data in the support stays where it is
        torch.testing.assert_close(y_new.double()[~found], torch.as_tensor(Y)[~found])


def test_dense_chunking_does_not_change_the_result(rng):
    X = rng.normal(size=(300, 3))
    full = shift(X, X, 0.7, "epanechnikov", engine="dense", dtype="float64")
    tiny = shift(X, X, 0.7, "epanechnikov", engine="dense", dtype="float64", memory_budget=1)
    for a, b in zip(full, tiny):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ["dense", "attention"])
def test_gaussian_tiny_bandwidth_does_not_underflow(engine):
    # exp(-d^2 / 2h^2) underflows for every pair; the engines factor the nearest point out.
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [100.0, 0.0]], dtype=torch.float64)
    Y = torch.tensor([[50.0, 0.0], [0.4, 0.0]], dtype=torch.float64)
    y_new, _ = shift(Y, X, 0.01, "gaussian", engine=engine, dtype="float64")
    assert bool(torch.isfinite(y_new).all())
    # the query at 0.4 is pulled to the nearest point, 0: exp(-(0.6^2 - 0.4^2) / 2e-4) ~ 0
    torch.testing.assert_close(y_new[1], torch.tensor([0.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(y_new[0], torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_selection_by_kernel_dimension_and_accuracy():
    k = get_kernel("gaussian")
    X = torch.randn(100, 2)
    assert select_engine(X, X, 1.0, k) == "fused"
    assert select_engine(X, X, 1.0, get_kernel("flat")) == "fused"
    wide = torch.randn(100, 32)
    assert select_engine(wide, wide, 1.0, k) == "attention"
    far = wide * 1e4  # spread / bandwidth = 1e4: float32 attention scores would lose every digit
    assert select_engine(far, far, 1.0, k) == "dense"
    assert select_engine(far.double(), far.double(), 1.0, k) == "attention"
    huge = torch.randn(10, 128)
    assert select_engine(huge, huge, 1.0, get_kernel("epanechnikov")) == "fused"
    assert select_engine(huge, torch.randn(60_000, 128), 1.0, get_kernel("epanechnikov")) == "knn"
    assert select_engine(huge, huge.double() * 1e4, 1.0, get_kernel("gaussian")) == "dense"
    custom = Kernel("mine", get_kernel("flat").profile, compact=True)
    assert select_engine(X, X, 1.0, custom) == "dense"


def test_auto_engine_stays_exact_for_wide_data(rng):
    X = rng.normal(size=(200, 2)) * 5e3
    y_auto, _ = shift(X, X, 1.0, "gaussian", dtype="float32")
    y_ref, _ = plain_shift(X, X, 1.0, "gaussian")
    torch.testing.assert_close(y_auto.double(), y_ref, rtol=0, atol=5e-3)


def test_zero_weights_are_ignored(rng):
    X = rng.normal(size=(50, 2))
    w = np.ones(50)
    w[10:20] = 0
    for engine in engines_for("gaussian"):
        a = shift(X, X, 1.0, "gaussian", w, engine=engine, dtype="float64")
        b = shift(X, X[w > 0], 1.0, "gaussian", engine=engine, dtype="float64")
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda X: shift(X, X, 0.0), ValueError, "bandwidth must be > 0"),
        (lambda X: shift(X, X, float("nan")), ValueError, "bandwidth must be > 0"),
        (lambda X: shift(X, X, "1"), TypeError, "bandwidth must be a real number"),
        (lambda X: shift(X[:, :1], X, 1.0), ValueError, r"same number of features.*\(5, 1\).*\(5, 2\)"),
        (lambda X: shift(X, X, 1.0, engine="magic"), ValueError, "unknown engine 'magic'"),
        (lambda X: shift(X, X, 1.0, "flat", engine="attention"), ValueError, "needs the Gaussian"),
        (lambda X: shift(X, X, 1.0, weights=[1, 2]), ValueError, r"sample_weight must have shape \(5,\)"),
        (lambda X: shift(X, X, 1.0, weights=-np.ones(5)), ValueError, "non-negative"),
        (lambda X: shift(X, X, 1.0, memory_budget=0), ValueError, "memory_budget"),
        (lambda X: shift(X[0], X, 1.0), ValueError, "Expected 2D array"),
    ],
)
def test_bad_input(call, error, match):
    X = np.arange(10.0).reshape(5, 2)
    with pytest.raises(error, match=match):
        call(X)


def test_shift_tensors_keeps_device_and_dtype():
    X = torch.randn(20, 3, dtype=torch.float64)
    y, den = shift_tensors(X, X, 1.0, get_kernel("triangular"))
    assert y.dtype == torch.float64 and den.shape == (20,) and y.device == X.device


CUDA_SIMULATOR_SCRIPT = """
import torch
from shiftkit._shift import _cuda, shift_tensors
from shiftkit.kernels import get_kernel

assert _cuda.simulated() and _cuda.available()
gen = torch.Generator().manual_seed(0)
checked = 0
for name in ("flat", "triangular", "epanechnikov"):
    k = get_kernel(name)
    for m, n, d in ((1, 1, 1), (130, 41, 2), (7, 30, 5)):  # 130 queries: two blocks of 128 threads
        X = torch.randn(n, d, generator=gen, dtype=torch.float64) * 2
        Y = torch.cat([X[:1] + 100.0, torch.randn(m - 1, d, generator=gen, dtype=torch.float64)])
        w = torch.rand(n, generator=gen, dtype=torch.float64) + 0.1
        for weights in (None, w):
            got = shift_tensors(Y, X, 1.7, k, weights, engine="numba_cuda")
            ref = shift_tensors(Y, X, 1.7, k, weights, engine="dense")
            for a, b in zip(got, ref):
                torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
            assert got[1][0] == 0 and torch.equal(got[0][0], Y[0])  # no data in reach: stays put
            checked += 1
print("checked", checked)
"""


@pytest.mark.slow
def test_numba_cuda_engine_on_the_simulator():
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CUDA_SIMULATOR_SCRIPT], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "checked 18" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["flat", "triangular", "epanechnikov", "gaussian"])
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_grid_torch_path_equals_compiled_path(kernel, d, rng):
    X = torch.from_numpy(rng.normal(size=(700, d)) * 4)
    w = torch.from_numpy(rng.uniform(0.5, 2.0, size=700))
    Y = X[:333] + 0.3
    k = get_kernel(kernel)
    for weights in (None, w):
        a = _grid.shift_grid(Y, X, 1.3, k, weights, 2**12, compiled=False)  # tiny budget: many chunks
        b = _grid.shift_grid(Y, X, 1.3, k, weights, 2**12, compiled=True)
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, rtol=1e-10, atol=1e-10)


def test_grid_gaussian_is_the_dense_gaussian_truncated(rng):
    X = torch.from_numpy(rng.normal(size=(3000, 2)) * 10)
    h = 1.5
    y_grid, den_grid = shift(X, X, h, "gaussian", engine="grid", dtype="float64")
    y_ref, den_ref = plain_shift(X, X, h, "gaussian")
    assert float((y_grid - y_ref).abs().max()) / h < 1e-3  # the documented 5.6e-4 bandwidths
    assert float(((den_grid - den_ref).abs() / den_ref).max()) < 5e-4
    assert bool((den_grid <= den_ref * (1 + 1e-12)).all())  # truncation only ever drops weight


def test_grid_refuses_what_it_cannot_do():
    X = torch.randn(10, 7)
    with pytest.raises(ValueError, match="at most 6 features"):
        shift(X, X, 1.0, "flat", engine="grid")
    wide = torch.tensor([[0.0], [1e30]], dtype=torch.float64)
    with pytest.raises(ValueError, match="cannot number the cells"):
        shift(wide, wide, 1e-10, "flat", engine="grid", dtype="float64")


def test_selection_takes_the_grid_for_large_sparse_steps():
    X = torch.rand(20_000, 2) * 1000  # 1000 x 1000 box, bandwidth 1: a query's cells hold ~0.001% of it
    assert select_engine(X, X, 1.0, get_kernel("flat")) == "grid"
    assert select_engine(X[:100], X, 1.0, get_kernel("flat")) == "fused"  # small step: no index
    assert select_engine(X, X, 1000.0, get_kernel("flat")) == "fused"  # every cell is a neighbor


@pytest.mark.parametrize("kernel", ["flat", "triangular", "epanechnikov"])
@pytest.mark.parametrize("neighbors", [5, 40, 1000])
def test_knn_engine_is_exact_for_compact_kernels(kernel, neighbors, rng):
    from shiftkit._shift import _knn

    X = torch.from_numpy(rng.normal(size=(600, 12)))
    w = torch.from_numpy(rng.uniform(0.5, 2.0, size=600))
    Y = X[:200] + 0.1
    k = get_kernel(kernel)
    for weights in (None, w):
        got = _knn.shift_knn(Y, X, 3.5, k, weights, 2**16, neighbors=neighbors)
        ref = plain_shift(Y, X, 3.5, kernel, weights)
        torch.testing.assert_close(got[0], ref[0], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(got[1], ref[1], rtol=1e-9, atol=1e-9)


def test_knn_gaussian_is_truncated_to_the_nearest(rng):
    from shiftkit._shift import _knn

    X = torch.from_numpy(rng.normal(size=(500, 10)) * 5)
    got = _knn.shift_knn(X, X, 1.0, get_kernel("gaussian"), None, 2**20, neighbors=500)
    ref = plain_shift(X, X, 1.0, "gaussian")
    torch.testing.assert_close(got[0], ref[0], rtol=1e-9, atol=1e-9)  # k = n: nothing truncated


def test_knn_backends_agree(rng, monkeypatch):
    from shiftkit._shift import _knn

    X = torch.from_numpy(rng.normal(size=(300, 9)))
    k = get_kernel("epanechnikov")
    assert _knn.backend() == "faiss"  # the dev install has the extra
    a = _knn.shift_knn(X, X, 2.5, k, None, 2**20, neighbors=20)
    monkeypatch.setattr(_knn, "faiss_available", lambda: False)
    assert _knn.backend() == "sklearn"
    b = _knn.shift_knn(X, X, 2.5, k, None, 2**20, neighbors=20)
    # any index will do: the engine consumes the protocol
    c = _knn.shift_knn(X, X, 2.5, k, None, 2**20, neighbors=20, index=ExactIndex().fit(X))
    torch.testing.assert_close(a[0], b[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(c[0], b[0], rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_knn_index_is_not_reused_for_new_data_at_a_freed_address():
    # The allocator hands a freed block to the next tensor of the same size; an index
    # cached by address would answer for the old data (it did: errors of 2.7 units).
    from shiftkit._shift import _knn

    k = get_kernel("flat")
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        X = torch.randn(2000, 10, generator=gen, dtype=torch.float64)
        got = _knn.shift_knn(X, X, 3.0, k, None, 2**22, neighbors=10)
        ref = plain_shift(X, X, 3.0, "flat")
        torch.testing.assert_close(got[0], ref[0], rtol=1e-9, atol=1e-9)
        del X, got


def test_knn_index_follows_in_place_changes():
    from shiftkit._shift import _knn

    X = torch.randn(300, 10, dtype=torch.float64)
    _knn.shift_knn(X, X, 3.0, get_kernel("flat"), None, 2**20, neighbors=10)
    X.mul_(0.5)
    got = _knn.shift_knn(X, X, 3.0, get_kernel("flat"), None, 2**20, neighbors=10)
    torch.testing.assert_close(got[0], plain_shift(X, X, 3.0, "flat")[0], rtol=1e-9, atol=1e-9)


class _ProbeIndex:
    """An exact index that records each fit (the engine copies it before fitting: the record is shared)."""

    fits: list[int] = []  # noqa: RUF012

    def __init__(self):
        from shiftkit.neighbors import ExactIndex

        self._index = ExactIndex()

    def fit(self, X):
        type(self).fits.append(X.shape[0])
        self._index.fit(X)
        return self

    def kneighbors(self, Y, n_neighbors):
        return self._index.kneighbors(Y, n_neighbors)

    def radius_neighbors(self, Y, radius):
        return self._index.radius_neighbors(Y, radius)


def test_the_knn_engine_carries_its_index():
    from shiftkit import MeanShift
    from shiftkit._shift import ENGINES, steps_over

    X = torch.randn(400, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    _ProbeIndex.fits.clear()
    engine = ENGINES["knn"].with_index(_ProbeIndex())
    step = steps_over(X, 1.5, get_kernel("flat"), engine=engine)
    assert _ProbeIndex.fits == [400]  # built once, over the fixed data
    torch.testing.assert_close(step(X[:50])[0], plain_shift(X[:50], X, 1.5, "flat")[0], rtol=1e-9, atol=1e-9)
    _ProbeIndex.fits.clear()
    fitted = MeanShift(bandwidth=1.5, kernel="flat", algorithm="standard", neighbor_index=_ProbeIndex()).fit(
        X
    )
    assert _ProbeIndex.fits and fitted.engine_ == "knn"
    with pytest.raises(ValueError, match="the dense engine builds no neighbor index"):
        ENGINES["dense"].with_index(_ProbeIndex())
