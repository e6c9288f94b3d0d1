"""The loops of mean shift: they own the buffers and the convergence tests.

The middle of the three layers: `shiftkit._shift` takes one step with no
checks; the two loops here repeat it until the points converge, and both
return `Modes` (where the moving points ended, their densities, the steps
taken): `blur` moves the data themselves, `climb` moves seeds over fixed data
(the standard algorithm, and the binned one over a summary of the data).
`MeanShift` validates input, chooses the start and stores what they found.
Coordinates here are centered on the data's mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from shiftkit._shift import shift_tensors, steps_over
from shiftkit._shift._engine import Engine
from shiftkit.kernels import Kernel
from shiftkit.neighbors.cells import bin_means

OnStep = Callable[[int, Tensor, float, int], None]  # (iteration, positions, largest move, n still moving)


@dataclass(frozen=True)
class MeanShiftStep:
    """What a `MeanShift` ``callback`` receives after every step.

    Attributes
    ----------
    iteration : int
        1 after the first step.
    positions : ndarray of shape (n_moving_points, n_features)
        Where the moving points are now, in the input's coordinates: the data
        itself (blurring) or the seeds (standard).
    largest_move : float
        The longest step any point took in this iteration.
    n_moving : int
        Points that have not converged yet (their step exceeded ``tol * bandwidth``).
    bandwidth : float
    """

    iteration: int
    positions: np.ndarray
    largest_move: float
    n_moving: int
    bandwidth: float


class Stepper(Protocol):
    """Where the steps run: `shift_tensors` (blurring) and `steps_over` (standard) by default; another
    stepper runs the same steps elsewhere (`shiftkit.distributed`: blocks of rows as Dask tasks)."""

    def shift(
        self, Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: str,
        memory_budget: int,
    ) -> tuple[Tensor, Tensor]: ...  # fmt: skip

    def steps_over(
        self, X: Tensor, bandwidth: float, kernel: Kernel, weights: Tensor | None, *, engine: str | Engine,
        memory_budget: int,
    ) -> Callable[[Tensor], tuple[Tensor, Tensor]]: ...  # fmt: skip

    def records(self) -> dict[str, Any]:
        """What the stepper measured, stored with the fit as attributes (e.g. ``traffic_``)."""
        ...


@dataclass(frozen=True)
class LoopSettings:
    """What the loops need besides the data: engine, stopping rule, memory budget, step hook, and where
    the steps run (``stepper``: None, this process)."""

    engine: str | Engine  # a name, or an engine object that carries its index (`Engine.with_index`)
    max_iter: int
    stop: float  # a point has converged when its step is at most this long
    memory_budget: int
    on_step: OnStep | None = None
    extrapolate: bool = False  # standard mean shift: jump along steadily shrinking steps (`climb`)
    stepper: Stepper | None = None


@dataclass
class Modes:
    """Where the moving points ended: positions, densities, iterations used."""

    positions: Tensor  # (m, d), centered coordinates
    density: Tensor  # (m,)
    n_iter: int
    converged: bool


def blur(
    X: Tensor,
    weights: Tensor | None,
    bandwidth: float,
    kernel: Kernel,
    settings: LoopSettings,
) -> Modes:
    """Blurring mean shift: every point moves to the weighted mean of the *moved* data.

    Stops when no point moves more than ``settings.stop`` in a step, or when the
    points have collapsed into groups tighter than that (Carreira-Perpinan's
    stopping rule for Gaussian blurring mean shift, 2006): from then on a
    collapsed cluster only drifts, as one body, towards the others, and
    blurring on would merge clusters one after the other until one is left.
    """
    Y = X
    density = X.new_zeros(X.shape[0])
    n_iter, converged = 0, False
    stepper = settings.stepper
    shift = shift_tensors if stepper is None else stepper.shift
    while n_iter < settings.max_iter:
        Y_new, density = shift(
            Y,
            Y,
            bandwidth,
            kernel,
            weights,
            engine=_name(settings.engine),
            memory_budget=settings.memory_budget,
        )
        moves = (Y_new - Y).square().sum(1)  # (n,), squared
        largest_move = float(moves.max().sqrt())
        Y = Y_new
        n_iter += 1
        if settings.on_step is not None:
            n_moving = int((moves > (settings.stop) ** 2).sum())
            settings.on_step(n_iter, Y, largest_move, n_moving)
        if largest_move <= settings.stop or collapsed(Y, bandwidth, settings.stop):
            converged = True
            break
    return Modes(Y, density, n_iter, converged)


def _name(engine: str | Engine) -> str:
    return engine.name if isinstance(engine, Engine) else engine


def collapsed(Y: Tensor, bandwidth: float, tightness: float) -> bool:
    """Whether the points have collapsed into tight groups.

    Groups are the grid cells of side ``bandwidth / 2``: each must lie within
    ``tightness`` of its mean, and at least 90% of the points must share their
    cell with another (a point alone in its cell has not collapsed with
    anything; in sparse or high-dimensional data, before clusters form, most
    points are alone).
    """
    means, counts, cell = bin_means(Y, Y.new_ones(Y.shape[0]), bandwidth / 2)
    grouped = float((counts[cell] >= 2).sum())
    return grouped >= 0.9 * Y.shape[0] and float((Y - means[cell]).square().sum(1).max()) <= tightness**2


def climb(
    seeds: Tensor,
    X: Tensor,
    weights: Tensor | None,
    bandwidth: float,
    kernel: Kernel,
    settings: LoopSettings,
) -> Modes:
    """Standard mean shift: seeds climb the kernel density of the fixed data ``X``.

    A seed stops when its step is at most ``settings.stop`` (or when it has no
    data within the kernel's support); stopped seeds cost nothing afterwards.

    With ``settings.extrapolate``, every `EXTRAPOLATE_EVERY` steps a seed whose
    steps keep their direction and shrink by a steady ratio ``r`` (mean shift
    converges linearly, at ``r ~ 1 - h^2 / sigma^2`` near a mode of spread
    sigma: hundreds of steps when the bandwidth is small) jumps to the limit of
    that geometric series, ``r / (1 - r)`` steps ahead; ordinary steps follow,
    and only they decide convergence.
    """
    Y = seeds.clone()
    density = seeds.new_zeros(seeds.shape[0])
    active = torch.arange(seeds.shape[0], device=seeds.device)
    previous = torch.zeros_like(Y)  # each active seed's last step
    n_iter = 0
    stepper = settings.stepper
    step = (steps_over if stepper is None else stepper.steps_over)(
        X,
        bandwidth,
        kernel,
        weights,
        engine=settings.engine,
        memory_budget=settings.memory_budget,
    )
    while active.numel() and n_iter < settings.max_iter:
        y_i = Y[active]  # (a, d)
        y_new, dens = step(y_i)
        move = y_new - y_i  # (a, d)
        moves = move.square().sum(1)  # (a,), squared
        n_iter += 1
        if settings.extrapolate and n_iter % EXTRAPOLATE_EVERY == 0:
            y_new = y_new + _geometric_jump(move, previous[active])
        Y[active] = y_new
        density[active] = dens
        previous[active] = move
        if settings.on_step is not None:
            settings.on_step(n_iter, Y, float(moves.max().sqrt()), int((moves > (settings.stop) ** 2).sum()))
        active = active[(moves > (settings.stop) ** 2) & (dens > 0)]
    return Modes(Y, density, n_iter, active.numel() == 0)


# How often `climb` may extrapolate, and the steadiness it asks of the steps before it does.
EXTRAPOLATE_EVERY = 4
_STEADY_COSINE = 0.99
_STEADY_RATIO = (0.5, 0.995)


def _geometric_jump(move: Tensor, previous: Tensor) -> Tensor:
    """For steps shrinking by a steady ratio r in a steady direction, the rest of the series:
    ``move * r / (1 - r)``; zero elsewhere. (a, d)."""
    dot = (move * previous).sum(1)  # (a,)
    prev_sq = previous.square().sum(1)
    ratio = dot / prev_sq.clamp_min(torch.finfo(move.dtype).tiny)
    cosine = dot / (prev_sq * move.square().sum(1)).sqrt().clamp_min(torch.finfo(move.dtype).tiny)
    steady = (cosine > _STEADY_COSINE) & (ratio > _STEADY_RATIO[0]) & (ratio < _STEADY_RATIO[1])
    factor = torch.where(steady, ratio / (1 - ratio), 0.0)  # (a,)
    return move * factor[:, None]
