"""DBSCAN: shiftkit against scikit-learn, time and peak memory, measured in the same run.

    python benchmarks/bench_dbscan.py [--quick]

The issue's data: 2-D, 20 Gaussian blobs (scikit-learn's make_blobs, std 1)
plus 10% uniform noise over their box; min_samples 10. Cases: 100,000 points at
eps 0.3 and 1.0, 1,000,000 at eps 0.3 (scikit-learn alone takes about a minute
and 7.5 GB there), and shiftkit alone at eps 3.0 (memory stays flat as eps
grows). Each run is a fresh process; memory is its peak RSS above the RSS
before the fit (data loaded, imports done). The results are compared: the same
core points and the same clusters of core points (border points may differ:
see the README).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table

RUN = r"""
import sys, time
import numpy as np
which, data, out, eps = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

X = np.load(data)
if which == "shiftkit":
    from shiftkit import DBSCAN
    DBSCAN(eps=eps, min_samples=10).fit(X[:2000])  # compile the numba loops outside the timing
else:
    from sklearn.cluster import DBSCAN
open("/proc/self/clear_refs", "w").write("5")
base = peak()
t = time.perf_counter()
est = DBSCAN(eps=eps, min_samples=10).fit(X)
dt = time.perf_counter() - t
np.save(out, est.labels_)
core = np.zeros(len(X), dtype=bool)
core[est.core_sample_indices_] = True
np.save(out.replace(".npy", "_core.npy"), core)
print(dt, peak() - base)
"""


def data(n: int) -> np.ndarray:
    from sklearn.datasets import make_blobs

    n_noise = n // 10
    X, _ = make_blobs(n - n_noise, centers=20, n_features=2, random_state=0)
    noise = np.random.default_rng(0).uniform(X.min(0), X.max(0), (n_noise, 2))
    return np.vstack([X, noise])


def run(which: str, path: str, out: str, eps: float) -> tuple[float, int]:
    proc = subprocess.run(
        [sys.executable, "-c", RUN, which, path, out, str(eps)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    dt, mem = proc.stdout.split()
    return float(dt), int(mem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 points only")
    args = parser.parse_args()
    print(machine())
    cases = [(100_000, 0.3, True), (100_000, 1.0, True), (100_000, 3.0, False)]
    if not args.quick:
        cases.append((1_000_000, 0.3, True))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, eps, with_sklearn in cases:
            path = str(Path(tmp) / f"X{n}.npy")
            if not Path(path).exists():
                np.save(path, data(n))
            ours, theirs = str(Path(tmp) / "ours.npy"), str(Path(tmp) / "theirs.npy")
            t_ours, m_ours = run("shiftkit", path, ours, eps)
            labels = np.load(ours)
            clusters = int(labels.max()) + 1
            if not with_sklearn:
                rows.append(
                    [f"{n:,}", eps, f"{t_ours:.2f}", f"{m_ours / 2**20:.0f}", "-", "-", "-", clusters, "-"]
                )
                continue
            t_sk, m_sk = run("scikit-learn", path, theirs, eps)
            ref, core, ref_core = np.load(theirs), np.load(ours.replace(".npy", "_core.npy")), None
            ref_core = np.load(theirs.replace(".npy", "_core.npy"))
            same = bool((core == ref_core).all() and (labels[core] == ref[core]).all())
            same_all = float((labels == ref).mean())
            rows.append(
                [
                    f"{n:,}",
                    eps,
                    f"{t_ours:.2f}",
                    f"{m_ours / 2**20:.0f}",
                    f"{t_sk:.2f}",
                    f"{m_sk / 2**20:.0f}",
                    f"{t_sk / t_ours:.1f}x",
                    clusters,
                    f"{'yes' if same else 'NO'} ({same_all:.6f} of all labels equal)",
                ]
            )
    print("\nDBSCAN, 2-D, 20 blobs + 10% uniform noise, min_samples 10 (fresh process per fit)\n")
    header = [
        "points",
        "eps",
        "shiftkit s",
        "shiftkit MB",
        "scikit-learn s",
        "scikit-learn MB",
        "speed-up",
        "clusters",
        "same core points and core clusters",
    ]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
