"""Kernel profiles of mean shift, and every fact about them in one place.

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

A `Kernel` carries its profile, whether it is compact, whether it is
exponential (the underflow guard and the attention engine rely on that), its
support radius, the radius that gives it the spread of a unit Gaussian (the
bandwidth rules give a Gaussian's standard deviation), and, for shiftkit's own
kernels, the number of its formula in the compiled engines. `register_kernel`
adds a kernel of the user's after checking its profile; it then works
everywhere a built-in one does, through the engines that evaluate any profile.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "KERNELS",
    "Kernel",
    "epanechnikov",
    "flat",
    "gaussian",
    "get_kernel",
    "register_kernel",
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


def _integral(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoid rule."""
    return float(((y[1:] + y[:-1]) * np.diff(x)).sum() / 2)


def _radial(profile: Callable[[Tensor, float], Tensor], compact: bool) -> tuple[np.ndarray, np.ndarray]:
    """A grid of radii (in bandwidths, over the support or 12 bandwidths) and the weights there."""
    u = np.linspace(0.0, 1.0 if compact else 12.0, 20_001)[1:]
    return u, profile(torch.from_numpy(u * u), 1.0).numpy()


def _numeric_equivalent_radius(profile: Callable[[Tensor, float], Tensor], compact: bool, d: int) -> float:
    """``sqrt(d / m2)``, ``m2`` the second moment of the weights in d dimensions at bandwidth 1."""
    u, k = _radial(profile, compact)
    mass = k * u ** (d - 1)
    return math.sqrt(d * _integral(mass, u) / _integral(mass * u * u, u))


# The Gaussian-equivalent radius of each built-in kernel, in closed form (module functions, so that
# kernels pickle).
def _gaussian_radius(d: int) -> float:
    return 1.0


def _flat_radius(d: int) -> float:
    return (d + 2) ** 0.5


def _triangular_radius(d: int) -> float:
    return ((d + 2) * (d + 3) / (d + 1)) ** 0.5


def _epanechnikov_radius(d: int) -> float:
    return (d + 4) ** 0.5


@dataclass(frozen=True)
class Kernel:
    """A named kernel profile and its facts.

    Attributes
    ----------
    name : str
        The name used by ``kernel=`` arguments.
    profile : callable
        ``profile(sq_dist, bandwidth) -> weights``, elementwise, with ``K(0) = 1``.
    compact : bool
        True when the weight is exactly zero beyond ``bandwidth``.
    exponential : bool
        True when the profile is ``exp(-c d^2)``, so that ``K(a + b) = K(a) K(b)``:
        a common offset of the squared distances factors out of the weights
        (the engines use it to keep tiny bandwidths from underflowing), and a
        step is a softmax (the attention engine).
    code : int or None
        The number of the formula in the compiled engines (C++ and numba CUDA);
        only shiftkit's own kernels have one, other kernels run on the engines
        that evaluate the profile itself.
    equivalent_radius : callable or None
        ``equivalent_radius(n_features)``: the bandwidth that gives this kernel
        the spread of a unit Gaussian in that dimension (matching the second
        moment of the weights). None: computed numerically from the profile.
    """

    name: str
    profile: Callable[[Tensor, float], Tensor]
    compact: bool
    exponential: bool = False
    code: int | None = None
    equivalent_radius: Callable[[int], float] | None = field(default=None, compare=False)

    def __call__(self, sq_dist: Tensor, bandwidth: float) -> Tensor:
        return self.profile(sq_dist, bandwidth)

    def support_radius(self, bandwidth: float) -> float:
        """Distance beyond which the weight is zero (``inf`` for the Gaussian)."""
        return float(bandwidth) if self.compact else float("inf")

    def gaussian_equivalent_radius(self, n_features: int) -> float:
        """The bandwidth of the same spread as a unit Gaussian in ``n_features`` dimensions.

        The bandwidth rules give a Gaussian's standard deviation; a compact
        kernel's bandwidth is its support radius. Flat ``sqrt(d + 2)``,
        Epanechnikov ``sqrt(d + 4)``, triangular ``sqrt((d + 2)(d + 3) / (d + 1))``
        (2, 2.45 and 2.58 in 2-D); 1 for the Gaussian.
        """
        if self.equivalent_radius is not None:
            return float(self.equivalent_radius(n_features))
        return _numeric_equivalent_radius(self.profile, self.compact, n_features)

    def square_ratio(self, n_features: int) -> float:
        """``int K^2 / int K`` over ``n_features`` dimensions (bandwidth-free): the variance of a kernel
        sum (a density that reads as a count) per unit of it, where the points fall at random
        (Poisson) and the density varies little over the kernel. Gaussian ``2^(-d/2)``, flat 1."""
        if self.name == "gaussian" and self.exponential:
            return 2.0 ** (-n_features / 2)
        u, k = _radial(self.profile, self.compact)
        shell = u ** (n_features - 1)
        return float(_integral(k * k * shell, u) / _integral(k * shell, u))


KERNELS: dict[str, Kernel] = {
    "gaussian": Kernel(
        "gaussian", gaussian, False, exponential=True, code=0, equivalent_radius=_gaussian_radius
    ),
    "flat": Kernel("flat", flat, True, code=1, equivalent_radius=_flat_radius),
    "triangular": Kernel("triangular", triangular, True, code=2, equivalent_radius=_triangular_radius),
    "epanechnikov": Kernel(
        "epanechnikov", epanechnikov, True, code=3, equivalent_radius=_epanechnikov_radius
    ),
}


def register_kernel(kernel: Kernel) -> Kernel:
    """Add ``kernel`` to `KERNELS`, so that ``kernel=name`` works everywhere; returns it.

    Its profile is checked on a range of distances: weight 1 at distance 0,
    between 0 and 1, never increasing with distance, and (if ``compact``) zero
    beyond the bandwidth.

    Raises
    ------
    ValueError
        The name is taken, the kernel claims a compiled formula (``code``), or
        the profile breaks one of the rules above.
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"register_kernel takes a Kernel, got {type(kernel).__name__}")
    if kernel.name in KERNELS:
        raise ValueError(f"a kernel named {kernel.name!r} is already registered")
    if kernel.code is not None:
        raise ValueError("only shiftkit's own kernels have a compiled formula (code); leave it None")
    r = torch.linspace(0.0, 3.0, 301, dtype=torch.float64)
    try:
        weights = kernel.profile(r * r, 1.0)
    except Exception as exc:
        raise ValueError(
            f"the profile of {kernel.name!r} fails on a tensor of squared distances: {exc}"
        ) from None
    if not isinstance(weights, Tensor) or weights.shape != r.shape:
        raise ValueError(f"the profile of {kernel.name!r} must return a tensor of the input's shape")
    if not bool(torch.isfinite(weights).all()) or abs(float(weights[0]) - 1.0) > 1e-12:
        raise ValueError(f"the profile of {kernel.name!r} must give a finite weight, 1 at distance 0")
    if bool((weights < 0).any()) or bool((weights > 1).any()) or bool((weights.diff() > 1e-12).any()):
        raise ValueError(f"the profile of {kernel.name!r} must fall from 1 towards 0 with distance")
    if kernel.compact and bool((weights[r > 1.0] != 0).any()):
        raise ValueError(f"{kernel.name!r} claims compact support but weighs points beyond the bandwidth")
    KERNELS[kernel.name] = kernel
    return kernel


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
