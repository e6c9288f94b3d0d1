"""Neighbor search: shiftkit's LSHIndex against exact torch, faiss flat, faiss HNSW and faiss LSH, one run.

    python benchmarks/bench_neighbors.py [--n 100000] [--large] [--outliers]

``--outliers`` (only): the grid index (`shiftkit.neighbors.GridIndex`, the one of 1 to 3 features) on
5,000 normal points with and without 50 rows 1,000 times their spread away: the seconds of the k = 10
graph of all the rows, and their ratio, against scikit-learn's ``NearestNeighbors`` (a k-d tree).

128 features, 1,000 queries (held out, drawn like the data), k = 10. Two kinds
of data: full-dimensional Gaussian blobs (100 blobs, where distances
concentrate) and low-rank data (blobs in 8 dimensions mapped linearly into 128,
plus 1% noise: embeddings look like this). Ground truth and the baseline:
exact brute force in torch (``addmm`` + ``topk``). faiss runs in its own
process (without torch's OpenMP runtime beside its own); shiftkit and torch in
this one. Query time is for all 1,000 queries, after the index is built
(build time in its own column); recall@10 is the share of the true ten
nearest found.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table

FAISS = r"""
import sys, time, json
import numpy as np
import faiss
X, Q = np.load(sys.argv[1]), np.load(sys.argv[2])
k, out = 10, sys.argv[3]
d = X.shape[1]
results = {}
def run(name, index, setup=None):
    t = time.perf_counter(); index.train(X) if not index.is_trained else None; index.add(X)
    build = time.perf_counter() - t
    if setup: setup(index)
    t = time.perf_counter(); _, I = index.search(Q, k); query = time.perf_counter() - t
    np.save(out + name + ".npy", I)
    results[name] = (build, query)
run("faiss flat", faiss.IndexFlatL2(d))
def ef(index): index.hnsw.efSearch = 64
run("faiss HNSW (M 32, efSearch 64)", faiss.IndexHNSWFlat(d, 32), ef)
lsh = faiss.IndexRefineFlat(faiss.IndexLSH(d, 256))
lsh.k_factor = 10
run("faiss LSH (256 bits, re-rank 100)", lsh)
print(json.dumps(results))
"""


def make(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "full-dimensional blobs":
        centers = rng.normal(scale=2.0, size=(100, 128))
        return (centers[rng.integers(0, 100, n)] + rng.normal(size=(n, 128))).astype(np.float32)
    centers = rng.normal(scale=4.0, size=(100, 8))
    Z = centers[rng.integers(0, 100, n)] + rng.normal(size=(n, 8))
    M = rng.normal(size=(8, 128)) / np.sqrt(8)
    return (Z @ M + 0.01 * rng.normal(size=(n, 128))).astype(np.float32)


def exact(X: torch.Tensor, Q: torch.Tensor, k: int) -> torch.Tensor:
    x2 = X.square().sum(1)
    return torch.cat(
        [
            torch.addmm(x2[None], Q[s : s + 100], X.T, alpha=-2).topk(k, largest=False).indices
            for s in range(0, len(Q), 100)
        ]
    )


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found.tolist(), truth.tolist(), strict=True)])
    )


def outliers() -> None:
    """The --outliers table."""
    from sklearn.neighbors import NearestNeighbors

    from shiftkit.neighbors import GridIndex

    rows = []
    rng = np.random.default_rng(0)
    GridIndex().fit(torch.from_numpy(rng.normal(size=(100, 1)))).kneighbors(None, 10)  # numba compiled
    for d in (1, 2, 3):
        bulk = rng.normal(size=(5000, d))
        times = []
        for X in (bulk, np.vstack([bulk, rng.uniform(-1000, 1000, size=(50, d))])):
            start = time.perf_counter()
            GridIndex().fit(torch.from_numpy(X)).kneighbors(None, 10)
            grid = time.perf_counter() - start
            start = time.perf_counter()
            NearestNeighbors(n_neighbors=10).fit(X).kneighbors()
            times += [grid, time.perf_counter() - start]
        rows.append(
            [
                f"{d}",
                *(f"{t:.3f}" for t in times),
                f"{times[2] / times[0]:.1f}x",
                f"{times[3] / times[2]:.1f}x",
            ]
        )
    header = [
        "features",
        "grid",
        "scikit-learn",
        "grid, 50 outliers",
        "scikit-learn, 50 outliers",
        "grid: outliers / none",
        "scikit-learn / grid, outliers",
    ]
    print(markdown_table(header, rows))


def main() -> None:
    from shiftkit.neighbors import LSHIndex

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--large", action="store_true", help="also 1,000,000 points")
    parser.add_argument("--only-large", action="store_true", help="1,000,000 points only")
    parser.add_argument("--kind", choices=["full", "low-rank", "both"], default="both")
    parser.add_argument("--outliers", action="store_true", help="only the grid index with far outliers")
    args = parser.parse_args()
    print(machine())
    if args.outliers:
        outliers()
        return
    sizes = [1_000_000] if args.only_large else [args.n] + ([1_000_000] if args.large else [])
    names = {"full": ["full-dimensional blobs"], "low-rank": ["low-rank (8 of 128)"]}
    kinds = names["full"] + names["low-rank"] if args.kind == "both" else names[args.kind]
    k = 10
    for n in sizes:
        for kind in kinds:
            rng = np.random.default_rng(0)
            data = make(kind, n + 1000, rng)
            Xn, Qn = data[:n], data[n:]
            X, Q = torch.from_numpy(Xn), torch.from_numpy(Qn)
            t = time.perf_counter()
            truth = exact(X, Q, k).numpy()
            t_exact = time.perf_counter() - t
            rows = [["exact torch (addmm + topk)", "-", f"{t_exact:.3f}", "1.0x", "1.000"]]
            for label, params in (
                ("shiftkit LSHIndex (defaults)", {}),
                (
                    "shiftkit LSHIndex (8 tables, 4 probes, buckets of 32)",
                    {"n_tables": 8, "n_probes": 4, "bucket_size": 32},
                ),
            ):
                t = time.perf_counter()
                index = LSHIndex(**params).fit(X)
                build = time.perf_counter() - t
                t = time.perf_counter()
                _, found = index.kneighbors(Q, k)
                query = time.perf_counter() - t
                rows.append(
                    [
                        label,
                        f"{build:.2f}",
                        f"{query:.3f}",
                        f"{t_exact / query:.1f}x",
                        f"{recall(found.numpy(), truth):.3f}",
                    ]
                )
            with tempfile.TemporaryDirectory() as tmp:
                np.save(f"{tmp}/X.npy", Xn)
                np.save(f"{tmp}/Q.npy", Qn)
                proc = subprocess.run(
                    [sys.executable, "-c", FAISS, f"{tmp}/X.npy", f"{tmp}/Q.npy", f"{tmp}/"],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                import json

                for name, (build, query) in json.loads(proc.stdout.strip().splitlines()[-1]).items():
                    found = np.load(f"{tmp}/{name}.npy")
                    rows.append(
                        [
                            name,
                            f"{build:.2f}",
                            f"{query:.3f}",
                            f"{t_exact / query:.1f}x",
                            f"{recall(found, truth):.3f}",
                        ]
                    )
            print(f"\n{n:,} x 128, {kind}: 1,000 queries, k = {k}\n")
            print(markdown_table(["index", "build s", "query s", "vs exact torch", "recall@10"], rows))


if __name__ == "__main__":
    main()
