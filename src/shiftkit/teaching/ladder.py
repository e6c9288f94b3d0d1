"""Run the matmul ladder: check every rung against ``a @ b`` and time it on this machine.

`run_ladder` returns one `RungResult` per rung and shape. The slow rungs run on
the lesson's small shape only (5 x 784 @ 784 x 10); the fast ones on the
large shape too (50,000 x 784 @ 784 x 10). Nothing is extrapolated: a
speed-up between two shapes is a ratio of time per multiply-add, and the
table says so. The machine's matmul peak is measured in the same run with a
large float32 product, so each rung's GFLOP/s can be read as a share of it.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from shiftkit.teaching import matmul as mm

__all__ = ["LadderReport", "RungResult", "describe_machine", "measure_peak_gflops", "run_ladder"]

SMALL = (5, 784, 10)
LARGE = (50_000, 784, 10)


@dataclass
class RungResult:
    """One rung on one shape."""

    rung: str
    shape: tuple[int, int, int]  # (rows of a, inner, columns of b)
    checked: bool | None  # None: could not run here (see note)
    max_error: float | None = None
    seconds: float | None = None  # median
    repeats: int = 0
    note: str = ""
    speedup_previous: float | None = None  # against the previous timed rung on the same shape
    speedup_loops: float | None = None  # against the numpy loops (time per multiply-add across shapes)
    gflops: float | None = None
    peak_share: float | None = None

    @property
    def flops(self) -> int:
        m, k, n = self.shape
        return 2 * m * k * n


@dataclass
class LadderReport:
    """All rungs, the measured peak, and where it ran."""

    rows: list[RungResult]
    peak_gflops: float
    data: str
    machine: str = field(default_factory=lambda: describe_machine())

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "data": self.data,
            "peak_gflops": self.peak_gflops,
            "rows": [{**asdict(r), "flops": r.flops} for r in self.rows],
        }


def describe_machine() -> str:
    """One line naming the machine that figures come from: CPU, cores, GPU, torch and its threads."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}; torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )


def _median_seconds(fn: Callable[[], Any], repeats: int, budget: float) -> tuple[float, int]:
    """Median of up to ``repeats`` timed calls, stopping once ``budget`` seconds are spent (one at least)."""
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < budget):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def measure_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matmul rate in GFLOP/s, from a ``size``-cubed product."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    a @ b
    seconds, _ = _median_seconds(lambda: a @ b, repeats, budget=5.0)
    return 2 * size**3 / seconds / 1e9


