"""Parameter checks shared by every estimator and function: constraints as a table, not if-chains.

A rule names what a value must be ("a positive integer"); `check_params` reads
an estimator's table of rules and raises the same message for every parameter
of every estimator: ``"<name> must be <what>, got <value>"``. Integers and
reals are recognised by ``numbers.Integral`` / ``numbers.Real``, so numpy
scalars pass and ``True`` is not an integer here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "Rule",
    "check_bandwidth",
    "check_memory_budget",
    "check_params",
    "check_weights",
    "fraction_or_count",
    "integer_at_least",
    "number_in",
    "one_of",
]


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Rule:
    """What a parameter must be: a test and its wording (``"a positive integer"``)."""

    accepts: Callable[[Any], bool]
    wording: str
    allow_none: bool = False

    def check(self, name: str, value: Any) -> None:
        if value is None and self.allow_none:
            return
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.wording}, got {value!r}")

    def or_none(self) -> Rule:
        return Rule(self.accepts, f"None or {self.wording}", allow_none=True)


def integer_at_least(low: int, wording: str | None = None) -> Rule:
    """An integer (not a bool) of at least ``low``."""
    return Rule(lambda v: _is_int(v) and int(v) >= low, wording or f"an integer >= {low}")


def number_in(
    low: float, high: float, *, low_open: bool = False, high_open: bool = False, wording: str
) -> Rule:
    """A real number (not a bool) in the interval, finite."""

    def accepts(v: Any) -> bool:
        if not _is_real(v) or not math.isfinite(float(v)):
            return False
        x = float(v)
        return (x > low if low_open else x >= low) and (x < high if high_open else x <= high)

    return Rule(accepts, wording)


def one_of(*options: Any) -> Rule:
    """One of ``options``."""
    return Rule(lambda v: isinstance(v, str | type(None)) and v in options, f"one of {options}")


def fraction_or_count() -> Rule:
    """A fraction in [0, 1) or a whole number >= 1."""
    return Rule(
        lambda v: (_is_real(v) and 0 <= float(v) < 1) or (_is_int(v) and int(v) >= 1),
        "a fraction in [0, 1) or a whole number of points >= 1 (an int: 1.0 is neither)",
    )


def check_params(obj: Any, rules: dict[str, Rule]) -> None:
    """Check every parameter of ``obj`` named in ``rules``."""
    for name, rule in rules.items():
        rule.check(name, getattr(obj, name))


def check_memory_budget(memory_budget: Any) -> int:
    """A positive whole number of bytes."""
    integer_at_least(1, "a positive number of bytes").check("memory_budget", memory_budget)
    return int(memory_budget)


def check_weights(
    sample_weight: Any,
    n_samples: int,
    *,
    dtype: torch.dtype,
    device: torch.device,
    allow_negative: bool = False,
) -> Tensor | None:
    """Check sample weights: 1-D, ``n_samples`` long, finite, non-negative (unless ``allow_negative``:
    DBSCAN's, which take from their neighbors' counts), not all zero."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, Tensor):
        w = sample_weight.detach().to(device=device, dtype=torch.float64)
    else:
        try:
            w = torch.as_tensor(np.asarray(sample_weight, dtype=np.float64), device=device)
        except (TypeError, ValueError):
            raise TypeError("sample_weight must hold real numbers") from None
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError("sample_weight contains NaN or infinity")
    if not allow_negative and bool((w < 0).any()):
        raise ValueError("sample_weight must be non-negative")
    if not bool((w != 0).any()):
        raise ValueError("sample_weight is zero everywhere: there is nothing to cluster")
    return w.to(dtype)


def check_bandwidth(bandwidth: Any, name: str = "bandwidth") -> float:
    """A positive, finite real number, as a float."""
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (Real, Integral)):
        raise TypeError(f"{name} must be a real number, got {type(bandwidth).__name__}")
    value = float(bandwidth)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be > 0 and finite, got {bandwidth!r}")
    return value
