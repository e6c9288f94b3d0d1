import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from shiftkit.cli import app
from shiftkit.teaching import matmul as mm
from shiftkit.teaching.ladder import run_ladder

RUNGS_NUMPY = [mm.matmul_loops, mm.matmul_numba_dot, mm.launch_matmul_kernel]
RUNGS_TORCH = [mm.matmul_loops, mm.matmul_elementwise, mm.matmul_broadcast, mm.matmul_einsum, mm.matmul_torch]


def _pair(m, k, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, k)), rng.standard_normal((k, n))


@pytest.mark.parametrize("shape", [(5, 784, 10), (3, 17, 7), (1, 1, 1)])
@pytest.mark.parametrize("rung", RUNGS_NUMPY, ids=lambda f: f.__name__)
def test_numpy_rungs_equal_reference(rung, shape):
    a, b = _pair(*shape)
    np.testing.assert_allclose(rung(a, b), a @ b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape", [(5, 784, 10), (3, 17, 7)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("rung", RUNGS_TORCH, ids=lambda f: f.__name__)
def test_torch_rungs_equal_reference(rung, shape, dtype):
    a, b = _pair(*shape)
    got = rung(torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype))
    assert isinstance(got, torch.Tensor) and got.dtype == dtype
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    np.testing.assert_allclose(got.double().numpy(), a @ b, rtol=tol, atol=tol * 30)


@pytest.mark.slow
def test_large_lesson_shape_for_fast_rungs():
    a, b = _pair(50_000, 784, 10)
    ref = a @ b
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    for rung in (mm.matmul_einsum, mm.matmul_torch):
        np.testing.assert_allclose(rung(ta, tb).numpy(), ref, rtol=1e-10, atol=1e-9)


ALL_RUNGS = [*RUNGS_NUMPY, *RUNGS_TORCH, mm.matmul_numba_cuda, mm.matmul_torch_cuda]


@pytest.mark.parametrize("rung", ALL_RUNGS, ids=lambda f: f.__name__)
def test_mismatched_shapes_name_both(rung):
    a, b = _pair(3, 4, 2)
    with pytest.raises(ValueError, match=r"cannot multiply a of shape \(3, 4\) by b of shape \(3, 2\)"):
        rung(a if rung in RUNGS_NUMPY or rung is mm.matmul_numba_cuda else torch.from_numpy(a), b[:3])


def test_kernel_model_fills_every_cell_once_and_ignores_cells_outside():
    calls = []
    mm.launch_kernel(lambda cell, out: calls.append(cell), 3, 4, None)
    assert sorted(calls) == [(i, j) for i in range(3) for j in range(4)]
    a, b = _pair(5, 6, 7)
    c = np.full((5, 7), -1.0)
    mm.launch_kernel(mm.matmul_kernel, 8, 8, a, b, c)  # a grid larger than c, as on a GPU
    np.testing.assert_allclose(c, a @ b)


def test_cuda_grid_covers_the_matrix():
    assert mm.cuda_grid(50_000, 10) == (3125, 1)
    assert mm.cuda_grid(17, 33) == (2, 3)
    assert mm.cuda_grid(16, 16) == (1, 1)


SIMULATOR = """
import numpy as np
from shiftkit.teaching.matmul import matmul_numba_cuda
rng = np.random.default_rng(1)
for m, k, n in ((5, 784, 10), (17, 33, 19), (1, 3, 1), (33, 5, 16)):  # not multiples of the 16 x 16 block
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    np.testing.assert_allclose(matmul_numba_cuda(a, b), a @ b, rtol=1e-12, atol=1e-12)
print("ok")
"""


@pytest.mark.slow
def test_numba_cuda_rung_on_the_simulator():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", SIMULATOR], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "ok"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_rungs_say_why_they_cannot_run():
    a, b = _pair(2, 3, 2)
    with pytest.raises(RuntimeError, match="no CUDA device"):
        mm.matmul_torch_cuda(torch.from_numpy(a), torch.from_numpy(b))
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        with pytest.raises(RuntimeError, match="no CUDA device"):
            mm.matmul_numba_cuda(a, b)


def test_dist_einsum_is_the_lessons_distance():
    X = torch.randn(1500, 2, dtype=torch.float64)
    x = X[0]
    torch.testing.assert_close(mm.dist_einsum(x, X), torch.sqrt(((x - X) ** 2).sum(1)))
    torch.testing.assert_close(mm.dist_einsum(X[:5], X[5:10]), (X[:5] - X[5:10]).norm(dim=1))
    with pytest.raises(ValueError, match="dist_einsum needs"):
        mm.dist_einsum(torch.zeros(3), X)


@pytest.mark.slow
def test_ladder_checks_and_times_every_rung():
    report = run_ladder(large=False, repeats=1)
    names = [r.rung for r in report.rows]
    assert names[:3] == ["loops (numpy)", "loops (torch tensors)", "numba dot"]
    assert "numba CUDA" in names and "torch CUDA" in names
    for r in report.rows:
        if r.checked is None:
            assert r.note == "no CUDA device"
            continue
        assert r.checked, r
        assert r.max_error is not None and r.max_error < 1e-3
        if r.seconds is not None:
            assert r.gflops == pytest.approx(r.flops / r.seconds / 1e9)
    loops = report.rows[0]
    assert loops.speedup_loops == pytest.approx(1.0)
    # (how much faster BLAS is than three Python loops is for benchmarks/bench_matmul.py to say: a
    # timed assertion here failed on a loaded machine)
    torch_row = next(r for r in report.rows if r.rung == "torch a @ b")
    assert torch_row.speedup_loops is not None and torch_row.speedup_loops > 0
    assert report.peak_gflops > 1


@pytest.mark.slow
def test_ladder_on_digits():
    report = run_ladder(data="digits", large=False, repeats=1)
    assert "digits" in report.data and report.rows[0].shape == (5, 64, 10)
    with pytest.raises(ValueError, match="data must be"):
        run_ladder(data="mnist")


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "ladder.json"
    result = CliRunner().invoke(app, ["matmul", "--quick", "--repeats", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "matmul ladder" in result.output and "numba dot" in result.output
    data = json.loads(out.read_text())
    assert data["peak_gflops"] > 0 and len(data["rows"]) >= 9
    bad = CliRunner().invoke(app, ["matmul", "--data", "mnist"])
    assert bad.exit_code == 1 and "data must be" in bad.output
