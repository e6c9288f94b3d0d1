"""Clustering a million points, and where each engine stops scaling.

    python benchmarks/bench_scale.py [--repeats 3] [--skip-sklearn]

1. A million 2-D points, 20 Gaussian blobs (scikit-learn's
   ``make_blobs(n, centers=20, cluster_std=1.0, center_box=(-60, 60), random_state=3)``):
   scikit-learn's bin-seeded flat MeanShift(bandwidth=2.0, n_jobs=-1) against
   shiftkit's algorithm='binned' and exact standard mean shift with bin seeding
   (same kernel and bandwidth), and shiftkit's defaults, MeanShift() and
   QuickShift(), each fit in a fresh process that reports its wall time and
   peak resident memory (ru_maxrss, the whole process: Python, torch and the
   data). The ARI of the true centers (each point to the nearest) is the
   ceiling: the blobs overlap.
2. The defaults at 10,000, 100,000 and 1,000,000 points of the same family.
3. The k-nearest-neighbor graph of the million points: shiftkit's grid index
   against scikit-learn's KDTree (n_jobs=2).
4. algorithm='binned' against exact standard mean shift on smaller data:
   agreement (ARI between the two labelings) and time.
5. One shift step (every point a query) per engine as n grows, in 2-D and
   16-D, flat kernel with a bandwidth that keeps ~30 neighbors per point: the
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

import numpy as np
import torch
from sklearn.datasets import make_blobs as sk_make_blobs
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, median_time
from shiftkit import MeanShift
from shiftkit._shift import shift_tensors
from shiftkit.datasets import make_lesson_blobs
from shiftkit.kernels import KERNELS

BLOBS = (
    "make_blobs({n}, centers=20, cluster_std=1.0, center_box=(-60, 60), random_state=3, return_centers=True)"
)

CHILD = """
import json, resource, time, warnings
warnings.simplefilter("ignore")
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
X, y, C = {data}
{make}
start = time.perf_counter()
labels, n_clusters = fit(X)
seconds = time.perf_counter() - start
print(json.dumps(dict(seconds=seconds, ari=adjusted_rand_score(y, labels), n_clusters=n_clusters,
                      peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def _estimator(expression: str, module: str = "shiftkit") -> str:
    name = expression.split("(")[0]
    return (
        f"from {module} import {name}\n"
        "def fit(X):\n"
        f"    m = {expression}.fit(X)\n"
        "    return m.labels_, len(m.cluster_centers_)"
    )


SKLEARN = "scikit-learn MeanShift(bandwidth=2.0, bin_seeding=True, n_jobs=-1)"
FITTERS = {
    SKLEARN: _estimator("MeanShift(bandwidth=2.0, bin_seeding=True, n_jobs=-1)", "sklearn.cluster"),
    "shiftkit MeanShift(kernel='flat', bandwidth=2.0, algorithm='binned')": _estimator(
        "MeanShift(kernel='flat', bandwidth=2.0, algorithm='binned')"
    ),
    "the same, assign_labels='nearest' (scikit-learn's labels)": _estimator(
        "MeanShift(kernel='flat', bandwidth=2.0, algorithm='binned', assign_labels='nearest')"
    ),
    "shiftkit MeanShift(kernel='flat', bandwidth=2.0, algorithm='standard', bin_seeding=True)": _estimator(
        "MeanShift(kernel='flat', bandwidth=2.0, algorithm='standard', bin_seeding=True)"
    ),
    "shiftkit MeanShift() (defaults)": _estimator("MeanShift()"),
    "shiftkit QuickShift() (defaults)": _estimator("QuickShift()"),
    "the true centers (each point to the nearest)": (
        "def fit(X):\n    return ((X[:, None] - C[None]) ** 2).sum(-1).argmin(1), len(C)"
    ),
}


def run_child(make: str, n: int = 1_000_000) -> dict:
    code = CHILD.format(data=BLOBS.format(n=n), make=make)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _row(name: str, runs: list[dict], baseline: float | None) -> list[str]:
    seconds = statistics.median(r["seconds"] for r in runs)
    last = runs[-1]
    ratio = "-" if baseline is None else f"**{baseline / seconds:,.0f}x**"
    return [
        name,
        f"{seconds:.2f} s ({len(runs)} run{'s' if len(runs) > 1 else ''})",
        ratio,
        f"{last['ari']:.4f}",
        str(last["n_clusters"]),
        f"{max(r['peak_mb'] for r in runs):.0f} MB",
    ]


def million(repeats: int, skip_sklearn: bool) -> None:
    rows, baseline = [], None
    for name, make in FITTERS.items():
        if skip_sklearn and name == SKLEARN:
            continue
        once = name == SKLEARN or name.startswith("the true")
        runs = [run_child(make) for _ in range(1 if once else repeats)]
        if name == SKLEARN:
            baseline = statistics.median(r["seconds"] for r in runs)
            row = _row(name, runs, None)
            rows.append([*row[:2], "1x", *row[3:]])
        else:
            rows.append(_row(name, runs, None if name.startswith("the true") else baseline))
        print(" | ".join(rows[-1]), flush=True)
    print("\n1,000,000 points, 20 blobs in 2-D; each fit in a fresh process (median over runs)\n")
    print(markdown_table(["", "time", "speed-up", "ARI", "clusters", "peak RSS"], rows))


def defaults_by_size(repeats: int) -> None:
    rows = []
    for n in (10_000, 100_000, 1_000_000):
        for name in ("MeanShift()", "QuickShift()"):
            runs = [run_child(_estimator(name), n) for _ in range(repeats if n < 1_000_000 else 1)]
            truth = run_child(FITTERS["the true centers (each point to the nearest)"], n)
            r = _row(name, runs, None)
            rows.append([f"{n:,}", name, r[1], r[3], r[4], r[5], f"{truth['ari']:.4f}"])
            print(" | ".join(rows[-1]), flush=True)
    print("\nthe defaults on 20 blobs (the family above) as n grows\n")
    print(
        markdown_table(
            ["n", "shiftkit", "time", "ARI", "clusters", "peak RSS", "ARI of the true centers"], rows
        )
    )


def knn_graph_million() -> None:
    from sklearn.neighbors import NearestNeighbors

    from shiftkit.neighbors import GridIndex

    X, _ = sk_make_blobs(1_000_000, centers=20, cluster_std=1.0, center_box=(-60, 60), random_state=3)
    X32 = torch.from_numpy(X.astype(np.float32))
    GridIndex(n_neighbors=21).fit(X32[:1000]).kneighbors(None, 20)  # compile the kernel first
    start = time.perf_counter()
    index = GridIndex(n_neighbors=21).fit(X32)
    fitted = time.perf_counter()
    dist, _ = index.kneighbors(None, 20)
    ours = (fitted - start, time.perf_counter() - fitted)
    start = time.perf_counter()
    tree = NearestNeighbors(n_neighbors=21, algorithm="kd_tree", n_jobs=2).fit(X)
    fitted = time.perf_counter()
    ref, _ = tree.kneighbors(X)
    theirs = (fitted - start, time.perf_counter() - fitted)
    error = float(np.abs(dist.numpy() - ref[:, 1:]).max())
    rows = [
        ["shiftkit GridIndex", f"{ours[0]:.2f} s", f"{ours[1]:.2f} s", f"**{sum(theirs) / sum(ours):.1f}x**"],
        ["scikit-learn KDTree (n_jobs=2)", f"{theirs[0]:.2f} s", f"{theirs[1]:.2f} s", "1x"],
    ]
    print(f"\n20 nearest neighbors of each of 1,000,000 points (largest distance difference {error:.1e})\n")
    print(markdown_table(["index", "build", "search", "speed-up"], rows))


def binned_vs_exact(repeats: int) -> None:
    cases = [
        ("lesson blobs, 1,500", make_lesson_blobs(), 2.5),
        ("lesson blobs x8, 12,000", make_lesson_blobs(n_samples=2000), 2.5),
        ("20 blobs, 100,000", make_lesson_blobs(n_clusters=20, n_samples=5000, low=-100, high=100), 2.5),
    ]
    rows = []
    for name, (X, y, _), h in cases:
        for kernel in ("gaussian", "flat"):
            t_exact, exact = median_time(
                lambda X=X, h=h, k=kernel: MeanShift(bandwidth=h, kernel=k, algorithm="standard").fit(X),
                repeats,
            )
            t_binned, binned = median_time(
                lambda X=X, h=h, k=kernel: MeanShift(bandwidth=h, kernel=k, algorithm="binned").fit(X),
                repeats,
            )
            rows.append(
                [
                    name,
                    kernel,
                    f"{adjusted_rand_score(exact.labels_, binned.labels_):.3f}",
                    f"{len(exact.cluster_centers_)} / {len(binned.cluster_centers_)}",
                    " / ".join(f"{adjusted_rand_score(y, m.labels_):.3f}" for m in (exact, binned)),
                    f"{t_exact * 1e3:.1f} / {t_binned * 1e3:.1f} ms",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    print("\nalgorithm='binned' against exact 'standard', same bandwidth\n")
    print(
        markdown_table(
            [
                "data",
                "kernel",
                "ARI binned vs exact",
                "clusters exact / binned",
                "ARI vs truth exact / binned",
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
            # ~30 neighbors per point: the 30th-neighbor distance in a 10,000-point subset,
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
    print("\none step, every point a query, normal data, flat kernel, ~30 neighbors per point\n")
    print(markdown_table(["n", "d", "bandwidth", "dense", "fused", "grid", "knn"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}\n")
    million(args.repeats, args.skip_sklearn)
    print()
    defaults_by_size(args.repeats)
    print()
    knn_graph_million()
    print()
    binned_vs_exact(args.repeats)
    print()
    engine_scaling()


if __name__ == "__main__":
    main()
