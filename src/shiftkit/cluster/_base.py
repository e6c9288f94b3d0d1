"""What every shiftkit estimator repeats: input checks, feature bookkeeping, centering, shared rules.

An estimator declares its parameters' constraints as a table of
`shiftkit._validation` rules (checked by ``check_params`` in ``fit``), and
inherits `TensorInputMixin` for its input: validation, ``n_features_in_`` and
``feature_names_in_``, and centering in float64 before the cast.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from numbers import Integral
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
    to_numpy,
)
from shiftkit._rows import RoundedColumns, Snap
from shiftkit._validation import Rule, integer_at_least, number_in

# Rules every estimator's table shares.
MEMORY_BUDGET_RULE = integer_at_least(1, "a positive number of bytes")
N_JOBS_RULE = Rule(
    lambda v: isinstance(v, Integral) and not isinstance(v, bool) and int(v) != 0,
    "a nonzero integer (-1: every core)",
).or_none()
PROMINENCE_RULE = number_in(0, 1, low_open=True, high_open=True, wording="a number in (0, 1)").or_none()


@contextlib.contextmanager
def cpu_threads(n_jobs: int | None) -> Iterator[None]:
    """Run the block with ``n_jobs`` CPU threads in torch (and numba, when loaded); restore them after.

    None leaves the settings alone; -1 is every core, -2 all but one, as in
    scikit-learn.
    """
    if n_jobs is None:
        yield
        return
    cores = os.cpu_count() or 1
    n = int(n_jobs) if n_jobs > 0 else max(1, cores + 1 + int(n_jobs))
    before = torch.get_num_threads()
    numba = sys.modules.get("numba")
    numba_before = numba.get_num_threads() if numba is not None else None
    torch.set_num_threads(n)
    if numba is not None:
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        torch.set_num_threads(before)
        if numba is not None and numba_before is not None:
            numba.set_num_threads(numba_before)


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

    def _validate_framed(
        self, X: Any, *, reset: bool, dtype: torch.dtype | None = None
    ) -> tuple[Tensor, Frame]:
        """``X`` checked, centered and scaled in float64, then cast (to ``dtype``, default the
        computation's): ``(X_c, frame)``, ``X_c = frame.to(X, dtype)``.

        Centering before the cast keeps float32 exact for data far from the
        origin (1e6 + 0.01 * noise loses every digit of the noise in float32);
        scaling keeps squared distances of data at 1e-30 or 1e30 from
        underflowing or overflowing.
        """
        X64, input_dtype = self._validate_X64(X, reset=reset)
        frame = self._frame_for(X64, input_dtype)
        return frame.to(X64, dtype), frame

    def _frame_for(self, X64: Tensor, input_dtype: torch.dtype, weights: Tensor | None = None) -> Frame:
        """The frame of ``X64`` (weighted mean and spread): computing in ``dtype`` (None: the input's);
        results in float32 when both the input and the computation are, else in float64 (float64 data at
        1e39 have float64 centers, whatever precision the steps ran in)."""
        compute = self._compute_dtype(input_dtype)
        output = torch.float32 if compute == input_dtype == torch.float32 else torch.float64
        return Frame.fit(X64, weights, compute=compute, output=output)

    def _validate_X64(self, X: Any, *, reset: bool) -> tuple[Tensor, torch.dtype]:
        """``X`` checked, as float64 on the estimator's device; and its float dtype (float64 for others)."""
        input_dtype = torch.float64
        if isinstance(X, Tensor):
            if X.dtype == torch.float32:
                input_dtype = torch.float32
        elif getattr(X, "dtype", None) == np.float32:
            input_dtype = torch.float32
        return self._validate_X(X, reset=reset, dtype=torch.float64), input_dtype

    def _compute_dtype(self, input_dtype: torch.dtype) -> torch.dtype:
        """The estimator's ``dtype``; None: the input's."""
        return input_dtype if self.dtype is None else resolve_dtype(self.dtype)


# Relative resolution of the origin of a frame: the mean is rounded to a multiple of 2^-16 of the
# data's root-mean-square spread (and of the unit in the last place of the largest coordinate), so that
# centering subtracts exactly: integer data stay integer-spaced, and gaps equal to the bandwidth stay
# equal to it (a point at exactly the bandwidth counts as scikit-learn counts it).
ORIGIN_BITS = 16
# Below this magnitude, the sum of the squares of a billion coordinates cannot overflow float64.
_NO_OVERFLOW = 1e149
# Rows per block when moving data into a frame.
_FRAME_ROWS = 16384


@dataclass(frozen=True)
class Frame:
    """Where an estimator computes: ``X_c = (X - origin) / scale`` in float64, then cast to ``dtype``.

    ``origin`` is the data's mean rounded to a coarse binary grid (the
    subtraction is exact for data on that grid); ``scale`` is a power of two near
    the root-mean-square spread (division and multiplication by it are exact),
    so that ``X_c`` has a spread near 1 whatever the data's magnitude and offset.

    ``snap`` (`snapped`): the coordinates are then also taken in units of the rows' own spread and
    rounded to a grid (`shiftkit._rows.Snap`), in float64 before the cast: the same numbers, bit for
    bit, for the data scaled by any factor, so that exact ties are broken the same way at every scale.
    `unit` is what one coordinate is in the input's units either way.

    ``rounded`` (`spread`): the values of columns rounded to a coarse grid moved over their grid cells
    (`shiftkit._rows.RoundedColumns`), in the frame's float64 coordinates, before the snap.
    """

    origin: Tensor  # (d,), float64
    scale: float
    dtype: torch.dtype  # the computation's
    output: torch.dtype  # the results' (the input's float dtype)
    snap: Snap | None = None
    rounded: RoundedColumns | None = None

    @property
    def unit(self) -> float:
        """One unit of the frame's coordinates in the input's units: ``scale``, times the snap's unit."""
        return self.scale if self.snap is None else self.scale * self.snap.unit

    def snapped(self, X_c: Tensor, rows: Tensor | None = None) -> tuple[Frame, Tensor]:
        """This frame with its coordinates snapped (`Snap`) to the spread of the rows ``X_c`` (n, d), the
        frame's float64 coordinates of the data (of its rows ``rows`` only, where given); and ``X_c``
        snapped, in place."""
        fitted = X_c if rows is None else X_c[rows]
        snap = Snap.fit(fitted.detach().cpu().numpy())
        return replace(self, snap=snap), snap.tensor_(X_c)

    def spread(self, X_c: Tensor, rows: Tensor | None = None) -> tuple[Frame, Tensor]:
        """This frame with the rounded columns of the rows ``X_c`` (n, d), the frame's float64 coordinates
        of the data (of its rows ``rows`` only, where given), spread over their cells
        (`shiftkit._rows.RoundedColumns`); and ``X_c`` spread, in place. The frame as it is where no
        column is rounded."""
        fitted = X_c if rows is None else X_c[rows]
        rounded = RoundedColumns.fit(fitted.detach().cpu().numpy())
        if rounded is None:
            return self, X_c
        return replace(self, rounded=rounded), rounded.spread_(X_c)

    @classmethod
    def fit(
        cls, X64: Tensor, weights: Tensor | None = None, *, compute: torch.dtype, output: torch.dtype
    ) -> Frame:
        """The frame of ``X64`` (n, d), float64; ``weights`` (n,), float64, positive, optional."""
        lo, hi = torch.aminmax(X64, dim=0)
        largest = float(torch.maximum(lo.abs(), hi.abs()).max())
        if bool((lo == hi).all()):  # constant data: centered exactly at the point
            return cls(X64[0].clone(), power_of_two_near(largest), compute, output)
        if weights is None and largest < _NO_OVERFLOW:  # sums of squares cannot overflow: one pass each
            return cls.from_stats(
                X64.mean(0), float(X64.var(0, unbiased=False).mean()), largest, compute=compute, output=output
            )
        else:
            big = math.ldexp(0.5, math.frexp(largest)[1])  # |X / big| < 2: sums cannot overflow
            w = None if weights is None else (weights / weights.sum())[:, None]  # (n, 1)
            mean = (X64 / big).mean(0) if w is None else (w * (X64 / big)).sum(0)
            spread = (
                ((X64 / big - mean).square()).mean()
                if w is None
                else (w * (X64 / big - mean).square()).sum(0).mean()
            )
            mean, rms = mean * big, float(spread.sqrt()) * big
        return cls._from_mean_rms(mean, rms, largest, compute, output)

    @classmethod
    def from_stats(
        cls,
        mean: Tensor,
        mean_variance: float,
        largest: float,
        *,
        compute: torch.dtype,
        output: torch.dtype,
        constant: bool = False,
    ) -> Frame:
        """The frame from the data's statistics (e.g. combined from blocks held elsewhere): the mean per
        feature (float64), the mean over features of the variance, the largest absolute coordinate;
        ``constant``: every row is ``mean``."""
        if constant:
            return cls(mean.to(torch.float64).clone(), power_of_two_near(largest), compute, output)
        return cls._from_mean_rms(
            mean.to(torch.float64), math.sqrt(max(mean_variance, 0.0)), largest, compute, output
        )

    @classmethod
    def _from_mean_rms(
        cls, mean: Tensor, rms: float, largest: float, compute: torch.dtype, output: torch.dtype
    ) -> Frame:
        scale = 2.0 ** round(math.log2(rms)) if rms > 0 else power_of_two_near(largest)
        ulp = math.ulp(largest) if largest > 0 else 0.0
        step = max(2.0 ** (math.floor(math.log2(scale)) - ORIGIN_BITS), ulp)
        origin = torch.round(mean / step) * step  # step >= ulp(largest): mean / step <= 2^53
        return cls(origin, scale, compute, output)

    def to(self, T: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        """Input coordinates -> the frame's (in ``dtype``, default the computation's); in row blocks, so
        that the float64 temporaries stay small."""
        dtype = self.dtype if dtype is None else dtype
        T = T.to(self.origin.device)
        if T.ndim != 2 or T.shape[0] <= _FRAME_ROWS:
            return self._snap(self._spread(centered(T.to(torch.float64), self.origin, self.scale))).to(dtype)
        out = torch.empty(T.shape, dtype=dtype, device=T.device)
        for s in range(0, T.shape[0], _FRAME_ROWS):
            block = T[s : s + _FRAME_ROWS].to(torch.float64)
            out[s : s + _FRAME_ROWS] = self._snap(self._spread(centered(block, self.origin, self.scale)))
        return out

    def _spread(self, C: Tensor) -> Tensor:
        """The frame's float64 coordinates ``C`` (a fresh tensor) with its rounded columns spread, in
        place, where it spreads them."""
        return C if self.rounded is None else self.rounded.spread_(C)

    def _snap(self, C: Tensor) -> Tensor:
        """The frame's float64 coordinates ``C`` (a fresh tensor) snapped, in place, where it snaps."""
        return C if self.snap is None else self.snap.tensor_(C)

    def back(self, T: Tensor) -> Tensor:
        """The frame's coordinates -> the input's, in float64 (halved on the way for a scale of 1 or more:
        ``T * scale`` can pass float64's largest where the result does not)."""
        T = T.double()
        if self.snap is not None:  # the snapped coordinates -> the frame's own
            T = T * self.snap.unit + torch.as_tensor(self.snap.mean, dtype=torch.float64, device=T.device)
        if self.scale >= 1.0:
            return (T * (self.scale * 0.5) + self.origin * 0.5) * 2.0
        return T * self.scale + self.origin

    def out(self, T: Tensor) -> np.ndarray:
        """The frame's coordinates -> the input's, as a numpy array of the output dtype."""
        return to_numpy(self.back(T).to(self.output))


def power_of_two_near(largest: float) -> float:
    """A power of two in ``(largest / 2, largest]`` (1 for 0): the scale of constant data, and the unit
    weights are divided by (exact, and float32 then holds them). ``2 ** 1024`` would overflow."""
    return math.ldexp(0.5, math.frexp(largest)[1]) if largest > 0 else 1.0


def centered(X: Any, origin: Any, scale: float) -> Any:
    """``(X - origin) / scale`` for tensors or arrays, never overflowing on the way: a scale of 1 or more
    divides first (exact for a power of two), as ``X - origin`` can pass float64's largest (data near
    +-1.7e308) where the result does not."""
    if scale >= 1.0:
        return X / scale - origin / scale
    return (X - origin) / scale
