"""The matmul ladder as a markdown table (the same run as ``shiftkit matmul``).

python benchmarks/bench_matmul.py [--data random|digits] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import markdown_table
from shiftkit.teaching.ladder import run_ladder


def _ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2g}x" if x < 10 else f"{x:,.0f}x"


def _seconds(t: float | None) -> str:
    if t is None:
        return "-"
    return f"{t * 1e3:.3g} ms" if t >= 1e-3 else f"{t * 1e6:.3g} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="random", choices=["random", "digits"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    report = run_ladder(data=args.data, repeats=args.repeats)
    print(f"machine: {report.machine}; data: {report.data}; peak {report.peak_gflops:.0f} GFLOP/s\n")
    rows = []
    for r in report.rows:
        m, k, n = r.shape
        rows.append(
            [
                r.rung,
                f"{m:,} x {k} @ {k} x {n}",
                _seconds(r.seconds),
                _ratio(r.speedup_previous),
                _ratio(r.speedup_loops),
                "-" if r.gflops is None else f"{r.gflops:.3g}",
                "-" if r.peak_share is None else f"{100 * r.peak_share:.2g}%",
                {True: "ok", False: "FAILED", None: "skipped"}[r.checked] + (f": {r.note}" if r.note else ""),
            ]
        )
    print(
        markdown_table(
            ["rung", "a @ b", "median", "x previous", "x loops", "GFLOP/s", "of peak", "check vs float64"],
            rows,
        )
    )
    print(
        "\n'x previous': against the rung above on the same shape; 'x loops': time per multiply-add "
        "against the numpy loops, which run on the small shape only."
    )


if __name__ == "__main__":
    main()
