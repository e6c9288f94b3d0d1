"""Reading a large CSV: shiftkit's `load_data` against numpy's loadtxt, measured in the same run.

    python benchmarks/bench_io.py [--rows 2000000] [--repeats 3]

Writes a CSV of random normal numbers with a header (2,000,000 x 2 is 79 MB)
in a temporary folder, then reads it with each reader in a fresh process and
prints the median seconds and the peak RSS above the process's RSS before the
read (imports excluded).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table

READ = """
import sys, time
import numpy as np
from shiftkit.io import load_data

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

path, which = sys.argv[1], sys.argv[2]
if which == "shiftkit":
    read = lambda p: load_data(p)[0]
else:
    read = lambda p: np.loadtxt(p, delimiter=",", skiprows=1)
open("/proc/self/clear_refs", "w").write("5")
base = peak()
t = time.perf_counter()
X = read(path)
print(time.perf_counter() - t, peak() - base, X.shape[0])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        X = np.random.default_rng(0).normal(size=(args.rows, 2))
        np.savetxt(path, X, delimiter=",", header="x,y", comments="", fmt="%.17g")
        rows = []
        results = {}
        for which in ("shiftkit", "numpy.loadtxt"):
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, "-c", READ, str(path), which], capture_output=True, text=True, check=True
                ).stdout.split()
                assert int(out[2]) == args.rows
                runs.append((float(out[0]), int(out[1])))
            results[which] = statistics.median(r[0] for r in runs)
            rows.append([which, f"{results[which]:.2f} s", f"{max(r[1] for r in runs) / 2**20:.0f} MB"])
        for row in rows:
            row.append(f"{results['numpy.loadtxt'] / results[row[0]]:.1f}x")
        size = path.stat().st_size / 1e6
    print(f"\n{args.rows:,} x 2 rows ({size:.0f} MB), medians of {args.repeats} reads in fresh processes\n")
    print(markdown_table(["reader", "median", "peak RSS above the start", "vs loadtxt"], rows))


if __name__ == "__main__":
    main()
