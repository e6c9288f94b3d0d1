"""How soon Ctrl-C stops a default fit of many features: `shiftkit cluster` on 200,000 x 16.

    python benchmarks/bench_interrupt.py [--n 200000]

Ten Gaussian clusters in 16 features (the default seeks the modes in a graph layout: a neighbor
graph, the layout's compiled loop, the rows not laid out, mode seeking). The command is started in a
fresh process, and SIGINT is sent once its SIGTERM handler is in (the imports done) plus a delay
that lands in each stage in turn; the table gives the stage reached and the seconds from the signal
to the process's exit (status 130, ``interrupted``).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table


def _handler_in(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    per = args.n // 10
    X = np.concatenate([rng.normal(c, 1.0, (per, 16)) for c in rng.normal(0, 6, (10, 16))])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.npy"
        np.save(data, X)
        for delay in (0.5, 1.0, 2.0, 3.0, 4.0, 5.0):
            cmd = [sys.executable, "-m", "shiftkit", "cluster", str(data), "--out", f"{tmp}/out", "--no-plot"]
            env = {**os.environ, "COLUMNS": "200"}
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )  # fmt: skip
            while not _handler_in(proc.pid):
                time.sleep(0.02)
            time.sleep(delay)
            if proc.poll() is not None:
                rows.append([f"{delay} s", "finished first", "-", proc.returncode])
                continue
            sent = time.perf_counter()
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=300)
            rows.append([f"{delay} s", "under way", f"{time.perf_counter() - sent:.2f} s", proc.returncode])
    print(f"## Ctrl-C during `shiftkit cluster` on {args.n:,} x 16\n")
    print(markdown_table(["signal after the imports", "fit", "seconds to exit", "status"], rows))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main()
