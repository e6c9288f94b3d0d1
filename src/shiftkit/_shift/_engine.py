"""What an engine of `shift` says about itself: the one object each engine module exports.

The registry (`shiftkit._shift.ENGINES`) is built from these objects, the
selector (`shiftkit._shift.select_engine`) reads only them, and the engine
table test is parametrised over the registry, so adding an engine is one
module and one line in the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from torch import Tensor

from shiftkit.kernels import Kernel

# run(Y, X, bandwidth, kernel, weights, memory_budget) -> (Y_new, density)
RunStep = Callable[[Tensor, Tensor, float, Kernel, "Tensor | None", int], "tuple[Tensor, Tensor]"]
# step(Y) -> (Y_new, density): steps over data that stay fixed
Step = Callable[[Tensor], "tuple[Tensor, Tensor]"]


def _never(Y: Tensor, X: Tensor, bandwidth: float, kernel: Kernel, fixed_data: bool) -> bool:
    return False


@dataclass(frozen=True)
class Engine:
    """One way to take a mean-shift step.

    Attributes
    ----------
    name : str
        The name of ``engine=`` arguments.
    run : callable
        ``run(Y, X, bandwidth, kernel, weights, memory_budget) -> (Y_new, density)``.
    supports : callable
        ``supports(Y, X, kernel) -> bool``: whether it can run this step at all
        (device, kernel, dimension, what is installed).
    exact : callable
        ``exact(kernel) -> bool``: whether its step equals the dense reference
        to float rounding for this kernel (the grid truncates the Gaussian; an
        approximate neighbor index can miss neighbors).
    pays : callable
        ``pays(Y, X, bandwidth, kernel, fixed_data) -> bool``: the engine's
        measured thresholds, whether ``engine='auto'`` should take it for this
        step (given that it supports it).
    priority : int
        ``engine='auto'`` asks the engines in increasing priority and takes the
        first that supports the step and pays.
    steps_over : callable or None
        ``steps_over(X, weights, bandwidth, kernel, memory_budget) -> step``,
        ``step(Y) -> (Y_new, density)``: for data that stay fixed over many
        steps, what can be built once (an index) is built once. None: every
        step is a plain ``run``.
    summary : str
        One line: what it is.
    takes_index : bool
        Whether ``steps_over`` builds a neighbor index that `with_index` can choose.
    index : object or None
        The unfitted neighbor index ``steps_over`` builds over fixed data (None: the engine's default);
        set by `with_index`, so that the engine carries its index wherever it goes (Dask's workers too).
    """

    name: str
    run: RunStep
    supports: Callable[[Tensor, Tensor, Kernel], bool]
    exact: Callable[[Kernel], bool]
    pays: Callable[[Tensor, Tensor, float, Kernel, bool], bool] = _never
    priority: int = 100
    steps_over: Callable[[Tensor, Tensor | None, float, Kernel, int], Step] | None = None
    summary: str = ""
    takes_index: bool = False
    index: Any = None

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
        return self.run(*args, **kwargs)

    def with_index(self, index: Any) -> Engine:
        """This engine, building ``index`` (unfitted; copied and fitted over the fixed data) instead of
        its default."""
        if not self.takes_index:
            raise ValueError(f"the {self.name} engine builds no neighbor index")
        return replace(self, index=index)

    def build_steps(
        self, X: Tensor, weights: Tensor | None, bandwidth: float, kernel: Kernel, memory_budget: int
    ) -> Step:
        """``steps_over`` with this engine's index (the default where it carries none)."""
        assert self.steps_over is not None
        if self.index is None:
            return self.steps_over(X, weights, bandwidth, kernel, memory_budget)
        return self.steps_over(X, weights, bandwidth, kernel, memory_budget, self.index)  # type: ignore[call-arg]
