"""Mean shift on a million points, and where each engine stops scaling.

    python benchmarks/bench_scale.py [--repeats 3] [--skip-sklearn]

1. A million 2-D points (20 blobs of 50,000): scikit-learn's
   MeanShift(bandwidth=2.5, bin_seeding=True, n_jobs=-1) against shiftkit's
   algorithm='grid' (binned blurring) and exact standard mean shift with bin
   seeding, each fit in a fresh process that reports its wall time and peak
   resident memory (ru_maxrss, the whole process: Python, torch and the data).
2. The binned algorithm against exact blurring mean shift on smaller data:
   agreement (ARI between the two labelings) and time.
3. One shift step (every point a query) per engine as n grows, in 2-D and
   16-D, flat kernel with a bandwidth that keeps ~30 neighbours per point: the
   quadratic engines stop where a step would take over a minute (estimated from
   the size before); that is said, not run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, median_time
from shiftkit import MeanShift
from shiftkit._shift import shift_tensors
from shiftkit.datasets import make_blobs
from shiftkit.kernels import KERNELS

MILLION = "make_blobs(n_clusters=20, n_samples=50_000, low=-100, high=100, random_state=0)"

CHILD = """
import json, resource, time, warnings
warnings.simplefilter("ignore")
from sklearn.metrics import adjusted_rand_score
from shiftkit.datasets import make_blobs
X, y, _ = {data}
{make}
start = time.perf_counter()
labels, n_clusters = fit(X)
seconds = time.perf_counter() - start
print(json.dumps(dict(seconds=seconds, ari=adjusted_rand_score(y, labels), n_clusters=n_clusters,
                      peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""

FITTERS = {
    "scikit-learn MeanShift(bandwidth=2.5, bin_seeding=True, n_jobs=-1)": (
        "from sklearn.cluster import MeanShift\n"
        "def fit(X):\n"
        "    m = MeanShift(bandwidth=2.5, bin_seeding=True, n_jobs=-1).fit(X)\n"
        "    return m.labels_, len(m.cluster_centers_)"
    ),
    "shiftkit MeanShift(bandwidth=2.5, algorithm='grid')": (
        "from shiftkit import MeanShift\n"
        "def fit(X):\n"
        "    m = MeanShift(bandwidth=2.5, algorithm='grid').fit(X)\n"
        "    return m.labels_, len(m.cluster_centers_)"
    ),
    "shiftkit MeanShift(bandwidth=2.5, algorithm='standard', bin_seeding=True)": (
        "from shiftkit import MeanShift\n"
        "def fit(X):\n"
        "    m = MeanShift(bandwidth=2.5, algorithm='standard', bin_seeding=True).fit(X)\n"
        "    return m.labels_, len(m.cluster_centers_)"
    ),
}


def run_child(make: str, data: str = MILLION) -> dict:
    code = CHILD.format(data=data, make=make)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def million(repeats: int, skip_sklearn: bool) -> None:
    rows, baseline = [], None
    for name, make in FITTERS.items():
        if skip_sklearn and name.startswith("scikit"):
            continue
        runs = [run_child(make) for _ in range(1 if name.startswith("scikit") else repeats)]
        seconds = statistics.median(r["seconds"] for r in runs)
        last = runs[-1]
        baseline = baseline or (seconds if name.startswith("scikit") else None)
        ratio = f"**{baseline / seconds:.0f}x**" if baseline and not name.startswith("scikit") else "1x"
        rows.append(
            [
                name,
                f"{seconds:.2f} s ({len(runs)} run{'s' if len(runs) > 1 else ''})",
                ratio,
                f"{last['ari']:.4f}",
                last["n_clusters"],
                f"{max(r['peak_mb'] for r in runs):.0f} MB",
            ]
        )
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print("\n1,000,000 points, 20 blobs in 2-D; each fit in a fresh process (median over runs)\n")
    print(markdown_table(["", "time", "speed-up", "ARI", "clusters", "peak RSS"], rows))


def binned_vs_exact(repeats: int) -> None:
    cases = [
        ("lesson blobs, 1,500", make_blobs(), 2.5),
        ("lesson blobs x8, 12,000", make_blobs(n_samples=2000), 2.5),
        ("20 blobs, 100,000", make_blobs(n_clusters=20, n_samples=5000, low=-100, high=100), 2.5),
    ]
    rows = []
    for name, (X, y, _), h in cases:
        for kernel in ("gaussian", "epanechnikov"):
            t_exact, exact = median_time(
                lambda X=X, h=h, k=kernel: MeanShift(bandwidth=h, kernel=k).fit(X), repeats
            )
            t_grid, grid = median_time(
                lambda X=X, h=h, k=kernel: MeanShift(bandwidth=h, kernel=k, algorithm="grid").fit(X), repeats
            )
            rows.append(
                [
                    name,
                    kernel,
                    f"{adjusted_rand_score(exact.labels_, grid.labels_):.3f}",
                    f"{len(exact.cluster_centers_)} / {len(grid.cluster_centers_)}",
                    " / ".join(f"{adjusted_rand_score(y, m.labels_):.3f}" for m in (exact, grid)),
                    f"{t_exact * 1e3:.1f} / {t_grid * 1e3:.1f} ms",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    print("\nalgorithm='grid' (binned) against exact 'blurring', same bandwidth\n")
    print(
        markdown_table(
            [
                "data",
                "kernel",
                "ARI grid vs exact",
                "clusters exact / grid",
                "ARI vs truth exact / grid",
                "time",
            ],
            rows,
        )
    )


def engine_scaling() -> None:
    kernel = KERNELS["flat"]
    rows = []
    for d, sizes in ((2, (10_000, 100_000, 1_000_000)), (16, (10_000, 100_000, 300_000))):
        rates: dict[str, float] = {}
        for n in sizes:
            gen = torch.Generator().manual_seed(n + d)
            X = torch.randn(n, d, generator=gen)
            # ~30 neighbours per point: the 30th-neighbour distance in a 10,000-point subset,
            # scaled to n by the density, (10,000 / n)^(1/d)
            sub = X[: min(n, 10_000)]
            h_sub = float(torch.cdist(sub[:1000], sub).kthvalue(31, dim=1).values.median())
            h = h_sub * (sub.shape[0] / n) ** (1 / d)
            row = [f"{n:,}", d, f"{h:.3g}"]
            for engine in ("dense", "fused", "grid", "knn"):
                if engine == "grid" and d > 6:
                    row.append("- (d > 6)")
                    continue
                pairs = n * n
                if engine in rates and pairs / rates[engine] > 60:
                    row.append(f"not run (~{pairs / rates[engine]:,.0f} s, quadratic)")
                    continue
                start = time.perf_counter()
                shift_tensors(X, X, h, kernel, engine=engine)
                seconds = time.perf_counter() - start
                if engine in ("dense", "fused"):
                    rates[engine] = pairs / seconds
                row.append(f"{seconds:.3g} s")
            rows.append(row)
            print(" | ".join(str(c) for c in row), flush=True)
    print("\none step, every point a query, normal data, flat kernel, ~30 neighbours per point\n")
    print(markdown_table(["n", "d", "bandwidth", "dense", "fused", "grid", "knn"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    million(args.repeats, args.skip_sklearn)
    print()
    binned_vs_exact(args.repeats)
    print()
    engine_scaling()


if __name__ == "__main__":
    main()
