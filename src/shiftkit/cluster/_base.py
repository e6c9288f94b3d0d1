"""What every shiftkit estimator repeats: input checks, feature bookkeeping, centering, shared rules.

An estimator declares its parameters' constraints as a table of
`shiftkit._validation` rules (checked by ``check_params`` in ``fit``), and
inherits `TensorInputMixin` for its input: validation, ``n_features_in_`` and
``feature_names_in_``, and centering in float64 before the cast.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import validate_data
from torch import Tensor

from shiftkit._array import (
    as_tensor,
    check_finite,
    check_non_numeric_columns,
    from_checked_numpy,
    resolve_dtype,
)
from shiftkit._validation import integer_at_least, number_in

# Rules every estimator's table shares.
MEMORY_BUDGET_RULE = integer_at_least(1, "a positive number of bytes")
PROMINENCE_RULE = number_in(0, 1, low_open=True, high_open=True, wording="a number in (0, 1)").or_none()


class TensorInputMixin:
    """Input validation for estimators with ``device`` and ``dtype`` parameters.

    Torch tensors are checked where they are and stay on their device (unless
    ``device`` says otherwise); other input goes through scikit-learn's
    ``validate_data``, which also keeps ``n_features_in_`` and
    ``feature_names_in_``.
    """

    device: Any
    dtype: Any

    def _validate_X(self, X: Any, *, reset: bool, dtype: Any = None) -> Tensor:
        """``X`` checked, as a tensor of ``dtype`` (default: the estimator's) on the estimator's device."""
        dtype = resolve_dtype(self.dtype if dtype is None else dtype)
        if isinstance(X, Tensor):
            X_t = as_tensor(X, dtype=dtype, device=self.device)
            if reset:
                self.n_features_in_ = X_t.shape[1]
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_
            elif X_t.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X_t.shape[1]} features, but {type(self).__name__} "
                    f"is expecting {self.n_features_in_} features as input."
                )
            return X_t
        check_non_numeric_columns(X)
        array = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False)
        check_finite(array)
        return from_checked_numpy(array, dtype=dtype, device=self.device)

    def _validate_centerd(self, X: Any, *, reset: bool) -> tuple[Tensor, Tensor, float]:
        """``X`` checked, centerd and scaled in float64, then cast: ``(X_c, origin, scale)``.

        ``X = X_c * scale + origin``, ``X_c`` in ``dtype`` with a root mean
        square near 1. Centering before the cast keeps float32 exact for data far
        from the origin (1e6 + 0.01 * noise loses every digit of the noise in
        float32); scaling keeps squared distances of data at 1e-30 or 1e30 from
        underflowing or overflowing. The scale is a power of two, so that
        scaling back is exact.
        """
        X64 = self._validate_X(X, reset=reset, dtype=torch.float64)
        origin = X64.mean(0)  # (d,), float64
        centerd = X64 - origin
        rms = float(centerd.square().mean().sqrt())
        scale = 2.0 ** round(math.log2(rms)) if rms > 0 and math.isfinite(rms) else 1.0
        return (centerd / scale).to(resolve_dtype(self.dtype)), origin, scale
