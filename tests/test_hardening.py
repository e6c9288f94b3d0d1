"""Regression tests of issue 11: the wrong answers and tracebacks found by trying bad input."""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import MeanShift as SkMeanShift
from sklearn.metrics import adjusted_rand_score

from shiftkit import MeanShift, QuickShift

CENTERS = [[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]]


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    return np.asarray(CENTERS)[y] + 0.7 * rng.standard_normal((120, 2)), y


# -- 1, 2: the frame (centered and scaled in float64 before any cast) ---------------------------


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


# -- 6: exact ties, as scikit-learn counts them ----------------------------------------------------


def test_exact_ties_as_scikit_learn():
    X = np.array([[-2], [-2], [-2], [2], [3], [1], [-3]], dtype=np.float64)
    ours = MeanShift(
        bandwidth=1, kernel="flat", algorithm="standard", assign_labels="nearest", dtype="float64"
    )
    np.testing.assert_array_equal(np.sort(ours.fit(X).cluster_centers_.ravel()), [-2.25, 2.0])


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


# -- 8: weights at the ends of float32 -------------------------------------------------------------


@pytest.mark.parametrize("weight", [1e-50, 1e-45, 1e38, 1e300])
def test_weights_are_relative(blobs, weight):
    X, _ = blobs
    ref = MeanShift(bandwidth=1.0).fit(X)
    ms = MeanShift(bandwidth=1.0).fit(X, sample_weight=np.full(len(X), weight))
    np.testing.assert_array_equal(ms.labels_, ref.labels_)
    np.testing.assert_allclose(ms.cluster_centers_, ref.cluster_centers_, atol=1e-5)
    np.testing.assert_allclose(ms.cluster_densities_, ref.cluster_densities_ * weight, rtol=1e-4)


# -- 14, 15: constant data, few distinct values, dtypes ---------------------------------------------


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


# -- 3: cell coordinates beyond int64 ---------------------------------------------------------------


def test_cells_refuse_coordinates_beyond_int64():
    from shiftkit.neighbors._cells import Cells

    X = torch.tensor([[0.0], [1e19], [1e19 + 1e4]], dtype=torch.float64)
    with pytest.raises(ValueError, match="overflow 64-bit integers"):
        Cells(X, 1.0)
    with pytest.raises(ValueError, match=r"bandwidth=1 is below what float64 resolves.*larger bandwidth$"):
        MeanShift(algorithm="binned", bandwidth=1.0, dtype="float64").fit(X.numpy())
    # where the cells fit, distinct points stay apart
    ms = MeanShift(algorithm="binned", bandwidth=1.0, dtype="float64").fit([[0.0], [1e12], [1e12 + 1e4]])
    assert len(ms.cluster_centers_) == 3


# -- 4, 5, 7, 13: files and the CLI ---------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shiftkit", "cluster", *args], capture_output=True, text=True, timeout=300
    )


def test_bad_files_are_one_line_errors(tmp_path):
    from shiftkit.io import load_data

    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf1,2\n3,4\n5,6\n")
    np.testing.assert_array_equal(load_data(bom)[0], [[1, 2], [3, 4], [5, 6]])  # the first row is data
    wide = tmp_path / "wide.csv"
    wide.write_text("1,2\n" + "0" * 200_000 + "1,3\n")  # a field over csv's 131,072-character limit
    np.testing.assert_array_equal(load_data(wide)[0], [[1, 2], [1, 3]])
    np.save(tmp_path / "complex.npy", np.array([[1 + 2j, 3], [4, 5j]]))
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 2)})
    (tmp_path / "lie.npy").write_bytes(buf.getvalue() + b"\0" * 64)  # a header that claims 16 TB
    (tmp_path / "zero.npy").write_bytes(b"")
    (tmp_path / "folder.csv").mkdir()
    np.save(tmp_path / "ok.npy", np.random.default_rng(0).normal(size=(30, 2)))
    cases = [
        (["complex.npy"], "holds complex numbers (complex128)"),
        (["lie.npy"], "is damaged: its header says shape (1000000000000, 2)"),
        (["zero.npy"], "is not a .npy file"),
        (["folder.csv"], "is a folder, not a data file"),
        (["missing.csv"], "no such file"),
        (
            ["ok.npy", "--device", "cuda"]
            if not torch.cuda.is_available()
            else ["ok.npy", "--device", "cuda:99"],
            "device 'cuda",
        ),
    ]
    for args, message in cases:
        result = _cli(str(tmp_path / args[0]), *args[1:], "--out", str(tmp_path / "out"))
        assert result.returncode == 1, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) <= 2 and lines[0].startswith("error:"), (args, result.stderr)
        assert message in " ".join(lines), (args, result.stderr)
    result = _cli(
        str(tmp_path / "ok.npy"), "--bandwidth", "1e200", "--out", str(tmp_path / "out"), "--no-plot"
    )
    assert result.returncode == 0 and "1 clusters in 30 points" in result.stdout, result.stderr


# -- 8, 9: API input and parameter types ------------------------------------------------------------


def test_tensors_sparse_and_with_grad(blobs):
    X, _ = blobs
    with pytest.raises(TypeError, match="sparse tensor"):
        MeanShift(bandwidth=1.0).fit(torch.tensor(X).to_sparse())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ms = MeanShift(bandwidth=1.0).fit(torch.tensor(X, requires_grad=True))
    assert len(ms.cluster_centers_) == 3


def test_device_that_is_not_there_is_a_value_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        MeanShift(device="cuda").fit([[0.0], [1.0]])


def test_parameter_types_are_the_same_everywhere(blobs):
    from shiftkit import shift

    X, _ = blobs
    MeanShift(bandwidth=np.float32(1.0), tol=np.float32(1e-3), max_iter=np.int64(300)).fit(X)
    MeanShift(bandwidth=1.0, memory_budget=np.int64(2**20), n_jobs=np.int64(1)).fit(X)
    shift(X, X, bandwidth=np.float32(1.0), memory_budget=np.int64(2**20))
    for bad in (True, 1.5, 0):
        with pytest.raises(ValueError, match="memory_budget must be a positive number of bytes"):
            shift(X, X, bandwidth=1.0, memory_budget=bad)
        with pytest.raises(ValueError, match="memory_budget must be a positive number of bytes"):
            MeanShift(bandwidth=1.0, memory_budget=bad).fit(X)


def test_save_animation_checks_fps(tmp_path, blobs):
    from shiftkit.plot import animate, save_animation

    X, _ = blobs
    anim = animate(MeanShift(bandwidth=1.0, record_history=True).fit(X))
    for fps in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="fps must be a number of frames per second"):
            save_animation(anim, tmp_path / "a.gif", fps=fps)
    assert not list(tmp_path.iterdir())
    save_animation(anim, tmp_path / "a.gif", fps=2.5)
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]


# -- 15: n_jobs, get_bin_seeds ----------------------------------------------------------------------


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


# -- 17: the memory budget is an upper bound ---------------------------------------------------------

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
