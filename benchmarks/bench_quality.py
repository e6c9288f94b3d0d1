"""Clustering quality with no parameters, on the development battery of public benchmark sets.

    python benchmarks/bench_quality.py [BATTERY] [--skip-sklearn-meanshift] [--large]

BATTERY defaults to ../shared/data/clustering-dev (beside the project); its
README says how the sets are scored, and this script does that: every set
rescaled once, ``X = (X - mean) / mean(std)``, fitted with defaults, the
adjusted Rand index between the reference labels (labels0, noise points left
out) and the predicted labels of the same points. Per set: ARI, clusters found
against the reference, seconds; then the median and mean over the sets of at
most 10,000 points (all of them, and without g2mg/, the 44 sets of the issue
that asked for this), for shiftkit's `QuickShift()` and `MeanShift()` and
scikit-learn's `MeanShift()` and `HDBSCAN()`, all measured in this run.
``--large`` adds the sets of 100,000 points (sipu/birch1, birch2, worms_2)
for shiftkit and HDBSCAN (scikit-learn's MeanShift() is not run there: its
default bandwidth makes every seed see a third of the data, hours per set).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.cluster import HDBSCAN
from sklearn.cluster import MeanShift as SkMeanShift
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, markdown_table
from shiftkit import MeanShift, QuickShift

DEFAULT_BATTERY = Path(__file__).resolve().parents[2] / "shared" / "data" / "clustering-dev"
SMALL = 10_000

METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "shiftkit QuickShift()": lambda X: QuickShift().fit(X).labels_,
    "shiftkit MeanShift()": lambda X: MeanShift().fit(X).labels_,
    "scikit-learn HDBSCAN()": lambda X: HDBSCAN(copy=True).fit(X).labels_,
    "scikit-learn MeanShift()": lambda X: SkMeanShift(n_jobs=-1).fit(X).labels_,
}


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A set of the battery, rescaled as its README says: X, labels0."""
    X = np.loadtxt(path, ndmin=2)
    with gzip.open(str(path).replace(".data.gz", ".labels0.gz")) as f:
        y = np.loadtxt(f, dtype=int)
    return (X - X.mean(0)) / X.std(0).mean(), y


def score(y: np.ndarray, labels: np.ndarray) -> float:
    known = y > 0  # 0 marks noise points, which carry no reference label
    return float(adjusted_rand_score(y[known], labels[known]))


def evaluate(sets: list[tuple[str, np.ndarray, np.ndarray]], methods: list[str]) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {m: [] for m in methods}
    for name, X, y in sets:
        line = [f"{name} ({len(X):,} x {X.shape[1]}, {len(np.unique(y[y > 0]))} clusters)"]
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                labels = METHODS[method](X)
                seconds = time.perf_counter() - start
            found = len(np.unique(labels))
            results[method].append(dict(name=name, ari=score(y, labels), found=found, seconds=seconds))
            line.append(f"{method}: {results[method][-1]['ari']:.3f} ({found}) {seconds:.2f}s")
        print(" | ".join(line), flush=True)
    return results


def summary_rows(
    results: dict[str, list[dict]], sets: list[tuple[str, np.ndarray, np.ndarray]]
) -> list[list[str]]:
    reference = {name: len(np.unique(y[y > 0])) for name, _, y in sets}
    rows = []
    for method, runs in results.items():
        ari = [r["ari"] for r in runs]
        no_g2mg = [r["ari"] for r in runs if not r["name"].startswith("g2mg/")]
        single = sum(1 for r in runs if r["found"] == 1 and reference[r["name"]] > 1)
        rows.append(
            [
                method,
                f"**{statistics.median(ari):.3f}** / {statistics.fmean(ari):.3f}",
                f"**{statistics.median(no_g2mg):.3f}** / {statistics.fmean(no_g2mg):.3f}",
                str(single),
                f"{sum(r['seconds'] for r in runs):.1f} s",
            ]
        )
    return rows


def per_set_rows(
    results: dict[str, list[dict]], sets: list[tuple[str, np.ndarray, np.ndarray]]
) -> list[list[str]]:
    rows = []
    for i, (name, X, y) in enumerate(sets):
        row = [name, f"{len(X):,} x {X.shape[1]}", str(len(np.unique(y[y > 0])))]
        for runs in results.values():
            r = runs[i]
            row.append(f"{r['ari']:.2f} ({r['found']})")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("battery", nargs="?", type=Path, default=DEFAULT_BATTERY)
    parser.add_argument("--skip-sklearn-meanshift", action="store_true", help="the slowest peer (~5 min)")
    parser.add_argument("--large", action="store_true", help="also the sets of 100,000 points")
    args = parser.parse_args()
    if not args.battery.is_dir():
        sys.exit(f"no battery at {args.battery}: pass its path")
    files = sorted(args.battery.glob("*/*.data.gz"))
    data = [(str(f.relative_to(args.battery))[: -len(".data.gz")], *load(f)) for f in files]
    small = [s for s in data if len(s[1]) <= SMALL]
    large = [s for s in data if len(s[1]) > SMALL]
    methods = [m for m in METHODS if not (args.skip_sklearn_meanshift and m == "scikit-learn MeanShift()")]
    print(f"machine: {machine()}\nbattery: {args.battery} ({len(small)} sets of at most {SMALL:,} points)\n")
    results = evaluate(small, methods)
    header = ["set", "n x d", "clusters", *(m.replace("scikit-learn", "sklearn") for m in methods)]
    print("\nARI with defaults (clusters found), every set of at most 10,000 points\n")
    print(markdown_table(header, per_set_rows(results, small)))
    print("\nmedian / mean ARI; sets answered with one cluster where the reference has several\n")
    print(
        markdown_table(
            [
                "method (defaults)",
                f"all {len(small)} sets",
                f"the {sum(not s[0].startswith('g2mg/') for s in small)} without g2mg/",
                "one cluster for several",
                "time, all sets",
            ],
            summary_rows(results, small),
        )
    )
    if args.large:
        big_methods = [m for m in methods if m != "scikit-learn MeanShift()"]
        print()
        large_results = evaluate(large, big_methods)
        rows = [
            [name, f"{len(X):,} x {X.shape[1]}", str(len(np.unique(y[y > 0])))]
            + [
                f"{runs[i]['ari']:.3f} ({runs[i]['found']}), {runs[i]['seconds']:.1f} s"
                for runs in large_results.values()
            ]
            for i, (name, X, y) in enumerate(large)
        ]
        print("\nthe large sets: ARI (clusters found), seconds\n")
        print(markdown_table(["set", "n x d", "clusters", *big_methods], rows))


if __name__ == "__main__":
    main()
