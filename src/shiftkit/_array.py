"""Input checks and conversion: lists, numpy, pandas and torch in; tensors to work on; numpy out.

Arrays that are not torch tensors go through scikit-learn's ``check_array``, so
bad input gets the messages scikit-learn users know ("Input X contains NaN.").
Torch tensors are checked here and stay on their device: a CUDA tensor is never
copied to the host just to be validated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.utils import check_array
from torch import Tensor

__all__ = [
    "as_tensor",
    "check_finite",
    "check_non_numeric_columns",
    "from_checked_numpy",
    "resolve_device",
    "resolve_dtype",
    "to_numpy",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(dtype: Any) -> torch.dtype:
    """``'float32'``, ``'float64'``, their numpy or torch forms -> a torch float dtype."""
    if isinstance(dtype, torch.dtype) and dtype in (torch.float32, torch.float64):
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name in _DTYPES:
        return _DTYPES[name]
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")


def resolve_device(device: Any) -> torch.device:
    """``None`` -> CUDA when torch sees it, else CPU; strings and devices pass through."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"invalid device {device!r}: {exc}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {str(device)!r}: torch sees no CUDA GPU here; "
                "compute on the CPU (device='cpu', --device cpu)"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device {str(device)!r}: torch sees no MPS device here; "
            "compute on the CPU (device='cpu', --device cpu)"
        )
    return resolved


def check_non_numeric_columns(X: Any, name: str = "X") -> None:
    """Raise a TypeError naming the non-numeric columns of a DataFrame."""
    columns, dtypes = getattr(X, "columns", None), getattr(X, "dtypes", None)
    if columns is None or dtypes is None:
        return
    from pandas.api.types import is_numeric_dtype  # pandas is installed if X is a DataFrame

    bad = [str(c) for c, dt in zip(columns, dtypes) if not is_numeric_dtype(dt)]
    if bad:
        raise TypeError(f"{name} has non-numeric columns: {bad}")


def _check_tensor(X: Tensor, name: str) -> None:
    if X.is_meta:
        raise ValueError(f"{name} is a meta tensor (a shape without values); pass a tensor that holds data")
    if X.layout != torch.strided:
        raise TypeError(f"{name} is a sparse tensor ({X.layout}); pass a dense one, e.g. {name}.to_dense()")
    if X.is_complex() or X.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got a tensor of {X.dtype}")
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array for {name}, got a {X.ndim}D tensor of shape "
            f"{tuple(X.shape)}. Reshape your data, e.g. with X.reshape(-1, 1) for one feature."
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: 0 samples (shape={tuple(X.shape)})")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has 0 features (shape={tuple(X.shape)})")
    if X.is_floating_point():
        check_finite(X, name)


def check_finite(X: Tensor | np.ndarray, name: str = "X") -> None:
    """Raise a ValueError naming the first NaN or infinite entry of a 2-D array."""
    bad = ~(torch.isfinite(X) if isinstance(X, Tensor) else np.isfinite(X))
    if bool(bad.any()):
        row, col = (int(i) for i in (bad.nonzero()[0] if isinstance(X, Tensor) else np.argwhere(bad)[0]))
        kind = "NaN" if bool(X[row, col] != X[row, col]) else "infinity"
        raise ValueError(f"Input {name} contains {kind} (first at row {row}, column {col}).")


def as_tensor(
    X: Any,
    *,
    name: str = "X",
    dtype: Any = torch.float32,
    device: Any = None,
) -> Tensor:
    """Check ``X`` and return it as a 2-D tensor of ``dtype`` on ``device``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        A list of lists, numpy array, pandas DataFrame or torch tensor of real
        numbers, finite, with at least one sample and one feature.
    name : str
        The name used in error messages.
    dtype : str or dtype, default=torch.float32
    device : str or torch.device, optional
        ``None`` keeps a tensor's device and puts other input on the default
        device (CUDA when torch sees it, else CPU).

    Returns
    -------
    Tensor of shape (n_samples, n_features)

    Raises
    ------
    ValueError
        Wrong number of dimensions, no samples or no features, NaN or infinity.
    TypeError
        Non-numeric values or columns, complex numbers, sparse matrices.
    """
    dtype = resolve_dtype(dtype)
    if isinstance(X, Tensor):
        X = X.detach()  # clustering is not differentiated: no autograd graph, no warnings about one
        _check_tensor(X, name)
        target = X.device if device is None else resolve_device(device)
        return X.to(device=target, dtype=dtype)
    check_non_numeric_columns(X, name)
    array = check_array(X, dtype=[np.float64, np.float32], input_name=name, ensure_all_finite=False)
    check_finite(array, name)
    return from_checked_numpy(array, dtype=dtype, device=device)


def from_checked_numpy(array: np.ndarray, *, dtype: Any, device: Any) -> Tensor:
    """A validated 2-D numpy array as a tensor of ``dtype`` on ``device`` (None: the default device)."""
    if not array.flags.writeable:  # torch cannot wrap read-only memory
        array = array.copy()
    return torch.from_numpy(np.ascontiguousarray(array)).to(
        device=resolve_device(device), dtype=resolve_dtype(dtype)
    )


def to_numpy(t: Tensor) -> np.ndarray:
    """A tensor as a numpy array on the host."""
    return t.detach().cpu().numpy()
