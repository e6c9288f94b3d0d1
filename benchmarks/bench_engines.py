"""Throughput of every engine of the shift step, in G point pairs per second.

    python benchmarks/bench_engines.py [--quick] [--repeats 3]

For each kernel, n data points and dimension d, one shift step of min(n, 2,048)
queries over the n points is timed (median of repeats); G pairs/s =
queries x n / time, so for the sub-quadratic engines (grid, knn) it is the
rate of the equivalent quadratic work. Every engine that runs on this device
is measured, with its ratio to the dense engine measured in the same run. The
data are normal with standard deviation 10 and the bandwidth 2.5 sqrt(d / 2):
a query sees a few percent of the data. The dense engine at large n * d runs
on fewer queries (256).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, median_time
from shiftkit._shift import ENGINES, _fused, _knn, select_engine, shift_tensors
from shiftkit.kernels import KERNELS


def engines_for(kernel, Y, X) -> list[str]:
    """The registered engines that support the step; not timed: the CUDA kernel off a GPU (numba's
    simulator), the knn engine for the Gaussian (truncated to 64 points: another computation) or
    without faiss (scikit-learn's search is not the fast path)."""
    names = [e.name for e in ENGINES.values() if e.supports(Y, X, kernel)]
    if Y.device.type != "cuda":
        names = [n for n in names if n != "numba_cuda"]
    if not kernel.compact or _knn.backend() != "faiss":
        names = [n for n in names if n != "knn"]
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 1,500 and 12,000, d = 2 and 16 only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    sizes = (1_500, 12_000) if args.quick else (1_500, 12_000, 50_000)
    dims = (2, 16) if args.quick else (2, 3, 8, 16, 128)
    print(f"machine: {machine()}; device {args.device}, float32\n")
    header = ["kernel", "n", "d", "auto picks"]
    rows = []
    all_engines = ["dense", "attention", "fused", "numba_cuda", "grid", "knn"]  # the README's column order
    assert set(all_engines) == set(ENGINES), "a new engine needs a column"
    for kernel_name in ("gaussian", "flat", "triangular", "epanechnikov"):
        kernel = KERNELS[kernel_name]
        for n in sizes:
            for d in dims:
                gen = torch.Generator().manual_seed(n + d)
                X = (torch.randn(n, d, generator=gen) * 10).to(args.device)
                h = 2.5 * (d / 2) ** 0.5
                cells = {}
                for engine in engines_for(kernel, X, X):
                    m = min(n, 2048 if engine != "dense" or n * d < 2_000_000 else 256)
                    Y = X[:m]
                    t, _ = median_time(
                        lambda e=engine, Y=Y, X=X, h=h, k=kernel: shift_tensors(Y, X, h, k, engine=e),
                        args.repeats,
                    )
                    cells[engine] = m * n / t / 1e9
                dense = cells["dense"]
                row = [kernel_name, f"{n:,}", d, select_engine(X, X, h, kernel)]
                for engine in all_engines:
                    if engine in cells:
                        ratio = "" if engine == "dense" else f" ({cells[engine] / dense:.0f}x)"
                        row.append(f"{cells[engine]:.2f}{ratio}")
                    else:
                        row.append("-")
                rows.append(row)
                print(" | ".join(str(c) for c in row), flush=True)
    print()
    print(
        f"G pairs/s per engine (ratio to dense in the same run); fused library built: {_fused.available()}\n"
    )
    print(markdown_table(header + all_engines, rows))
    print()
    accuracy(args.device)


def accuracy(device: str) -> None:
    """Largest float32 error of one step against the float64 dense engine, in bandwidths."""
    from shiftkit.datasets import make_lesson_blobs

    X64 = torch.from_numpy(make_lesson_blobs()[0]).double().to(device)
    X64 = X64 - X64.mean(0)  # the estimator centers the data before any step
    rows = []
    for h in (2.5, 0.25):
        for kernel_name in ("gaussian", "epanechnikov"):
            kernel = KERNELS[kernel_name]
            ref, _ = shift_tensors(X64, X64, h, kernel, engine="dense")
            X32 = X64.float()
            row = [f"lesson blobs, h={h}", kernel_name]
            for engine in ["dense", "attention", "fused", "numba_cuda", "grid", "knn"]:
                if engine in engines_for(kernel, X32, X32):
                    got, _ = shift_tensors(X32, X32, h, kernel, engine=engine)
                    row.append(f"{float((got.double() - ref).abs().max()) / h:.1e}")
                else:
                    row.append("-")
            rows.append(row)
    print("float32 accuracy: max |step - float64 dense step| / bandwidth, one step\n")
    print(
        markdown_table(["data", "kernel", "dense", "attention", "fused", "numba_cuda", "grid", "knn"], rows)
    )


if __name__ == "__main__":
    main()
