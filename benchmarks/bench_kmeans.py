"""k-means: shiftkit's KMeans against faiss-cpu, scikit-learn and plain torch, measured in the same run.

    python benchmarks/bench_kmeans.py [--n 1000000] [--d 32] [--k 256] [--iters 20] [--repeats 3]

The issue's shape: 1,000,000 x 32 float32 (256 Gaussian blobs), k = 256,
exactly ``--iters`` Lloyd iterations from the same initial centers (rows drawn
at random), ``tol=0``. Every contender runs in a fresh process (each library
gets its own OpenMP runtime, as a user's script would); faiss gets
``max_points_per_centroid`` raised so that it trains on all the points. Time
per iteration is the whole fit over ``--iters`` (setup and the last assignment
included), median of ``--repeats`` processes. Inertia: of the final centers,
every point assigned to its nearest (float64, explicit differences), computed
here for every contender alike.

shiftkit runs three times: with its defaults (Hamerly's bounds), the same with
``OMP_WAIT_POLICY=PASSIVE`` (threads sleep between parallel regions instead of
spinning: they do not steal the core from the other work of a loaded machine),
and with ``algorithm='lloyd'`` (every distance every iteration).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table, median_time

RUN = r"""
import sys, time
import numpy as np
which, data, init, out, iters = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
X = np.load(data)
C0 = np.load(init)
k = C0.shape[0]
if which.startswith("shiftkit"):
    from shiftkit import KMeans
    algorithm = "lloyd" if which == "shiftkit-lloyd" else "auto"
    t = time.perf_counter()
    km = KMeans(k, init=C0, max_iter=iters, tol=0, algorithm=algorithm).fit(X)
    dt = time.perf_counter() - t
    C, n_iter = km.cluster_centers_, km.n_iter_
elif which == "scikit-learn":
    from sklearn.cluster import KMeans
    t = time.perf_counter()
    km = KMeans(k, init=C0, n_init=1, max_iter=iters, tol=0).fit(X)
    dt = time.perf_counter() - t
    C, n_iter = km.cluster_centers_, km.n_iter_
elif which == "faiss-cpu":
    import faiss
    km = faiss.Kmeans(X.shape[1], k, niter=iters, max_points_per_centroid=10**9, seed=0)
    t = time.perf_counter()
    km.train(X, init_centroids=C0)
    dt = time.perf_counter() - t
    C, n_iter = km.centroids, iters
else:  # plain torch: distances by addmm, argmin, index_add_
    import torch
    Xt, C = torch.from_numpy(X), torch.from_numpy(C0).clone()
    t = time.perf_counter()
    for _ in range(iters):
        labels = torch.cat([
            torch.addmm((C * C).sum(1), Xt[s:s + 65536], C.T, alpha=-2).argmin(1)
            for s in range(0, len(Xt), 65536)
        ])
        counts = torch.bincount(labels, minlength=k).clamp_min(1)[:, None]
        C = torch.zeros_like(C).index_add_(0, labels, Xt) / counts
    dt = time.perf_counter() - t
    C, n_iter = C.numpy(), iters
np.save(out, np.asarray(C, dtype=np.float64))
print(dt, n_iter)
"""


def final_inertia(X: np.ndarray, C: np.ndarray) -> float:
    """Every point to its nearest center, squared distances from explicit differences in float64."""
    Xt, Ct = torch.from_numpy(X).double(), torch.from_numpy(C).double()
    total = 0.0
    for s in range(0, len(Xt), 4096):
        total += float(torch.cdist(Xt[s : s + 4096], Ct).amin(1).square().sum())
    return total


def sparse_table() -> None:
    """``--sparse``: a TF-IDF-like CSR matrix (20,000 x 20,000, 0.2% filled), k = 20, k-means++ and Lloyd
    to convergence, shiftkit and scikit-learn in this process, median of 3."""
    import scipy.sparse as sp
    from sklearn.cluster import KMeans as SkKMeans

    from shiftkit import KMeans

    rng = np.random.default_rng(0)
    X = sp.random(20_000, 20_000, density=0.002, random_state=1, format="csr")
    X.data = rng.uniform(0, 1, X.nnz)
    rows = []
    for name, make in (
        ("shiftkit", lambda: KMeans(20, random_state=0, n_init=1)),
        ("scikit-learn", lambda: SkKMeans(20, random_state=0, n_init=1)),
    ):
        seconds, est = median_time(lambda make=make: make().fit(X), repeats=3)
        rows.append([name, f"{seconds:.2f} s", est.n_iter_, f"{est.inertia_:.6g}"])
    print(machine())
    print(
        markdown_table(["sparse rows (20,000 x 20,000, 0.2%), k = 20", "fit", "iterations", "inertia"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=256)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], help="contenders to leave out")
    parser.add_argument("--sparse", action="store_true", help="the sparse-rows table only")
    args = parser.parse_args()
    if args.sparse:
        sparse_table()
        return
    print(machine())
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(args.k, args.d))
    X = (centers[rng.integers(0, args.k, args.n)] + rng.normal(size=(args.n, args.d))).astype(np.float32)
    C0 = X[rng.choice(args.n, args.k, replace=False)]
    contenders = [
        ("shiftkit", "shiftkit", {}),
        ("shiftkit (OMP_WAIT_POLICY=PASSIVE)", "shiftkit", {"OMP_WAIT_POLICY": "PASSIVE"}),
        ("shiftkit, algorithm='lloyd' (no bounds)", "shiftkit-lloyd", {}),
        ("faiss-cpu", "faiss-cpu", {}),
        ("scikit-learn", "scikit-learn", {}),
        ("plain torch", "torch", {}),
    ]
    contenders = [c for c in contenders if c[1] not in args.skip]
    results: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data, init, out = (str(Path(tmp) / f) for f in ("X.npy", "C0.npy", "C.npy"))
        np.save(data, X)
        np.save(init, C0)
        times: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
        inertias: dict[str, float] = {}
        for _ in range(args.repeats):  # interleaved, so that load drifts hit every contender alike
            for name, which, env in contenders:
                proc = subprocess.run(
                    [sys.executable, "-c", RUN, which, data, init, out, str(args.iters)],
                    capture_output=True,
                    text=True,
                    env={**os.environ, **env},
                    check=True,
                )
                dt, n_iter = proc.stdout.split()
                if int(n_iter) != args.iters:
                    raise SystemExit(f"{name} ran {n_iter} iterations, not {args.iters}")
                times[name].append(float(dt) / args.iters)
                inertias[name] = final_inertia(X, np.load(out))
        for name, _, _ in contenders:
            results[name] = (statistics.median(times[name]), inertias[name])
    ref = results.get("shiftkit")
    rows = []
    for name, (t, inertia) in results.items():
        ratio = f"{t / ref[0]:.2f}x" if ref is not None else "-"
        rows.append([name, f"{t:.3f}", ratio, f"{inertia:.5g}"])
    print(
        f"\nk-means, {args.n:,} x {args.d} float32, k = {args.k}, {args.iters} Lloyd iterations from the "
        f"same initial centers (median of {args.repeats} runs)\n"
    )
    print(markdown_table(["contender", "s / iteration", "time vs shiftkit", "final inertia"], rows))


if __name__ == "__main__":
    main()
