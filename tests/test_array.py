import warnings

import numpy as np
import pytest
import torch

from shiftkit import MeanShift
from shiftkit._array import as_tensor, resolve_device, resolve_dtype
from shiftkit._validation import check_bandwidth


def test_accepts_lists_numpy_and_tensors():
    ref = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    for X in ([[1, 2], [3, 4]], np.array([[1, 2], [3, 4]], dtype=np.int32), ref.double()):
        t = as_tensor(X, device="cpu")
        assert t.dtype == torch.float32
        torch.testing.assert_close(t, ref)


def test_readonly_array_is_not_shared():
    a = np.arange(6.0).reshape(3, 2)
    a.setflags(write=False)
    t = as_tensor(a, dtype="float64", device="cpu")
    t += 1
    assert a[0, 0] == 0.0


@pytest.mark.parametrize(
    ("X", "error", "match"),
    [
        (torch.zeros(3), ValueError, r"Expected a 2D array for X, got a 1D tensor of shape \(3,\)"),
        (torch.zeros(0, 2), ValueError, "X is empty: 0 samples"),
        (torch.zeros(2, 0), ValueError, "X has 0 features"),
        (torch.tensor([[1.0, float("nan")]]), ValueError, r"contains NaN \(first at row 0, column 1\)"),
        (
            torch.tensor([[1.0], [float("-inf")]]),
            ValueError,
            r"contains infinity \(first at row 1, column 0\)",
        ),
        (torch.zeros(2, 2, dtype=torch.complex64), TypeError, "must hold real numbers"),
        (torch.zeros(2, 2, dtype=torch.bool), TypeError, "must hold real numbers"),
        (np.array([[1.0, np.nan]]), ValueError, r"contains NaN \(first at row 0, column 1\)"),
    ],
)
def test_bad_arrays(X, error, match):
    with pytest.raises(error, match=match):
        as_tensor(X)


def test_sparse_is_refused():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="dense data is required"):
        as_tensor(sparse.csr_matrix(np.eye(3)))


@pytest.mark.parametrize("value", [0, -1.0, float("inf"), float("nan")])
def test_bandwidth_must_be_positive_and_finite(value):
    with pytest.raises(ValueError, match="bandwidth must be > 0 and finite"):
        check_bandwidth(value)


@pytest.mark.parametrize("value", [None, "2", True, [1.0]])
def test_bandwidth_must_be_a_number(value):
    with pytest.raises(TypeError, match="bandwidth must be a real number"):
        check_bandwidth(value)


def test_dtype_and_device_resolution():
    assert resolve_dtype("float64") is torch.float64
    assert resolve_dtype(np.float32) is torch.float32
    assert resolve_dtype(torch.float64) is torch.float64
    with pytest.raises(ValueError, match="dtype must be"):
        resolve_dtype("float16")
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    with pytest.raises(ValueError, match="invalid device 'toaster'"):
        resolve_device("toaster")


# -- API input and parameter types -------------------------------------------------------------


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