def _cuda_simulator_check(shape: tuple[int, int, int]) -> tuple[bool, float | None, str]:
    """Run the numba CUDA rung on numba's simulator in a subprocess (the flag must precede numba's import)."""
    m, k, n = shape
    code = (
        "import numpy as np\n"
        "from shiftkit.teaching.matmul import matmul_numba_cuda\n"
        "rng = np.random.default_rng(0)\n"
        f"a = rng.standard_normal(({m}, {k})).astype(np.float32)\n"
        f"b = rng.standard_normal(({k}, {n})).astype(np.float32)\n"
        "c = matmul_numba_cuda(a, b)\n"
        "ref = a.astype(np.float64) @ b.astype(np.float64)\n"
        "np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-3)\n"
        "print(float(np.abs(c - ref).max()))\n"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        return False, None, "CUDA simulator: check FAILED"
    return True, float(proc.stdout.strip().splitlines()[-1]), "CUDA simulator: checked, not timed"


def _inputs(data: str, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The large ``a`` and ``b`` (float32): seeded random of the lesson's shape, or the digits."""
    rng = np.random.default_rng(seed)
    if data == "random":
        a = rng.standard_normal(LARGE[:2]).astype(np.float32)
        b = rng.standard_normal(LARGE[1:]).astype(np.float32)
        return a, b, "seeded random, the lesson's MNIST shapes"
    if data == "digits":
        from sklearn.datasets import load_digits

        a = (load_digits().data / 16.0).astype(np.float32)  # (1797, 64)
        b = rng.standard_normal((a.shape[1], 10)).astype(np.float32)
        return a, b, "scikit-learn's digits (1,797 x 64) @ random 64 x 10"
    raise ValueError(f"data must be 'random' or 'digits', got {data!r}")


def run_ladder(
    *,
    data: str = "random",
    large: bool = True,
    repeats: int = 5,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> LadderReport:
    """Check and time every rung.

    Parameters
    ----------
    data : {'random', 'digits'}, default='random'
        ``'random'``: seeded normal float32 matrices of the lesson's shapes
        (MNIST cannot be downloaded here); ``'digits'``: scikit-learn's
        embedded digits (1,797 x 64) times a random 64 x 10 matrix.
    large : bool, default=True
        Also time the fast rungs on the large shape.
    repeats : int, default=5
        Most timed calls per rung and shape (fewer for rungs slower than 1 s in all).
    seed : int, default=0
    progress : callable, optional
        Called with the name of each rung before it runs.

    Returns
    -------
    LadderReport
    """
    a_large, b, data_label = _inputs(data, seed)
    a_small = a_large[: SMALL[0]]
    shapes = {"small": (a_small, b)}
    if large:
        shapes["large"] = (a_large, b)
    cuda = torch.cuda.is_available()
    from numba import cuda as numba_cuda

    numba_gpu = numba_cuda.is_available()
    # (name, function, takes torch tensors, runs on the large shape)
    rungs: list[tuple[str, Callable[[Any, Any], Any], bool, bool]] = [
        ("loops (numpy)", mm.matmul_loops, False, False),
        ("loops (torch tensors)", mm.matmul_loops, True, False),
        ("numba dot", mm.matmul_numba_dot, False, False),
        ("elementwise", mm.matmul_elementwise, True, False),
        ("broadcast", mm.matmul_broadcast, True, True),
        ("einsum", mm.matmul_einsum, True, True),
        ("torch a @ b", mm.matmul_torch, True, True),
        ("kernel model (Python)", mm.launch_matmul_kernel, False, False),
        ("numba CUDA", mm.matmul_numba_cuda, False, True),
        ("torch CUDA", mm.matmul_torch_cuda, True, True),
    ]
    rows: list[RungResult] = []
    for name, fn, takes_torch, runs_large in rungs:
        if progress is not None:
            progress(name)
        for label, (a, bb) in shapes.items():
            if label == "large" and not runs_large:
                continue
            shape = (a.shape[0], a.shape[1], bb.shape[1])
            if name == "numba CUDA" and not numba_gpu:
                if label == "small":
                    ok, err, note = _cuda_simulator_check(shape)
                    rows.append(RungResult(name, shape, ok, err, note=note))
                continue
            if name == "torch CUDA" and not cuda:
                if label == "small":
                    rows.append(RungResult(name, shape, None, note="no CUDA device"))
                continue
            x, y = (torch.from_numpy(a), torch.from_numpy(bb)) if takes_torch else (a, bb)
            result = fn(x, y)  # the first call also compiles (numba) or warms up
            got = result.cpu().numpy() if isinstance(result, torch.Tensor) else np.asarray(result)
            ref = a.astype(np.float64) @ bb.astype(np.float64)
            err = float(np.abs(got - ref).max())
            ok = bool(np.allclose(got, ref, rtol=1e-4, atol=1e-3))
            seconds, n = _median_seconds(partial(fn, x, y), repeats, budget=1.0)
            rows.append(RungResult(name, shape, ok, err, seconds, n))
    peak = measure_peak_gflops()
    _fill_ratios(rows, peak)
    return LadderReport(rows, peak, data_label)


def _fill_ratios(rows: list[RungResult], peak: float) -> None:
    loops = next((r for r in rows if r.rung == "loops (numpy)" and r.seconds), None)
    previous: dict[tuple[int, int, int], RungResult] = {}
    for r in rows:
        if r.seconds is None:
            continue
        r.gflops = r.flops / r.seconds / 1e9
        r.peak_share = r.gflops / peak
        if r.shape in previous:
            r.speedup_previous = previous[r.shape].seconds / r.seconds  # type: ignore[operator]
        if loops is not None and loops.seconds is not None:
            r.speedup_loops = (loops.seconds / loops.flops) / (r.seconds / r.flops)
        previous[r.shape] = r
