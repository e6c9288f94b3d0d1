"""Kernel profiles of mean shift.

A kernel here is a pure function of the *squared* distance and the bandwidth
that returns a weight in ``[0, 1]`` with ``K(0) = 1``.  Working on squared
distances saves a square root for every kernel but the triangular one, and the
weights need no normalising constant: mean shift divides it away, and with
``K(0) = 1`` the density that `shift` reports reads as a (weighted) count of
nearby points.

What the bandwidth ``h`` means depends on the kernel:

- ``gaussian``: the standard deviation, ``K = exp(-d^2 / (2 h^2))``; unbounded
  support.
- ``flat``: the support radius, ``K = 1`` for ``d <= h`` and 0 beyond.
- ``triangular``: the support radius, ``K = max(0, 1 - d / h)``.
- ``epanechnikov``: the support radius, ``K = max(0, 1 - d^2 / h^2)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "KERNELS",
    "Kernel",
    "epanechnikov",
    "flat",
    "gaussian",
    "get_kernel",
    "is_builtin",
    "triangular",
]


def gaussian(sq_dist: Tensor, bandwidth: float) -> Tensor:
    """Gaussian weights ``exp(-d^2 / (2 h^2))``; ``bandwidth`` is the standard deviation."""
    return torch.exp(sq_dist * (-0.5 / bandwidth**2))


def flat(sq_dist: Tensor, bandwidth: float) -> Tensor:
    """Flat (uniform) weights: 1 within ``bandwidth`` (inclusive), 0 beyond."""
    return (sq_dist <= bandwidth**2).to(sq_dist.dtype)


def triangular(sq_dist: Tensor, bandwidth: float) -> Tensor:
    """Triangular weights ``max(0, 1 - d / h)``; ``bandwidth`` is the support radius."""
    return (1.0 - sq_dist.sqrt() / bandwidth).clamp_min_(0.0)


def epanechnikov(sq_dist: Tensor, bandwidth: float) -> Tensor:
    """Epanechnikov weights ``max(0, 1 - d^2 / h^2)``; ``bandwidth`` is the support radius."""
    return (1.0 - sq_dist / bandwidth**2).clamp_min_(0.0)


@dataclass(frozen=True)
class Kernel:
    """A named kernel profile.

    Attributes
    ----------
    name : str
        The name used by ``kernel=`` arguments.
    profile : callable
        ``profile(sq_dist, bandwidth) -> weights``, elementwise.
    compact : bool
        True when the weight is exactly zero beyond ``bandwidth``.
    exponential : bool
        True when the profile is ``exp(-c d^2)``, so that ``K(a + b) = K(a) K(b)``:
        a common offset of the squared distances factors out of the weights
        (the engines use it to keep tiny bandwidths from underflowing), and a
        step is a softmax (the attention engine).
    """

    name: str
    profile: Callable[[Tensor, float], Tensor]
    compact: bool
    exponential: bool = False

    def __call__(self, sq_dist: Tensor, bandwidth: float) -> Tensor:
        return self.profile(sq_dist, bandwidth)

    def support_radius(self, bandwidth: float) -> float:
        """Distance beyond which the weight is zero (``inf`` for the Gaussian)."""
        return float(bandwidth) if self.compact else float("inf")


KERNELS: dict[str, Kernel] = {
    "gaussian": Kernel("gaussian", gaussian, compact=False, exponential=True),
    "flat": Kernel("flat", flat, compact=True),
    "triangular": Kernel("triangular", triangular, compact=True),
    "epanechnikov": Kernel("epanechnikov", epanechnikov, compact=True),
}


def is_builtin(kernel: Kernel, name: str) -> bool:
    """Whether ``kernel`` is shiftkit's own kernel ``name`` (engines specialised for it check this)."""
    return KERNELS.get(name) == kernel


def get_kernel(kernel: str | Kernel) -> Kernel:
    """Return the `Kernel` named ``kernel`` (a `Kernel` passes through).

    Raises
    ------
    ValueError
        If the name is not one of ``KERNELS``.
    TypeError
        If ``kernel`` is neither a string nor a `Kernel`.
    """
    if isinstance(kernel, Kernel):
        return kernel
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a string or a Kernel, got {type(kernel).__name__}")
    try:
        return KERNELS[kernel]
    except KeyError:
        raise ValueError(f"unknown kernel {kernel!r}; choose one of {sorted(KERNELS)}") from None
